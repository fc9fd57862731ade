/**
 * What crosses the TPM bus. An interposer on the wire between the host and the TPM (an LPC/SPI
 * sniffer, or here a recording proxy between tpm2-tss and swtpm) sees every command and response:
 * secrets must cross it encrypted under salted sessions, never in clear.
 */
import assert from 'node:assert/strict'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import {
  EsysTpm,
  makeCredential,
  objectName,
  parsePublic,
  policyPcr,
  type SwtpmDevice
} from '../../../src/attest/index.js'
import type { PcrSelection } from '../../../src/attest/pcrs.js'
import { haveSwtpm, startDevice, stopAllDevices, tempDir } from '../../helpers/devices.js'

/** Forwards a unix socket to another, recording the bytes of each direction. */
class RecordingProxy {
  readonly toTpm: Buffer[] = []
  readonly fromTpm: Buffer[] = []
  private readonly server: Server
  private readonly sockets = new Set<Socket>()

  constructor(target: string, record: boolean) {
    this.server = createServer((client) => {
      const upstream = createConnection(target)
      this.sockets.add(client).add(upstream)
      client.on('data', (chunk: Buffer) => {
        if (record) this.toTpm.push(Buffer.from(chunk))
        upstream.write(chunk)
      })
      upstream.on('data', (chunk: Buffer) => {
        if (record) this.fromTpm.push(Buffer.from(chunk))
        client.write(chunk)
      })
      const close = (): void => {
        client.destroy()
        upstream.destroy()
      }
      client.on('close', close).on('error', close)
      upstream.on('close', close).on('error', close)
    })
  }

  async listen(at: string): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(at, resolve))
  }

  /** Everything recorded, both directions. */
  get traffic(): Buffer {
    return Buffer.concat([...this.toTpm, Buffer.alloc(1), ...this.fromTpm])
  }

  clear(): void {
    this.toTpm.length = 0
    this.fromTpm.length = 0
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy()
    await new Promise<void>((resolve) =>
      this.server.close(() => {
        resolve()
      })
    )
  }
}

/** Offsets in `traffic` where any 8 consecutive bytes of `secret` appear. */
function leaks(traffic: Buffer, secret: Uint8Array): number[] {
  const found: number[] = []
  for (let i = 0; i + 8 <= secret.length; i++) {
    const at = traffic.indexOf(Buffer.from(secret.subarray(i, i + 8)))
    if (at >= 0) found.push(at)
  }
  return found
}

describe('attest/tpm: secrets on the TPM bus', function () {
  this.timeout(60_000)
  let device: SwtpmDevice
  let commands: RecordingProxy
  let control: RecordingProxy
  let tpm: EsysTpm

  before(async function () {
    if (!haveSwtpm()) this.skip()
    device = await startDevice()
    // The swtpm TCTI opens SOCKET for commands and SOCKET.ctrl for control: both go through proxies,
    // only the command channel is recorded.
    const socket = path.join(await tempDir(), 'tpm.sock')
    commands = new RecordingProxy(device.socketPath, true)
    control = new RecordingProxy(device.controlPath, false)
    await commands.listen(socket)
    await control.listen(`${socket}.ctrl`)
    tpm = await EsysTpm.open({ tcti: `swtpm:path=${socket}` })
  })

  after(async () => {
    await tpm?.close()
    await commands?.close()
    await control?.close()
    await stopAllDevices()
  })

  it('the recording sees what crosses in clear (a TPM2_GetRandom result), so its silence below means something', async () => {
    commands.clear()
    const random = await tpm.getRandom(32)
    assert.ok(leaks(commands.traffic, random).length > 0, 'the proxy recorded the GetRandom response')
  })

  const selection: PcrSelection = [{ hash: 'sha256', pcrs: [0, 7, 23] }]
  const sealPolicy = async (): Promise<Uint8Array> =>
    policyPcr(new Uint8Array(32), selection, await tpm.readPcrs(selection))

  it('a bus sniffer recording the sealing of a seed (fleet init, re-sealing to the owner) sees no 8 bytes of it', async () => {
    const policy = await sealPolicy()
    const seed = randomBytes(32)
    commands.clear()
    const sealed = await tpm.seal(seed, policy)
    assert.deepEqual(
      leaks(commands.traffic, seed),
      [],
      'the seed crossed the bus in clear on its way in (TPM2_Create inSensitive)'
    )
    assert.deepEqual(Buffer.from(await tpm.unseal(sealed, { pcrs: selection })), seed)
  })

  it('a bus sniffer recording an unseal (every agent start) sees no 8 bytes of the seed', async () => {
    const seed = randomBytes(32)
    const sealed = await tpm.seal(seed, await sealPolicy())
    commands.clear()
    const unsealed = await tpm.unseal(sealed, { pcrs: selection })
    assert.deepEqual(Buffer.from(unsealed), seed)
    assert.deepEqual(
      leaks(commands.traffic, seed),
      [],
      'the seed crossed the bus in clear on its way out (TPM2_Unseal outData)'
    )
  })

  it('a bus sniffer recording credential activation sees no 8 bytes of the recovered secret', async () => {
    const ak = await tpm.createKey('attestation')
    const ek = parsePublic((await tpm.endorsementKey('rsa')).public)
    const secret = randomBytes(32)
    const made = makeCredential({
      ekPublic: ek,
      objectName: objectName(parsePublic(ak.public)),
      credential: secret,
      random: randomBytes
    })
    commands.clear()
    const recovered = await tpm.activateCredential(ak, 'rsa', made.credentialBlob, made.secret)
    assert.deepEqual(Buffer.from(recovered), secret)
    assert.deepEqual(
      leaks(commands.traffic, secret),
      [],
      'the credential crossed the bus in clear (TPM2_ActivateCredential certInfo)'
    )
  })
})
