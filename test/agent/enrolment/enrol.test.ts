/**
 * The enrolment ceremony between real parts: two software TPMs (owner and device), real libp2p
 * nodes over Noise on loopback, the simulated measured boot, and the owner's LevelDB feed.
 */
import assert from 'node:assert/strict'
import { toHex } from '../../../src/common/index.js'
import { until as waitFor } from '../../helpers/wait.js'
import { EventLog, disconnected } from '../../helpers/events.js'
import { createHash, randomBytes, X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { streamPair } from '@libp2p/utils'
import type { Connection, Stream } from '@libp2p/interface'
import {
  EsysTpm,
  EV,
  HASH_ALG_ID,
  makeCredential,
  objectName,
  parseEventLog,
  parsePublic,
  loadTrustStore,
  deviceIdFromEndorsementKey,
  type SwtpmDevice
} from '../../../src/attest/index.js'
import { startOrSkip } from '../../attest/tpm2/swtpm-fixture.js'
import {
  initOwner,
  unlockOwner,
  initDevice,
  unlockDevice,
  agentMeasurement,
  acceptEnrolment,
  enrolPeer,
  openOwnFeed,
  ownerFeedId,
  enrolmentEntry,
  verifyEnrolmentRecord,
  EnrolmentRefusedError,
  ATTEST_LIMITS,
  CeremonyAbortedError,
  runDeviceCeremony,
  runOwnerCeremony,
  signEnrolmentRecord,
  ekPubHash,
  encodeSignedEnrolment,
  decodeSignedEnrolment,
  type SignedEnrolment,
  AttestationService,
  createAgent,
  type Agent,
  publishOwnerFeed,
  LEDGER_SYNC_PROTOCOL,
  pull,
  startControlServer,
  controlRequest,
  attestationQuoteData,
  judgeAttestation,
  deviceSigner,
  type ResidentMemory,
  type OwnerState,
  type DeviceState,
  type UnlockedDevice,
  type OpenedLedger,
  type DeviceEnrolment,
  type ReplicationEvent
} from '../../../src/agent/index.js'
import { HybridSigner, softwareP256Signer, nodeMlDsa65 } from '../../../src/identity/index.js'
import { decodeEntry, ownFeedSource } from '../../../src/ledger/index.js'
import { createFleetNode, FramedStream, type FleetNode } from '../../../src/p2p/index.js'
import { decodeMessage, encodeMessage } from '../../../src/p2p/messages.js'
import { EVIDENCE as ENROL_EVIDENCE, sasDigits } from '../../../src/agent/enrolment/ceremony.js'
import { encodeAnnounce, readOpening } from '../../../src/agent/replication/messages.js'
import { startMetricsServer } from '../../../src/agent/metrics.js'
import { bootDevice, simulatedBootPolicy, type BootVariant } from '../../../simnet/index.js'
import { haveSwtpm, startDevice, tempDir } from '../../helpers/devices.js'

interface TestDevice {
  swtpm: SwtpmDevice
  tpm: EsysTpm
  state: DeviceState
  unlocked: UnlockedDevice
  log: Uint8Array
  node: FleetNode
}

describe('agent/enrolment digits (/fleet/enrol/2)', () => {
  it('are SHA-256("fleet-sas-v2" ‖ transcript hash ‖ nO ‖ nD), its first 32 bits mod 10^6: golden digits', () => {
    const [transcript, nO, nD] = [new Uint8Array(32), new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)]
    assert.equal(sasDigits(transcript, nO, nD), '575374')
    const digest = createHash('sha256').update('fleet-sas-v2').update(transcript).update(nO).update(nD).digest()
    assert.equal(sasDigits(transcript, nO, nD), String(digest.readUInt32BE(0) % 1_000_000).padStart(6, '0'))
  })
})

describe('agent/enrolment ceremony (/fleet/enrol/2) on swtpm and libp2p', function () {
  this.timeout(120_000)
  const opened: Array<{ close: () => Promise<void> }> = []
  let caDir: string
  let trustStore: X509Certificate[]
  let owner: { state: OwnerState; signer: HybridSigner; tpm: EsysTpm; feed: OpenedLedger; node: FleetNode }
  const policy = simulatedBootPolicy()

  async function makeDevice(variant: BootVariant): Promise<TestDevice> {
    const swtpm = await startDevice({ caDir })
    const tpm = await EsysTpm.open({ tcti: swtpm.tcti })
    opened.push(tpm)
    const log = await bootDevice(tpm, variant)
    const sealing = { bootPcrs: [0, 1, 2, 3, 4, 7], agentPcr: 23 }
    const measurement = await agentMeasurement(sealing)
    const state = await initDevice(tpm, {
      tcti: swtpm.tcti,
      ...sealing,
      measurement,
      random: randomBytes,
      now: () => new Date()
    })
    const unlocked = await unlockDevice(tpm, state, measurement)
    const node = await createFleetNode({
      privateKey: unlocked.peerKey,
      admission: { allows: () => true },
      listen: ['/ip4/127.0.0.1/tcp/0'],
      mdns: false
    })
    opened.push({
      close: async () => {
        await node.stop()
      }
    })
    return { swtpm, tpm, state, unlocked, log, node }
  }

  function ownerInput(
    overrides: {
      confirm?: (sas: string) => Promise<boolean>
      expectDeviceId?: string
      allowSoftwareTpm?: boolean
      sas?: string[]
      hardwareCas?: X509Certificate[]
    } = {}
  ) {
    return {
      owner: { state: owner.state, signer: owner.signer },
      policy,
      // swtpm's local CA is, as the owner lists it, a software TPM's CA (unless a test lists it as hardware).
      trustStore: overrides.hardwareCas ?? [],
      softwareTpmCas: overrides.hardwareCas === undefined ? trustStore : [],
      allowSoftwareTpm: overrides.allowSoftwareTpm ?? true,
      ...(overrides.expectDeviceId === undefined ? {} : { expectDeviceId: overrides.expectDeviceId }),
      confirm:
        overrides.confirm ??
        (async (sas: string) => {
          overrides.sas?.push(sas)
          return true
        }),
      record: async (_signed: unknown, record: Parameters<typeof enrolmentEntry>[0]) => {
        await owner.feed.ledger.append(enrolmentEntry(record, owner.state.name))
      },
      random: randomBytes,
      now: () => new Date()
    }
  }

  async function ceremony(
    device: TestDevice,
    options: {
      ownerConfirm?: (sas: string) => Promise<boolean>
      deviceConfirm?: (sas: string) => Promise<boolean>
      expectDeviceId?: string
      allowSoftwareTpm?: boolean
      hardwareCas?: X509Certificate[]
    } = {}
  ) {
    const shown: { owner: string[]; device: string[] } = { owner: [], device: [] }
    const window = new AbortController()
    const failures: Error[] = []
    const accepted = acceptEnrolment(
      device.node,
      {
        tpm: device.tpm,
        state: device.state,
        eventLog: device.log,
        hostname: 'test-host',
        role: 'server',
        random: randomBytes,
        confirm: async (sas) => {
          shown.device.push(sas)
          return await (options.deviceConfirm?.(sas) ?? true)
        }
      },
      {
        signal: window.signal,
        onFailure: (err) => {
          failures.push(err)
          window.abort(err)
        }
      }
    )
    accepted.catch(() => undefined)
    const ownerSide = enrolPeer(
      owner.node,
      device.node.getMultiaddrs()[0]!,
      ownerInput({
        sas: shown.owner,
        ...(options.ownerConfirm === undefined
          ? {}
          : {
              confirm: async (sas: string) => {
                shown.owner.push(sas)
                return await options.ownerConfirm!(sas)
              }
            }),
        ...(options.expectDeviceId === undefined ? {} : { expectDeviceId: options.expectDeviceId }),
        ...(options.allowSoftwareTpm === undefined ? {} : { allowSoftwareTpm: options.allowSoftwareTpm }),
        ...(options.hardwareCas === undefined ? {} : { hardwareCas: options.hardwareCas })
      })
    )
    const [ownerResult, deviceResult] = await Promise.allSettled([ownerSide, accepted])
    return { ownerResult, deviceResult, shown, failures }
  }

  before(async function () {
    if (!haveSwtpm()) this.skip()
    caDir = path.join(await tempDir('fleet-enrol-ca-'), 'ca')
    const ownerTpmDevice = await startDevice({ caDir })
    trustStore = ownerTpmDevice.caCertificateFiles.map((file) => new X509Certificate(readFileSync(file)))
    const tpm = await EsysTpm.open({ tcti: ownerTpmDevice.tcti })
    opened.push(tpm)
    await bootDevice(tpm, 'good')
    const state = await initOwner(tpm, {
      name: 'test-fleet',
      bootPcrs: [0, 1, 2, 3, 4, 7],
      random: randomBytes,
      now: () => new Date()
    })
    const { signer } = await unlockOwner(state, { tpm })
    const fleetId = new Uint8Array(Buffer.from(state.fleetId, 'hex'))
    const feed = await openOwnFeed({
      dir: await tempDir('fleet-owner-'),
      tpm,
      signer,
      fleetId,
      feedId: ownerFeedId(fleetId),
      batchMs: 50
    })
    opened.push(feed)
    const node = await createFleetNode({
      privateKey: await generateKeyPair('Ed25519'),
      admission: { allows: () => true },
      listen: ['/ip4/127.0.0.1/tcp/0'],
      mdns: false
    })
    opened.push({
      close: async () => {
        await node.stop()
      }
    })
    owner = { state, signer, tpm, feed, node }
  })

  after(async () => {
    for (const item of opened.reverse()) await item.close().catch(() => undefined)
  })

  it('enrols a device with a good boot: both sides show the same digits, the owner signs and records it', async () => {
    const device = await makeDevice('good')
    const before = owner.feed.ledger.size
    const { ownerResult, deviceResult, shown } = await ceremony(device, { expectDeviceId: device.state.deviceId })
    assert.equal(ownerResult.status, 'fulfilled', String((ownerResult as PromiseRejectedResult).reason))
    assert.equal(deviceResult.status, 'fulfilled', String((deviceResult as PromiseRejectedResult).reason))
    assert.match(shown.owner[0]!, /^\d{6}$/)
    assert.deepEqual(shown.owner, shown.device)
    const enrolment = (deviceResult as PromiseFulfilledResult<DeviceEnrolment>).value
    assert.equal(enrolment.record.deviceId, device.state.deviceId)
    assert.equal(enrolment.record.peerId, device.state.peer.peerId)
    assert.equal(enrolment.record.role, 'server')
    assert.equal(Buffer.from(enrolment.fleetId).toString('hex'), owner.state.fleetId)
    // The record verifies under the owner's key from the genesis statement, and nowhere else.
    verifyEnrolmentRecord(enrolment.signed, { key: enrolment.ownerKey, fleetId: enrolment.fleetId })
    assert.throws(
      () => verifyEnrolmentRecord(enrolment.signed, { key: enrolment.ownerKey, fleetId: new Uint8Array(32) }),
      /another fleet/
    )
    // The owner's feed holds the device.enrol entry.
    assert.equal(owner.feed.ledger.size, before + 1)
  })

  it('aborts on both sides, recording nothing, when the owner does not confirm the digits', async () => {
    const device = await makeDevice('good')
    const before = owner.feed.ledger.size
    const { ownerResult, deviceResult, shown } = await ceremony(device, { ownerConfirm: async () => false })
    assert.equal(ownerResult.status, 'rejected')
    assert.ok((ownerResult as PromiseRejectedResult).reason instanceof CeremonyAbortedError)
    assert.equal(deviceResult.status, 'rejected')
    assert.match(String((deviceResult as PromiseRejectedResult).reason), /not confirmed by the owner/)
    assert.equal(shown.owner.length, 1)
    assert.equal(owner.feed.ledger.size, before)
  })

  it('aborts when the person at the device says the digits differ', async () => {
    const device = await makeDevice('good')
    const before = owner.feed.ledger.size
    const { ownerResult, deviceResult } = await ceremony(device, { deviceConfirm: async () => false })
    assert.ok((ownerResult as PromiseRejectedResult).reason instanceof CeremonyAbortedError)
    assert.ok((deviceResult as PromiseRejectedResult).reason instanceof CeremonyAbortedError)
    assert.equal(owner.feed.ledger.size, before)
  })

  it('refuses a device whose boot was tampered with, naming the difference', async () => {
    const device = await makeDevice('tampered-kernel')
    const { ownerResult, deviceResult, shown } = await ceremony(device)
    const reason = (ownerResult as PromiseRejectedResult).reason as Error
    assert.ok(reason instanceof EnrolmentRefusedError, String(reason))
    assert.match(reason.message, /boot does not satisfy the policy.*PCR 4/s)
    assert.match(String((deviceResult as PromiseRejectedResult).reason), /boot does not satisfy the policy/)
    assert.equal(shown.owner.length, 0, 'no digits are shown for a refused device')
  })

  it('refuses a software TPM unless the owner allows it, and a device other than the expected one', async () => {
    const device = await makeDevice('good')
    const software = await ceremony(device, { allowSoftwareTpm: false })
    assert.match(String((software.ownerResult as PromiseRejectedResult).reason), /software TPM/)
    const allowed = await ceremony(device, { expectDeviceId: device.state.deviceId })
    assert.equal(
      (allowed.ownerResult as PromiseFulfilledResult<{ device: { softwareTpm: boolean } }>).value.device.softwareTpm,
      true
    )
    const other = await ceremony(device, { expectDeviceId: 'a'.repeat(52) })
    assert.match(String((other.ownerResult as PromiseRejectedResult).reason), /expected a{52}/)
  })

  /** One end of an in-process frame pipe: what the ceremonies read and write, with a hook on each frame in flight. */
  function framePipe(): {
    a: FramedStream
    b: FramedStream
    onAToB: (hook: (frame: Uint8Array, index: number) => Uint8Array) => void
  } {
    const queue = (): { push: (f: Uint8Array | null) => void; next: () => Promise<Uint8Array | null> } => {
      const frames: Array<Uint8Array | null> = []
      const waiting: Array<(f: Uint8Array | null) => void> = []
      return {
        push: (f) => {
          const w = waiting.shift()
          if (w !== undefined) w(f)
          else frames.push(f)
        },
        next: async () => (frames.length > 0 ? frames.shift()! : await new Promise((resolve) => waiting.push(resolve)))
      }
    }
    const toB = queue()
    const toA = queue()
    let hook = (frame: Uint8Array, _index: number): Uint8Array => frame
    let sent = 0
    const end = (read: () => Promise<Uint8Array | null>, write: (f: Uint8Array | null) => void): FramedStream =>
      ({
        read: async () => {
          const f = await read()
          if (f === null) throw new Error('stream ended')
          return f
        },
        write: async (f: Uint8Array) => {
          write(f)
        },
        close: async () => {
          write(null)
        },
        abort: () => {
          write(null)
        }
      }) as unknown as FramedStream
    return {
      a: end(toA.next, (f) => {
        toB.push(f === null ? null : hook(f, sent++))
      }),
      b: end(toB.next, toA.push),
      onAToB: (h) => {
        hook = h
      }
    }
  }

  /** The log with one more event, in a PCR the owner's policy does not quote (so nothing extends or vouches for it). */
  function withUnquotedEvent(log: Uint8Array, pcr: number, data: string): Uint8Array {
    const banks = parseEventLog(log).banks
    const u32 = (n: number): Buffer => {
      const b = Buffer.alloc(4)
      b.writeUInt32LE(n)
      return b
    }
    const parts = [Buffer.from(log), u32(pcr), u32(EV.EV_IPL), u32(banks.length)]
    for (const bank of banks) {
      const id = Buffer.alloc(2)
      id.writeUInt16LE(HASH_ALG_ID[bank])
      parts.push(id, createHash(bank).update(data).digest())
    }
    parts.push(u32(Buffer.byteLength(data)), Buffer.from(data))
    return new Uint8Array(Buffer.concat(parts))
  }

  /** Randomness that repeats: the same seed gives the same bytes. */
  function seeded(seed: string): (n: number) => Uint8Array {
    let counter = 0
    return (n) => {
      const out = Buffer.alloc(Math.ceil(n / 32) * 32)
      for (let at = 0; at < n; at += 32)
        createHash('sha256').update(seed).update(String(counter++)).digest().copy(out, at)
      return new Uint8Array(out.subarray(0, n))
    }
  }

  it("a man in the middle who grinds the event log after seeing nO (events in PCRs the quote does not cover) cannot move the owner's digits", async () => {
    const device = await makeDevice('good')
    const ownerPeerId = owner.node.peerId.toString()
    for (let attempt = 0; attempt < 6; attempt++) {
      const pipe = framePipe()
      // Device → owner frames: 0 hello, 1 evidence, 2 confirm. The evidence is rewritten in flight,
      // as a relay that has seen nO would, with one more event in PCR 16 each attempt.
      pipe.onAToB((frame, index) => {
        if (index !== 1) return frame
        const { t: _type, ...evidence } = decodeMessage(
          '/test',
          frame,
          'evidence',
          ENROL_EVIDENCE,
          4 * 1024 * 1024
        ) as Record<string, unknown> & { eventLog: Uint8Array }
        return encodeMessage('evidence', {
          ...evidence,
          eventLog: withUnquotedEvent(evidence.eventLog, 16, `grind ${attempt}`)
        })
      })
      const shown: { owner?: string; device?: string; unquoted?: Array<{ pcr: number; events: number }> } = {}
      const deviceSide = runDeviceCeremony(pipe.a, {
        tpm: device.tpm,
        state: device.state,
        eventLog: device.log,
        hostname: 'test-host',
        role: 'server',
        ownerPeerId,
        random: randomBytes,
        confirm: async (sas) => {
          shown.device = sas
          return true
        }
      })
      const ownerSide = runOwnerCeremony(pipe.b, {
        ...ownerInput(),
        devicePeerId: device.state.peer.peerId,
        ownerPeerId,
        confirm: async (sas, enrolled) => {
          shown.owner = sas
          shown.unquoted = enrolled.unquoted
          return false
        }
      })
      await Promise.allSettled([deviceSide, ownerSide])
      assert.match(shown.owner ?? '', /^\d{6}$/, 'the altered evidence still verifies (nothing vouches for PCR 16)')
      assert.deepEqual(
        shown.unquoted?.find((u) => u.pcr === 16),
        { pcr: 16, events: 1 },
        'the owner is told of the unquoted events'
      )
      assert.equal(shown.owner, shown.device, `attempt ${attempt}: bytes sent after nO changed the owner's digits`)
    }
  })

  it('the digits depend on nothing said after the challenge: the same hello and challenge with other evidence show the same number', async () => {
    const device = await makeDevice('good')
    const ownerPeerId = owner.node.peerId.toString()
    // A scripted owner that sends one fixed challenge (one nO) to a device whose nD is fixed too:
    // only the evidence differs between attempts (an event in an unquoted PCR, the quote's clock).
    const ek = parsePublic(Buffer.from(device.state.endorsementKey.public, 'base64'))
    const credential = makeCredential({
      ekPublic: ek,
      objectName: objectName(parsePublic(Buffer.from(device.state.attestationKey.public, 'base64'))),
      credential: new Uint8Array(32).fill(7),
      random: randomBytes
    })
    const genesis = owner.state.genesis
    const challenge = encodeMessage('challenge', {
      genesis: Buffer.from(genesis.statement, 'base64'),
      genesisP256: Buffer.from(genesis.p256, 'base64'),
      genesisMldsa65: Buffer.from(genesis.mldsa65, 'base64'),
      credentialBlob: credential.credentialBlob,
      encryptedSecret: credential.secret,
      quoteNonce: new Uint8Array(32).fill(1),
      bank: policy.bank,
      pcrs: Uint8Array.from(policy.pcrs),
      nO: new Uint8Array(32).fill(2)
    })
    const digits = new Set<string>()
    for (let attempt = 0; attempt < 6; attempt++) {
      const pipe = framePipe()
      const deviceSide = runDeviceCeremony(pipe.a, {
        tpm: device.tpm,
        state: device.state,
        eventLog: withUnquotedEvent(device.log, 16, `attempt ${attempt}`),
        hostname: 'test-host',
        role: 'server',
        ownerPeerId,
        random: seeded('fixed nD'),
        confirm: async (sas) => {
          digits.add(sas)
          return false
        }
      })
      await pipe.b.read()
      await pipe.b.write(challenge)
      await pipe.b.read()
      await assert.rejects(deviceSide, CeremonyAbortedError)
    }
    assert.equal(digits.size, 1, `one hello and one challenge showed ${digits.size} different numbers`)
  })

  it('an owner speaking the old ceremony (/fleet/enrol/1, whose digits covered the evidence) is refused', async () => {
    const device = await makeDevice('good')
    const window = new AbortController()
    const accepted = acceptEnrolment(
      device.node,
      {
        tpm: device.tpm,
        state: device.state,
        eventLog: device.log,
        hostname: 'test-host',
        role: 'server',
        random: randomBytes,
        confirm: async () => true
      },
      { signal: window.signal }
    )
    accepted.catch(() => undefined)
    try {
      await waitFor(() => device.node.getProtocols().includes('/fleet/enrol/2'), 'the enrolment window')
      const connection = await owner.node.dial(device.node.getMultiaddrs()[0]!)
      await assert.rejects(
        connection.newStream('/fleet/enrol/1'),
        (err: Error) => /protocol/i.test(err.message) || err.name === 'UnsupportedProtocolError'
      )
    } finally {
      window.abort()
    }
  })

  describe('mutual attestation (/fleet/attest/1) between enrolled devices', () => {
    let a: TestDevice & { enrolment: DeviceEnrolment; feed: OpenedLedger; service: AttestationService }
    let b: typeof a

    async function enrolled(): Promise<typeof a> {
      const device = await makeDevice('good')
      const { deviceResult } = await ceremony(device)
      assert.equal(deviceResult.status, 'fulfilled', String((deviceResult as PromiseRejectedResult).reason))
      const enrolment = (deviceResult as PromiseFulfilledResult<DeviceEnrolment>).value
      const feed = await openOwnFeed({
        dir: await tempDir('fleet-feed-'),
        tpm: device.tpm,
        signer: deviceSigner(device.tpm, device.unlocked),
        fleetId: enrolment.fleetId,
        feedId: device.state.deviceId,
        batchMs: 50
      })
      opened.push(feed)
      const service = new AttestationService({
        node: device.node,
        self: {
          tpm: device.tpm,
          state: device.state,
          enrolment,
          eventLog: async () => device.log,
          random: randomBytes
        },
        ledger: feed.ledger
      })
      await service.start()
      opened.push({
        close: async () => {
          await service.stop()
        }
      })
      return { ...device, enrolment, feed, service }
    }

    const until = async (condition: () => Promise<boolean> | boolean, what: string): Promise<number> =>
      await waitFor(condition, what, 20_000, 20)

    async function entries(device: typeof a): Promise<Array<{ type: string; body: Record<string, unknown> }>> {
      const out = []
      for (let seq = 0; seq < device.feed.ledger.size; seq++)
        out.push(decodeEntry((await device.feed.ledger.getEntry(seq))!).entry)
      return out
    }

    before(async () => {
      a = await enrolled()
      b = await enrolled()
    })

    it('a new connection is attested both ways, and the verdicts are in both feeds', async () => {
      await a.node.dial(b.node.getMultiaddrs()[0]!)
      await until(
        () => a.service.attested(b.state.peer.peerId) && b.service.attested(a.state.peer.peerId),
        'mutual attestation'
      )
      await until(() => a.feed.ledger.size > 0 && b.feed.ledger.size > 0, 'verdict entries')
      const verdict = (await entries(a)).find((e) => e.type === 'attest.verdict')!
      assert.equal(verdict.body.subject, b.state.deviceId)
      assert.equal(verdict.body.trusted, true)
      assert.equal(a.service.list()[0]!.deviceId, b.state.deviceId)
    })

    it('a quote relayed from another session, or for another verifier, is refused', async () => {
      const nonce = randomBytes(32)
      const ak = {
        public: Buffer.from(b.state.attestationKey.public, 'base64'),
        private: Buffer.from(b.state.attestationKey.private, 'base64')
      }
      const quote = await b.tpm.quote(ak, attestationQuoteData(nonce, b.state.peer.peerId, a.state.peer.peerId), [
        { hash: 'sha256', pcrs: [...policy.pcrs] }
      ])
      const evidence = {
        signed: b.enrolment.signed,
        akPub: ak.public,
        quoteAttest: quote.attest,
        quoteSignature: quote.signature,
        eventLog: b.log
      }
      const judge = {
        fleetId: a.enrolment.fleetId,
        ownerKey: a.enrolment.ownerKey,
        policy,
        policyId: a.enrolment.record.policyId,
        isRevoked: () => false,
        lastClock: () => undefined
      }
      const genuine = judgeAttestation(
        evidence,
        { nonce, attesterPeerId: b.state.peer.peerId, verifierPeerId: a.state.peer.peerId },
        judge
      )
      assert.equal(genuine.trusted, true, (genuine as { reasons?: string[] }).reasons?.join('; '))
      const otherSession = judgeAttestation(
        evidence,
        { nonce: randomBytes(32), attesterPeerId: b.state.peer.peerId, verifierPeerId: a.state.peer.peerId },
        judge
      )
      assert.equal(otherSession.trusted, false)
      const otherVerifier = judgeAttestation(
        evidence,
        { nonce, attesterPeerId: b.state.peer.peerId, verifierPeerId: owner.node.peerId.toString() },
        judge
      )
      assert.equal(otherVerifier.trusted, false)
      // A TPM clock older than one already seen is refused.
      const later = judgeAttestation(
        evidence,
        { nonce, attesterPeerId: b.state.peer.peerId, verifierPeerId: a.state.peer.peerId },
        {
          ...judge,
          lastClock: () => ({ clock: 0n, resetCount: 2 ** 31, restartCount: 0, safe: true })
        }
      )
      assert.equal(later.trusted, false)
      assert.match((later as { reasons: string[] }).reasons[0]!, /clock went back|resetCount went back/)
    })

    it("a device presenting another device's enrolment under its own PeerId is refused as a stranger, alerted, and kept out", async () => {
      const impostor = await makeDevice('good')
      const service = new AttestationService({
        node: impostor.node,
        self: {
          tpm: impostor.tpm,
          state: impostor.state,
          enrolment: b.enrolment,
          eventLog: async () => impostor.log,
          random: randomBytes
        }
      })
      await service.start()
      opened.push({
        close: async () => {
          await service.stop()
        }
      })
      await impostor.node.dial(a.node.getMultiaddrs()[0]!).catch(() => undefined)
      const impostorId = impostor.state.peer.peerId
      await until(
        () => a.service.list().some((p) => p.peerId === impostorId && p.kind === 'stranger'),
        'the stranger verdict'
      )
      assert.equal(a.service.attested(impostorId), false)
      assert.equal(a.service.admission.allows(impostorId), false)
      // The alert is appended after the verdict: wait for it to be in the feed.
      let alert: { type: string; body: Record<string, unknown> } | undefined
      const cloneAlert = async (): Promise<boolean> => {
        alert = (await entries(a)).find((e) => e.type === 'alert.clone_suspected')
        return alert !== undefined
      }
      await until(cloneAlert, 'alert.clone_suspected recorded')
      assert.ok(alert !== undefined)
      assert.equal(alert.body.claimedDeviceId, b.state.deviceId)
      assert.equal(alert.body.peerId, impostorId)
    })

    it("1,000 connections with fresh keys presenting a victim's record cost no TPM quote, add one alert and a count, and leave every per-peer map bounded", async () => {
      let quotes = 0
      const tpm = new Proxy(a.tpm, {
        get(target, property) {
          if (property === 'quote')
            return async (...args: Parameters<EsysTpm['quote']>) => {
              quotes++
              return await target.quote(...args)
            }
          const value = Reflect.get(target, property) as unknown
          return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
        }
      })
      const feed = await openOwnFeed({
        dir: await tempDir('fleet-stranger-feed-'),
        tpm: a.tpm,
        signer: deviceSigner(a.tpm, a.unlocked),
        fleetId: a.enrolment.fleetId,
        feedId: a.state.deviceId,
        batchMs: 50
      })
      opened.push(feed)
      // The listener as libp2p drives it, over in-memory streams: one connection per fresh key.
      let handler: ((stream: Stream, connection: Connection) => Promise<void>) | undefined
      const node = {
        handle: async (_protocol: string, h: typeof handler) => {
          handler = h
        },
        unhandle: async () => undefined,
        addEventListener: () => undefined,
        removeEventListener: () => undefined,
        getConnections: () => []
      } as unknown as FleetNode
      let clock = Date.parse('2026-06-01T00:00:00Z')
      const service = new AttestationService({
        node,
        self: { tpm, state: a.state, enrolment: a.enrolment, eventLog: async () => a.log, random: randomBytes },
        ledger: feed.ledger,
        // The test's clock keeps the time and the clone-alert windows both.
        clock: { now: () => clock },
        steady: { now: () => clock }
      })
      await service.start()
      const victim = b.enrolment.signed
      const attempt = async (i: number): Promise<void> => {
        const remotePeer = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
        const [local, remote] = await streamPair()
        const connection = {
          id: `stranger-${i}`,
          remotePeer,
          status: 'open',
          direction: 'inbound',
          close: async () => undefined
        } as unknown as Connection
        const served = handler!(remote, connection)
        const framed = new FramedStream(local)
        await framed.write(
          encodeMessage('challenge', {
            nonce: randomBytes(32),
            record: victim.record,
            p256: victim.signature.p256,
            mldsa65: victim.signature.mldsa65
          })
        )
        // Whatever the listener answers (a refusal, or a quote it should not have made), the stranger stops there.
        await framed.read().catch(() => undefined)
        await framed.write(encodeMessage('abort', { reason: 'stranger' })).catch(() => undefined)
        await framed.close()
        await served
      }
      for (let i = 0; i < 1000; i++) await attempt(i)
      await feed.ledger.checkpoint()
      const types = (await entries({ feed } as typeof a)).map((e) => e.type)
      assert.equal(quotes, 0, 'no quote was made for a peer whose PeerId is not the one its record enrols')
      assert.deepEqual(
        types,
        ['alert.clone_suspected'],
        'one alert for the claimed device in the window, and nothing else'
      )
      const footprint = service.footprint()
      assert.ok(footprint.peers <= ATTEST_LIMITS.maxPeerStatuses, `peers: ${footprint.peers}`)
      assert.equal(footprint.refused, 0, 'strangers do not push clones or revoked devices out of the gater')
      assert.ok(footprint.strangers <= ATTEST_LIMITS.maxStrangers, `strangers: ${footprint.strangers}`)
      assert.equal(footprint.cloneTallies, 1)
      assert.equal(footprint.attestedOn, 0)
      assert.equal(footprint.deadlines, 0)
      // The next window: a new alert, and the count of the last one's attempts.
      clock += ATTEST_LIMITS.cloneAlertWindowMs
      await attempt(1000)
      await feed.ledger.checkpoint()
      const after = await entries({ feed } as typeof a)
      assert.deepEqual(
        after.map((e) => e.type),
        ['alert.clone_suspected', 'attest.verdict', 'alert.clone_suspected']
      )
      assert.match(
        (after[1]!.body.reasons as string[])[0]!,
        new RegExp(`^1000 connections presented the enrolment of device ${b.state.deviceId}`)
      )
      assert.equal(quotes, 0)
      await service.stop()
    })

    it('re-attestation after the boot measurements change is refused, naming the PCR, and the peer is hung up on', async () => {
      await b.tpm.extendPcr(4, { sha256: randomBytes(32) })
      const connection = a.node.getConnections(b.node.peerId)[0] ?? (await a.node.dial(b.node.getMultiaddrs()[0]!))
      const outcome = await a.service.attestConnection(connection)
      assert.ok(outcome !== undefined && !outcome.trusted)
      assert.match(outcome.reasons.join(' '), /PCR 4/, outcome.reasons.join(' '))
      assert.equal(a.service.attested(b.state.peer.peerId), false)
      await disconnected(a.node, b.node.peerId, 'hang-up')
    })

    it('a revoked device is hung up on and refused', async () => {
      await a.service.revoke(b.state.deviceId)
      assert.equal(a.service.admission.allows(b.state.peer.peerId), false)
      assert.equal(a.node.getConnections(b.node.peerId).length, 0)
    })
  })

  describe('replication between enrolled agents (/fleet/ledger-sync/1)', () => {
    const runtimes: Agent[] = []
    const devices: TestDevice[] = []
    /** What each runtime's replication did (same order as runtimes). */
    const replication: Array<EventLog<ReplicationEvent>> = []

    async function agent(): Promise<Agent> {
      const device = await makeDevice('good')
      const { deviceResult } = await ceremony(device)
      assert.equal(deviceResult.status, 'fulfilled', String((deviceResult as PromiseRejectedResult).reason))
      await device.node.stop()
      const log = new EventLog<ReplicationEvent>()
      const runtime = await createAgent(
        { tpm: device.tpm },
        {
          dir: await tempDir('fleet-agent-'),
          state: device.state,
          device: device.unlocked,
          enrolment: (deviceResult as PromiseFulfilledResult<DeviceEnrolment>).value,
          eventLog: async () => device.log,
          listen: ['/ip4/127.0.0.1/tcp/0'],
          mdns: false,
          batchMs: 50,
          syncIntervalMs: 1_000,
          attestDeadlineMs: 5_000,
          onReplication: log.record
        }
      )
      opened.push({
        close: async () => {
          await runtime.stop()
        }
      })
      await runtime.start()
      runtimes.push(runtime)
      devices.push(device)
      replication.push(log)
      return runtime
    }

    const until = async (condition: () => Promise<boolean> | boolean, what: string, ms = 20_000): Promise<number> =>
      await waitFor(condition, what, ms, 25)

    const size = async (runtime: Agent, feed: string): Promise<number> => (await runtime.heads()).get(feed) ?? 0

    it('entries appended at one agent reach an agent two hops away, verified', async () => {
      const [a, b, c] = [await agent(), await agent(), await agent()]
      // A line: a — b — c (a and c never meet).
      await a.node.dial(b.node.getMultiaddrs()[0]!)
      await b.node.dial(c.node.getMultiaddrs()[0]!)
      await until(
        () => a.attestation.attested(b.node.peerId.toString()) && c.attestation.attested(b.node.peerId.toString()),
        'attestation'
      )
      const feedA = devices[0]!.state.deviceId
      for (let i = 0; i < 200; i++)
        await a.feed.ledger.append({
          type: 'alert.tamper',
          actor: { id: `agent/${feedA}`, role: 'agent' },
          attest: null,
          body: { subject: feedA, pcr: 7, detail: `r${i}` }
        })
      await until(async () => (await size(c, feedA)) >= a.feed.ledger.size, 'replication to c')
      // c holds exactly a's entries (its own verdict entries included).
      let seq = 0
      for await (const bytes of c.replicas.entries(feedA))
        assert.deepEqual(Buffer.from(bytes), Buffer.from((await a.feed.ledger.getEntry(seq++))!))
    })

    it('serves Prometheus metrics on 127.0.0.1: peers, verdicts, feeds, TPM latency', async () => {
      const metrics = await startMetricsServer(runtimes[0]!, devices[0]!.tpm, 0)
      opened.push(metrics)
      await runtimes[0]!.feed.ledger.append({
        type: 'alert.tamper',
        actor: { id: 'agent/metrics', role: 'agent' },
        attest: null,
        body: { subject: devices[0]!.state.deviceId, pcr: 7, detail: 'metrics' }
      })
      await runtimes[0]!.feed.ledger.checkpoint()
      const text = await (await fetch(`http://127.0.0.1:${metrics.port}/metrics`)).text()
      assert.match(text, /^fleet_peers\{verdict="trusted"\} [1-9]/m)
      assert.match(text, /^fleet_own_feed_sealed [1-9]/m)
      assert.match(text, new RegExp(`^fleet_feed_entries\\{feed="${devices[0]!.state.deviceId}"\\} [1-9]`, 'm'))
      assert.match(text, /^fleet_tpm_operation_seconds_count\{op="[a-zA-Z]+",outcome="ok"\} [1-9]/m)
      assert.match(text, /^fleet_process_resident_memory_bytes [1-9]/m)
      // Counts are Prometheus counters, read from the agent's own counters.
      assert.match(text, /^# TYPE fleet_attestations_total counter$/m)
      const attestations = Number(/^fleet_attestations_total (\d+)$/m.exec(text)?.[1])
      assert.ok(
        attestations >= 1 && attestations <= runtimes[0]!.attestation.counts.trusted,
        `fleet_attestations_total ${attestations}`
      )
      assert.match(text, /^# TYPE fleet_sync_pulls_total counter$/m)
      assert.match(text, /^fleet_attestation_refusals_total\{kind="clone"\} \d+$/m)
      assert.equal((await fetch(`http://127.0.0.1:${metrics.port}/other`)).status, 404)
    })

    it('answers on its control socket, and refuses bad requests there', async () => {
      const dir = await tempDir('fleet-control-')
      const control = await startControlServer(runtimes[0]!, dir, devices[0]!.state.deviceId)
      opened.push(control)
      const status = (await controlRequest(dir, { cmd: 'status' })).status as {
        deviceId: string
        peers: unknown[]
        memory: ResidentMemory
      }
      assert.equal(status.deviceId, devices[0]!.state.deviceId)
      // Linux: the resident set split into the process's own pages and those mapped from files.
      assert.ok(status.memory.anonBytes! > 0 && status.memory.fileBytes! > 0)
      assert.ok(status.memory.anonBytes! + status.memory.fileBytes! <= status.memory.rssBytes * 1.1)
      const appended = await controlRequest(dir, {
        cmd: 'append',
        type: 'alert.tamper',
        actor: { id: 'svc', role: 'agent' },
        body: { subject: devices[0]!.state.deviceId, pcr: 7, detail: 'x' }
      })
      assert.equal(appended.sealed, true)
      assert.ok(runtimes[0]!.feed.ledger.sealedSize > (appended.seq as number))
      // A service acts only through a program the owner allowed (none here), named by its path.
      const sizeBefore = runtimes[0]!.feed.ledger.size
      const hash = new Uint8Array(32).fill(1)
      await assert.rejects(
        controlRequest(dir, {
          cmd: 'append',
          type: 'service.model_inference',
          actor: { id: 'triage-service', role: 'service' },
          body: { model: 'm', inputHash: toHex(hash), outputHash: toHex(hash) }
        }),
        (err: unknown) =>
          (err as { code?: string }).code === 'ERR_WORKLOAD_NOT_ALLOWED' &&
          (err as Error).message.includes(process.execPath)
      )
      // An operator's action needs their own signature: without it the ledger refuses it, with its code.
      await assert.rejects(
        controlRequest(dir, {
          cmd: 'append',
          type: 'operator.data_access',
          actor: { id: 'bob', role: 'operator' },
          body: { resource: 'x', purpose: 'y' }
        }),
        { name: 'ControlError', code: 'ERR_ACTOR_PROOF_MISSING' }
      )
      assert.equal(runtimes[0]!.feed.ledger.size, sizeBefore)
      await assert.rejects(controlRequest(dir, { cmd: 'format-disk' }), /unknown command/)
      await assert.rejects(
        controlRequest(dir, {
          cmd: 'append',
          type: 'operator.data_access',
          actor: { id: 'bob', role: 'king' },
          body: {}
        }),
        /append needs/
      )
      await assert.rejects(
        controlRequest(dir, {
          cmd: 'append',
          type: 'device.revoke',
          actor: { id: 'bob', role: 'operator' },
          body: { deviceId: 'a'.repeat(52), reason: 'r' }
        }),
        /may not perform "device.revoke"/
      )
      await assert.rejects(
        controlRequest(dir, {
          cmd: 'append',
          type: 'operator.model_inference',
          actor: { id: 'bob', role: 'operator' },
          body: { model: 'm', inputHash: 'zz', outputHash: '00' }
        }),
        /must be hex/
      )
      await assert.rejects(controlRequest(dir, { cmd: 'dial' }), /needs an address/)
      await assert.rejects(
        controlRequest(await tempDir('fleet-control-none-'), { cmd: 'status' }),
        /no agent is running/
      )
    })

    it('a peer that is not enrolled gets no ledger data and is hung up on when it does not attest', async () => {
      const a = runtimes[0]!
      const stranger = await createFleetNode({
        privateKey: await generateKeyPair('Ed25519'),
        admission: { allows: () => true },
        listen: ['/ip4/127.0.0.1/tcp/0'],
        mdns: false
      })
      opened.push({
        close: async () => {
          await stranger.stop()
        }
      })
      const connection = await stranger.dial(a.node.getMultiaddrs()[0]!)
      // Asking for the ledger without attesting: refused.
      const stream = await connection.newStream(LEDGER_SYNC_PROTOCOL)
      const framed = new FramedStream(stream, { timeoutMs: 15_000 })
      let served = 0
      await assert.rejects(
        pull(
          framed,
          new Map(),
          async () => {
            served++
          },
          async () => {
            served++
          }
        )
      )
      assert.equal(served, 0, 'ledger data or member records were served to a stranger')
      // And after the deadline it is gone.
      await disconnected(a.node, stranger.peerId, 'the hang-up', 10_000)
      assert.equal(a.attestation.attested(stranger.peerId.toString()), false)
    })

    it('a connected peer that has not attested cannot make an agent pull, nor learn its feed sizes or members, by announcing', async () => {
      const a = runtimes[0]!
      const heldBefore = await a.heads()
      const lagBefore = await a.syncLag()
      const forged = await createFleetNode({
        privateKey: await generateKeyPair('Ed25519'),
        admission: { allows: () => true },
        listen: ['/ip4/127.0.0.1/tcp/0'],
        mdns: false
      })
      opened.push({
        close: async () => {
          await forged.stop()
        }
      })
      // Whatever the agent opens towards the forged peer (a pull names every feed's size and the members held) is recorded.
      const frames: Uint8Array[] = []
      let streams = 0
      await forged.handle(LEDGER_SYNC_PROTOCOL, async (stream) => {
        streams++
        const framed = new FramedStream(stream, { timeoutMs: 5_000 })
        frames.push(await framed.read().catch(() => new Uint8Array(0)))
        framed.abort(new Error('forged'))
      })
      const connection = await forged.dial(a.node.getMultiaddrs()[0]!)
      const from = replication[0]!.mark
      // Announces of every feed the agent holds, far ahead, the owner's feed among them (without an owner-signed checkpoint).
      const stream = new FramedStream(await connection.newStream(LEDGER_SYNC_PROTOCOL), { timeoutMs: 5_000 })
      for (const feed of heldBefore.keys()) await stream.write(encodeAnnounce(feed, 1_000_000, ''))
      await stream.write(encodeAnnounce(a.membership.ownerFeed, 1_000_000, ''))
      await stream.close()
      // The agent has dealt with each announce when it closes its end: every one was dropped unheard
      // (a pull is asked for while an announce is dealt with, so none was).
      await assert.rejects(stream.read(), { name: 'StreamEndedError' })
      const forgedId = forged.peerId.toString()
      const heard = replication[0]!.since(from, (e) => 'peerId' in e && e.peerId === forgedId)
      const dropped = { type: 'announce-dropped', peerId: forgedId }
      assert.deepEqual(
        heard,
        Array.from({ length: heldBefore.size + 1 }, () => dropped)
      )
      assert.equal(
        streams,
        0,
        `the agent opened ${streams} streams to an unattested peer: ${frames.map((f) => Buffer.from(f).toString('latin1').slice(0, 40)).join(' | ')}`
      )
      assert.equal(await a.syncLag(), lagBefore, 'sizes announced by an unattested peer were believed')
      assert.equal(a.attestation.attested(forged.peerId.toString()), false)
    })

    it("an unattested peer announcing a newer owner-signed checkpoint gets a pull of the owner's feed alone: no other feed's size, no member ids", async () => {
      const a = runtimes[0]!
      const ownerFeed = a.membership.ownerFeed
      await owner.feed.ledger.checkpoint()
      const sealed = await ownFeedSource(owner.feed.store, ownerFeed).sealed()
      assert.ok(sealed !== undefined)
      const relay = await createFleetNode({
        privateKey: await generateKeyPair('Ed25519'),
        admission: { allows: () => true },
        listen: ['/ip4/127.0.0.1/tcp/0'],
        mdns: false
      })
      opened.push({
        close: async () => {
          await relay.stop()
        }
      })
      const openings = new EventLog<Awaited<ReturnType<typeof readOpening>>>()
      await relay.handle(LEDGER_SYNC_PROTOCOL, async (stream) => {
        const framed = new FramedStream(stream, { timeoutMs: 5_000 })
        openings.record(await readOpening(framed))
        framed.abort(new Error('relay'))
      })
      const connection = await relay.dial(a.node.getMultiaddrs()[0]!)
      const stream = new FramedStream(await connection.newStream(LEDGER_SYNC_PROTOCOL), { timeoutMs: 5_000 })
      // Claimed one entry beyond the checkpoint's size: only the owner's signature over a newer tree counts, not the claim.
      await stream.write(encodeAnnounce(ownerFeed, sealed.size + 1, sealed.note))
      await stream.close()
      assert.ok(
        ((await a.heads()).get(ownerFeed) ?? 0) < sealed.size,
        "the owner's feed has not been handed to the agent yet"
      )
      const pulled = (await openings.next(() => true, "the pull of the owner's feed", { from: 0, ms: 20_000 }))[0]!
      assert.ok(pulled.t === 'pull')
      assert.deepEqual([...pulled.heads.keys()], [ownerFeed], 'a pull from an unattested peer named another feed')
      assert.equal(pulled.memberIds.size, 0, 'member ids were sent to an unattested peer')
    })

    it('a revocation from the owner reaches the agents, which hang up on the device and refuse it', async () => {
      const [a, b] = runtimes as [Agent, Agent]
      const victim = devices[1]!.state.deviceId
      await owner.feed.ledger.append({
        type: 'device.revoke',
        actor: { id: 'owner/test-fleet', role: 'owner' },
        attest: null,
        body: { deviceId: victim, reason: 'stolen' }
      })
      await owner.feed.ledger.checkpoint()
      const reached = await publishOwnerFeed(
        owner.node,
        owner.feed.store,
        ownerFeedId(new Uint8Array(Buffer.from(owner.state.fleetId, 'hex'))),
        owner.feed.ledger.sealedSize,
        [a.node.getMultiaddrs()[0]!]
      )
      assert.equal(reached.length, 1)
      await until(() => a.membership.isRevoked(victim), 'the revocation at a')
      await disconnected(a.node, b.node.peerId, 'hang-up')
      assert.equal(a.attestation.admission.allows(b.node.peerId.toString()), false)
      // The owner's feed travels on: the third agent learns it from a's neighbour... once connected to a.
      const c = runtimes[2]!
      await c.node.dial(a.node.getMultiaddrs()[0]!)
      await until(() => c.membership.isRevoked(victim), 'the revocation at c')
    })
  })

  it('a software TPM is told by the CA the owner listed it under, not by a CN: swtpm-localca listed as a hardware CA is hardware', async () => {
    const device = await makeDevice('good')
    const { ownerResult } = await ceremony(device, {
      allowSoftwareTpm: false,
      hardwareCas: trustStore,
      expectDeviceId: device.state.deviceId
    })
    assert.equal(ownerResult.status, 'fulfilled', String((ownerResult as PromiseRejectedResult).reason))
    assert.equal(
      (ownerResult as PromiseFulfilledResult<{ device: { softwareTpm: boolean } }>).value.device.softwareTpm,
      false
    )
  })

  it('an AK made outside the TPM with tpm2_import is refused by the owner before any credential, naming the attributes', async function () {
    // The device's TPM answers ActivateCredential for an imported key too, so the owner must refuse on the hello.
    const tools = startOrSkip(this)
    try {
      tools.run('tpm2_readpublic', ['-c', '0x81010001', '-o', 'ek.pub'])
      tools.run('tpm2_nvread', ['0x01c00002', '-o', 'ekcert.der'])
      tools.run('tpm2_createprimary', [
        '-C',
        'o',
        '-G',
        'ecc256:null:aes128cfb',
        '-c',
        'primary.ctx',
        '-a',
        'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|decrypt|noda'
      ])
      tools.run(
        'openssl',
        ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'software.pem'],
        { flush: false }
      )
      tools.run('tpm2_import', [
        '-C',
        'primary.ctx',
        '-G',
        'ecc:ecdsa-sha256:null',
        '-i',
        'software.pem',
        '-a',
        'restricted|sign|userwithauth',
        '-u',
        'imported.pub',
        '-r',
        'imported.priv'
      ])
      tools.run('tpm2_create', [
        '-C',
        'primary.ctx',
        '-G',
        'ecc256:ecdsa-sha256',
        '-u',
        'dsk.pub',
        '-r',
        'dsk.priv',
        '-a',
        'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign'
      ])
      const devicePeerId = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
      const [a, b] = await streamPair()
      const refused = runOwnerCeremony(new FramedStream(a, { timeoutMs: 10_000 }), {
        ...ownerInput(),
        trustStore: await loadTrustStore(tools.caDir),
        softwareTpmCas: [],
        allowSoftwareTpm: false,
        devicePeerId,
        ownerPeerId: owner.node.peerId.toString()
      })
      refused.catch(() => undefined)
      const deviceSide = new FramedStream(b, { timeoutMs: 10_000 })
      await deviceSide.write(
        encodeMessage('hello', {
          deviceId: deviceIdFromEndorsementKey(tools.read('ek.pub')),
          ekPub: tools.read('ek.pub'),
          ekCert: tools.read('ekcert.der'),
          akPub: tools.read('imported.pub'),
          dskPub: tools.read('dsk.pub'),
          certifyAttest: randomBytes(64),
          certifySignature: randomBytes(72),
          pqPub: randomBytes(1952),
          peerId: devicePeerId,
          hostname: 'imported-ak',
          role: 'server',
          commit: randomBytes(32)
        })
      )
      await assert.rejects(
        refused,
        (err: Error) =>
          err instanceof EnrolmentRefusedError &&
          /the AK is not fixedTPM\/fixedParent\/sensitiveDataOrigin: made outside the TPM/.test(err.message)
      )
      await deviceSide.close()

      // Offline: a record an owner did sign for these keys (a mistaken or older owner) is not trusted by an auditor or a peer
      // either: verifyEnrolmentRecord is what ledger verify --export, witness headers, stored members and peers' records go through.
      const signer = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32)))
      const fleetId = new Uint8Array(32).fill(7)
      const recordFor = async (akPub: Uint8Array, dskPub: Uint8Array): Promise<SignedEnrolment> =>
        await signEnrolmentRecord(
          {
            v: 1,
            kind: 'enrolment',
            fleet: fleetId,
            deviceId: deviceIdFromEndorsementKey(tools.read('ek.pub')),
            ekPubHash: ekPubHash(tools.read('ek.pub')),
            akPub,
            dskPub,
            pqPub: randomBytes(1952),
            peerId: devicePeerId,
            role: 'server',
            policyId: 'c'.repeat(64),
            hostname: 'imported-ak',
            issuedAt: 1
          },
          signer
        )
      tools.run('tpm2_createak', [
        '-C',
        '0x81010001',
        '-c',
        'ak.ctx',
        '-G',
        'ecc',
        '-g',
        'sha256',
        '-s',
        'ecdsa',
        '-u',
        'ak.pub'
      ])
      tools.run('tpm2_import', [
        '-C',
        'primary.ctx',
        '-G',
        'ecc',
        '-i',
        'software.pem',
        '-a',
        'sign|userwithauth',
        '-u',
        'imported-dsk.pub',
        '-r',
        'imported-dsk.priv'
      ])
      const signedBy = { key: signer.publicKey, fleetId }
      verifyEnrolmentRecord(await recordFor(tools.read('ak.pub'), tools.read('dsk.pub')), signedBy)
      const importedAk = decodeSignedEnrolment(
        encodeSignedEnrolment(await recordFor(tools.read('imported.pub'), tools.read('dsk.pub')))
      )
      assert.throws(() => verifyEnrolmentRecord(importedAk, signedBy), {
        name: 'EnrolmentRecordError',
        message: /the AK is not fixedTPM.*made outside the TPM/
      })
      // A peer presenting that record at attestation is refused before its quote is looked at.
      const judged = judgeAttestation(
        {
          signed: importedAk,
          akPub: tools.read('imported.pub'),
          quoteAttest: randomBytes(64),
          quoteSignature: randomBytes(72),
          eventLog: new Uint8Array(0)
        },
        { nonce: randomBytes(32), attesterPeerId: devicePeerId, verifierPeerId: owner.node.peerId.toString() },
        {
          fleetId,
          ownerKey: signer.publicKey,
          policy,
          policyId: 'c'.repeat(64),
          isRevoked: () => false,
          lastClock: () => undefined
        }
      )
      assert.equal(judged.trusted, false)
      assert.match((judged as { reasons: string[] }).reasons[0]!, /the AK is not fixedTPM.*made outside the TPM/)
      const importedDsk = await recordFor(tools.read('ak.pub'), tools.read('imported-dsk.pub'))
      assert.throws(() => verifyEnrolmentRecord(importedDsk, signedBy), {
        name: 'EnrolmentRecordError',
        message: /the DSK is not fixedTPM.*made outside the TPM/
      })
    } finally {
      tools.stop()
    }
  })

  it('refuses a device whose EK certificate is not from the trust store', async () => {
    const device = await makeDevice('good')
    // A device provisioned by another CA.
    const stranger = await startDevice()
    const strangerCa = stranger.caCertificateFiles.map((file) => new X509Certificate(readFileSync(file)))
    const saved = trustStore
    trustStore = strangerCa
    try {
      const { ownerResult } = await ceremony(device)
      assert.equal(ownerResult.status, 'rejected')
      assert.match(String((ownerResult as PromiseRejectedResult).reason), /certificate|chain|trust/i)
    } finally {
      trustStore = saved
    }
  })
})
