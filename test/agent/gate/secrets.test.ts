/**
 * Workload secrets on swtpm: sealed alike with the device's keys, nothing readable on disk, and
 * refused — with a typed error, nothing returned — under a changed boot state, from an altered or
 * renamed file, and on another TPM with the same files.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { cp, readFile, readdir, rm, stat, symlink, writeFile, rename } from 'node:fs/promises'
import path from 'node:path'
import {
  CloneDetectedError,
  SecretFileError,
  SecretSizeError,
  SecretUnknownError,
  TooManySecretsError,
  GATE_LIMITS,
  agentMeasurement,
  listSecrets,
  openSecret,
  removeSecret,
  sealSecret,
  secretFile,
  unlockDevice
} from '../../../src/agent/index.js'
import { KeyReleaseRefusedError } from '../../../src/attest/index.js'
import { FleetError } from '../../../src/common/index.js'
import { SEALING, SimFleet, type SimDevice } from '../../../simnet/fleet.js'
import { haveSwtpm } from '../../helpers/devices.js'

/** Every file under `dir`, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) out.push(...(await filesUnder(full)))
    else if (entry.isFile()) out.push(full)
  }
  return out
}

describe('agent/gate: workload secrets sealed in the TPM (swtpm)', function () {
  this.timeout(120_000)
  let fleet: SimFleet
  let dev1: SimDevice
  let dev2: SimDevice
  const now = new Date('2026-12-06T12:00:00Z')
  // A value with a marker no other file would hold, to look for on disk.
  const value = new Uint8Array(Buffer.from(`db-password-${randomBytes(16).toString('hex')}`))

  before(async function () {
    if (!haveSwtpm()) this.skip()
    fleet = await SimFleet.create()
    dev1 = await fleet.addDevice('good')
    dev2 = await fleet.addDevice('good')
  })

  after(async () => {
    await fleet?.close()
  })

  it('seals a secret: listed by name and policy, opened in this TPM, and nothing readable on disk', async () => {
    const listed = await sealSecret(dev1.tpm, dev1.state, dev1.dir, 'db-password', value, { now })
    assert.deepEqual(listed, {
      name: 'db-password',
      bytes: value.length,
      sealedTo: dev1.state.mldsa.sealed.authority === undefined ? 'boot-pcrs' : 'owner',
      pcrs: [...SEALING.bootPcrs, SEALING.agentPcr],
      sealedAt: now.toISOString()
    })
    assert.deepEqual(await listSecrets(dev1.dir, dev1.state), [listed])
    assert.deepEqual(await openSecret(dev1.tpm, dev1.state, dev1.dir, 'db-password'), value)

    const file = secretFile(dev1.dir, 'db-password')
    assert.equal((await stat(file)).mode & 0o777, 0o600)
    assert.equal((await stat(path.dirname(file))).mode & 0o777, 0o700)
    const needle = Buffer.from(value)
    for (const f of await filesUnder(dev1.dir)) {
      const bytes = await readFile(f)
      assert.ok(!bytes.includes(needle), `${f} holds the secret`)
      assert.ok(!bytes.includes(Buffer.from(needle.toString('base64'))), `${f} holds the secret in base64`)
    }
  })

  it('replaces a secret only when told to; refuses an empty, an oversized one and more than the cap', async () => {
    await assert.rejects(
      sealSecret(dev1.tpm, dev1.state, dev1.dir, 'db-password', new Uint8Array([1]), { now }),
      (err: unknown) => err instanceof SecretFileError && /--replace/.test(err.message)
    )
    assert.deepEqual(await openSecret(dev1.tpm, dev1.state, dev1.dir, 'db-password'), value)
    await sealSecret(dev1.tpm, dev1.state, dev1.dir, 'rotated', new Uint8Array([1]), { now })
    await sealSecret(dev1.tpm, dev1.state, dev1.dir, 'rotated', new Uint8Array([2, 2]), { now, replace: true })
    assert.deepEqual(await openSecret(dev1.tpm, dev1.state, dev1.dir, 'rotated'), new Uint8Array([2, 2]))
    await assert.rejects(
      sealSecret(dev1.tpm, dev1.state, dev1.dir, 'empty', new Uint8Array(0), { now }),
      SecretSizeError
    )
    await assert.rejects(
      sealSecret(dev1.tpm, dev1.state, dev1.dir, 'big', new Uint8Array(GATE_LIMITS.maxSecretBytes + 1), { now }),
      SecretSizeError
    )
    // The cap: file names alone count, so filling the folder with copies reaches it cheaply.
    const held = (await listSecrets(dev1.dir, dev1.state)).length
    const source = await readFile(secretFile(dev1.dir, 'rotated'))
    const extra: string[] = []
    for (let i = held; i < GATE_LIMITS.maxSecrets; i++) {
      extra.push(`filler-${i}`)
      await writeFile(secretFile(dev1.dir, `filler-${i}`), source)
    }
    await assert.rejects(
      sealSecret(dev1.tpm, dev1.state, dev1.dir, 'one-too-many', new Uint8Array([1]), { now }),
      TooManySecretsError
    )
    for (const name of extra) await removeSecret(dev1.dir, name)
    await removeSecret(dev1.dir, 'rotated')
    await assert.rejects(removeSecret(dev1.dir, 'rotated'), SecretUnknownError)
    await assert.rejects(openSecret(dev1.tpm, dev1.state, dev1.dir, 'rotated'), SecretUnknownError)
  })

  it('an altered file, a file renamed to another secret, and a foreign field are refused with their reason', async () => {
    const file = secretFile(dev1.dir, 'db-password')
    const original = await readFile(file, 'utf8')
    const json = JSON.parse(original) as Record<string, unknown>
    const tries: Array<[string, Record<string, unknown>, RegExp]> = [
      [
        'ciphertext',
        {
          ...json,
          ciphertext: Buffer.from(
            Buffer.from(json.ciphertext as string, 'base64').map((b, i) => (i === 0 ? b ^ 1 : b))
          ).toString('base64')
        },
        /does not decrypt/
      ],
      ['device', { ...json, deviceId: dev2.state.deviceId }, /sealed on another device/],
      ['field', { ...json, extra: 1 }, /unknown field "extra"/],
      ['version', { ...json, version: 3 }, /version 3/],
      ['owner copy', { ...json, version: 2 }, /bad field "ownerKey"/],
      [
        'owner authority',
        { ...json, version: 2, ownerKey: json.key, ownerAuthority: 'zz' },
        /bad field "ownerAuthority"/
      ]
    ]
    for (const [what, altered, reason] of tries) {
      await writeFile(file, JSON.stringify(altered))
      await assert.rejects(
        openSecret(dev1.tpm, dev1.state, dev1.dir, 'db-password'),
        (err: unknown) => err instanceof SecretFileError && reason.test(err.message),
        what
      )
    }
    await writeFile(file, 'not json')
    await assert.rejects(openSecret(dev1.tpm, dev1.state, dev1.dir, 'db-password'), SecretFileError)
    await writeFile(file, original)
    // Renamed: the name is in the file and in the encryption's additional data.
    await rename(file, secretFile(dev1.dir, 'api-token'))
    await assert.rejects(
      openSecret(dev1.tpm, dev1.state, dev1.dir, 'api-token'),
      (err: unknown) => err instanceof SecretFileError && /db-password's, not api-token's/.test(err.message)
    )
    await rename(secretFile(dev1.dir, 'api-token'), file)
    assert.deepEqual(await openSecret(dev1.tpm, dev1.state, dev1.dir, 'db-password'), value)
    // Not through a symbolic link, and a FIFO is refused at once instead of blocking the agent.
    await symlink(file, secretFile(dev1.dir, 'linked'))
    await assert.rejects(
      openSecret(dev1.tpm, dev1.state, dev1.dir, 'linked'),
      (err: unknown) => err instanceof SecretFileError && /symbolic link/.test(err.message)
    )
    await rm(secretFile(dev1.dir, 'linked'))
    execFileSync('mkfifo', [secretFile(dev1.dir, 'piped')])
    await assert.rejects(
      openSecret(dev1.tpm, dev1.state, dev1.dir, 'piped'),
      (err: unknown) => err instanceof SecretFileError && /not a regular file/.test(err.message)
    )
    await rm(secretFile(dev1.dir, 'piped'))
  })

  it('the same files on another TPM release nothing', async () => {
    const copy = path.join(fleet.root, 'copied-dev1')
    await cp(dev1.dir, copy, { recursive: true, filter: (src) => !src.includes(`${path.sep}tpm`) })
    // The agent never starts there: the state belongs to another TPM …
    await assert.rejects(unlockDevice(dev2.tpm, dev1.state, await agentMeasurement(SEALING)), CloneDetectedError)
    // … and the secret's sealed key does not load in it either, whatever the state says.
    const err = await openSecret(dev2.tpm, dev1.state, copy, 'db-password').catch((e: unknown) => e)
    assert.ok(err instanceof FleetError, `a typed refusal, not ${String(err)}`)
    assert.ok(!(err instanceof Uint8Array))
  })

  it('a boot state changed after the seal (a PCR extended) releases nothing, naming the PCR', async () => {
    await dev1.tpm.extendPcr(7, { sha256: new Uint8Array(32).fill(0xee) })
    await assert.rejects(
      openSecret(dev1.tpm, dev1.state, dev1.dir, 'db-password'),
      (err: unknown) => err instanceof KeyReleaseRefusedError && /PCR 7/.test(err.message)
    )
  })
})
