/**
 * The gate's judgement, on its own (a stand-in TPM, event log and ledger): what makes it refuse a
 * workload, how a changed PCR is explained, and what it records. The same gate on swtpm with real
 * child processes: test/cli/exec.test.ts.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import {
  EFI_IMAGE_SECURITY_DATABASE,
  EV,
  EVENTLOG_LIMITS,
  encodeEventLog,
  kernelCommandLineEvent,
  secureBootVariableEvent,
  separatorEvent,
  uefiVariableData,
  type EventToWrite,
  type PcrSelection,
  type PcrValues,
  type Tpm
} from '../../../src/attest/index.js'
import {
  GATE_LIMITS,
  Gate,
  GateRefusedError,
  QuorumError,
  SecretNameError,
  VerdictsOnSelf,
  type DeviceState
} from '../../../src/agent/index.js'
import type { AppendInput, Entry } from '../../../src/ledger/index.js'

const SELF = 'aa'.repeat(32)
const peer = (n: number): string => n.toString(16).padStart(64, '0')
const AGENT_PCR = 23
const SELECTION: PcrSelection = [{ hash: 'sha256', pcrs: [0, 7, 8, AGENT_PCR] }]
/** The boot the keys were released under: Secure Boot on, its PCR 7 and PCR 8 events. */
const BOOT: readonly EventToWrite[] = [
  secureBootVariableEvent('SecureBoot', Uint8Array.of(1)),
  separatorEvent(7),
  kernelCommandLineEvent('/vmlinuz-6.1 root=/dev/vda1 ro')
]

const sha256 = (...parts: Uint8Array[]): Uint8Array => {
  const h = createHash('sha256')
  for (const part of parts) h.update(part)
  return new Uint8Array(h.digest())
}

/**
 * A stand-in TPM and its boot event log: the PCRs hold what the logged events made them, and what
 * was extended outside the log on top.
 */
class FakeDevice {
  readonly values = new Map<number, Uint8Array>()
  readonly logged: EventToWrite[] = [...BOOT]
  reads = 0
  logReads = 0
  /** What the event log source gives (or throws); by default the log of `logged`. */
  logBytes: () => Uint8Array = () => encodeEventLog({ algorithms: ['sha256'], events: this.logged }).log

  constructor() {
    for (const event of BOOT) this.measure(event)
    this.extend(AGENT_PCR, sha256(Buffer.from('the agent')))
  }

  readPcrs(): PcrValues {
    this.reads++
    return { sha256: new Map(SELECTION[0]!.pcrs.map((pcr) => [pcr, this.values.get(pcr) ?? new Uint8Array(32)])) }
  }

  async eventLog(): Promise<Uint8Array> {
    this.logReads++
    return this.logBytes()
  }

  /** TPM2_PCR_Extend with no event logged (tpm2_pcrextend at runtime). */
  extend(pcr: number, measurement: Uint8Array): void {
    this.values.set(pcr, sha256(this.values.get(pcr) ?? new Uint8Array(32), measurement))
  }

  /** An event logged and measured, as firmware or a boot loader does. */
  measure(event: EventToWrite): void {
    if (!BOOT.includes(event)) this.logged.push(event)
    for (const m of encodeEventLog({ algorithms: ['sha256'], events: [event] }).measurements)
      this.extend(m.pcr, m.digests.sha256!)
  }
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

let nextSeq = 0
const verdict = (subject: string, trusted: boolean, time: number, seq = nextSeq++): Entry =>
  ({ type: 'attest.verdict', seq, time, body: { subject, trusted, reasons: [] } }) as unknown as Entry

function setup(): {
  gate: Gate
  verdicts: VerdictsOnSelf
  clock: { t: number; now(): number }
  device: FakeDevice
  revoked: Set<string>
  quarantined: Set<string>
  appended: AppendInput[]
} {
  const clock = { t: 1_000_000, now: () => clock.t }
  const device = new FakeDevice()
  const fakeTpm = { readPcrs: async () => device.readPcrs() } as unknown as Tpm
  const verdicts = new VerdictsOnSelf(SELF)
  const revoked = new Set<string>()
  const quarantined = new Set<string>()
  const appended: AppendInput[] = []
  const gate = new Gate({
    tpm: fakeTpm,
    state: { deviceId: SELF, sealing: { selection: SELECTION, agentPcr: AGENT_PCR } } as unknown as DeviceState,
    dir: '/nonexistent',
    // The test's clock keeps both the time and the PCR re-read interval.
    clock,
    steady: clock,
    verdicts,
    eventLog: async () => await device.eventLog(),
    isRevoked: (id) => revoked.has(id),
    isQuarantined: (id) => quarantined.has(id),
    ledger: {
      append: async (input) => {
        appended.push(input)
        return { seq: appended.length - 1, hash: new Uint8Array(32) }
      }
    }
  })
  return { gate, verdicts, clock, device, revoked, quarantined, appended }
}

/** The gate's reasons once the PCRs were read again (after the recheck interval). */
async function reasonsLater(s: ReturnType<typeof setup>): Promise<string[]> {
  s.clock.t += GATE_LIMITS.pcrRecheckMs
  return await s.gate.reasons(0)
}

/** A db certificate added at runtime: EV_EFI_VARIABLE_AUTHORITY in PCR 7. */
const dbAuthority: EventToWrite = {
  pcr: 7,
  type: EV.EV_EFI_VARIABLE_AUTHORITY,
  data: uefiVariableData(EFI_IMAGE_SECURITY_DATABASE, 'db', new Uint8Array(40).fill(3))
}

describe('agent/gate: whether a workload may run', () => {
  it('refuses before it read the PCRs it guards, and admits a device in good standing', async () => {
    const s = setup()
    assert.match((await s.gate.reasons(0))[0]!, /has not read the PCRs/)
    await s.gate.start()
    assert.deepEqual(await s.gate.reasons(0), [])
  })

  it('a PCR extended after the keys were released is named, once the recheck interval passed', async () => {
    const s = setup()
    await s.gate.start()
    assert.deepEqual(await s.gate.reasons(0), [])
    const released = s.device.values.get(7)!
    s.device.extend(7, new Uint8Array(32).fill(0xab))
    const now = s.device.values.get(7)!
    // Within the recheck interval the last read stands (each read is a TPM command) …
    s.clock.t += GATE_LIMITS.pcrRecheckMs - 1
    assert.deepEqual(await s.gate.reasons(0), [])
    // … after it, the change is seen and named.
    s.clock.t += 1
    const reasons = await s.gate.reasons(0)
    assert.equal(reasons.length, 1)
    assert.ok(
      reasons[0]!.startsWith(
        `PCR 7 changed since the keys were released (now ${hex(now).slice(0, 16)}…, was ${hex(released).slice(0, 16)}…): `
      ),
      reasons[0]
    )
    // Putting the value back does not happen in a TPM, but the gate follows the PCRs, not a latch.
    s.device.values.set(7, released)
    assert.deepEqual(await reasonsLater(s), [])
  })

  it('names the event logged since the release for a changed PCR, and says the log accounts for it', async () => {
    const s = setup()
    await s.gate.start()
    s.device.measure(dbAuthority)
    const reasons = await reasonsLater(s)
    assert.equal(reasons.length, 1)
    const digest = hex(sha256(dbAuthority.data)).slice(0, 8)
    assert.match(
      reasons[0]!,
      new RegExp(
        `^PCR 7 changed since the keys were released \\(now [0-9a-f]{16}…, was [0-9a-f]{16}…\\): the event log accounts for it: 1 event: EV_EFI_VARIABLE_AUTHORITY db \\(40 bytes, vendor d719b2cb-[^ ]*… ${digest}… since the release$`
      )
    )
    // The boot's own PCR 7 events, there at the release, are not named.
    assert.ok(!/SecureBoot|EV_SEPARATOR/.test(reasons[0]!), reasons[0])
  })

  it('a PCR extended with no event logged is said to be extended outside the event log; events logged besides are named', async () => {
    const s = setup()
    await s.gate.start()
    s.device.extend(8, new Uint8Array(32).fill(0xab))
    assert.match(
      (await reasonsLater(s))[0]!,
      /^PCR 8 changed since the keys were released \(now [^)]*\): no logged event accounts for it: extended outside the event log$/
    )
    // An event logged too does not account for the extend beside it.
    s.device.measure(kernelCommandLineEvent('init=/bin/sh'))
    s.device.extend(8, new Uint8Array(32).fill(0xcd))
    assert.match(
      (await reasonsLater(s))[0]!,
      /: no logged event accounts for it: extended outside the event log; the log gained 1 event: EV_IPL "kernel_cmdline: init=\/bin\/sh" [0-9a-f]{8}… since the release$/
    )
  })

  it("names the agent's own measurement PCR as such, without reading the event log", async () => {
    const s = setup()
    await s.gate.start()
    const logReads = s.device.logReads
    s.device.extend(AGENT_PCR, new Uint8Array(32).fill(0xab))
    assert.match(
      (await reasonsLater(s))[0]!,
      /^PCR 23 changed since the keys were released \(now [^)]*\): it is the agent's measurement PCR, which no event log covers/
    )
    assert.equal(s.device.logReads, logReads)
  })

  it('an unreadable, garbage or oversized event log still refuses, and the reason says the log could not be read', async () => {
    const s = setup()
    await s.gate.start()
    const workload = { exe: '/usr/bin/true', exeDigest: new Uint8Array(32), pid: 42, uid: 1000, secrets: [], quorum: 0 }
    const logs: Array<[() => Uint8Array, RegExp]> = [
      [
        () => {
          throw new Error('cannot read event log \x1b[31m/sys/kernel/security/tpm0/binary_bios_measurements: EACCES')
        },
        /EACCES/
      ],
      [
        () => new Uint8Array(Buffer.from('\x1b[2Jnot an event log at all, but long enough to be read as one')),
        /out of range/
      ],
      [() => new Uint8Array(EVENTLOG_LIMITS.maxLogBytes + 1), /log size/]
    ]
    for (const [n, [bytes, why]] of logs.entries()) {
      s.device.logBytes = bytes
      s.device.extend(7, new Uint8Array(32).fill(n))
      const reasons = await reasonsLater(s)
      assert.equal(reasons.length, 1)
      assert.match(
        reasons[0]!,
        /^PCR 7 changed since the keys were released \(now [^)]*\): the event log could not be read \(.+\)$/
      )
      assert.match(reasons[0]!, why)
      assert.ok(!reasons[0]!.includes('\x1b'), 'no control characters from the log')
      const refused = await s.gate.admit(workload).catch((err: unknown) => err)
      assert.ok(refused instanceof GateRefusedError)
      assert.equal(s.appended.length, 0)
    }
  })

  it('a log unreadable at the release: the events since are those after the prefix that replays to the released value', async () => {
    const s = setup()
    s.device.logBytes = () => {
      throw new Error('not there yet')
    }
    await s.gate.start()
    s.device.logBytes = () => encodeEventLog({ algorithms: ['sha256'], events: s.device.logged }).log
    s.device.measure(dbAuthority)
    const reason = (await reasonsLater(s))[0]!
    assert.match(reason, /: the event log accounts for it: 1 event: EV_EFI_VARIABLE_AUTHORITY db /)
  })

  it('names at most GATE_LIMITS.maxEventsNamed events, each description bounded and printable, and counts the rest', async () => {
    const s = setup()
    await s.gate.start()
    const extra = 3
    for (let n = 0; n < GATE_LIMITS.maxEventsNamed + extra; n++)
      // UTF-16 text the log's describer prints as is, right-to-left override and all.
      s.device.measure({
        pcr: 8,
        type: EV.EV_IPL,
        data: new Uint8Array(Buffer.from(`grub_cmd ${n} \u202e${'x'.repeat(200)}\0`, 'utf16le'))
      })
    const reason = (await reasonsLater(s))[0]!
    assert.match(reason, new RegExp(`accounts for it: ${GATE_LIMITS.maxEventsNamed + extra} events: `))
    assert.match(reason, new RegExp(` and ${extra} more since the release$`))
    const named = [...reason.matchAll(/EV_IPL (".*?…) [0-9a-f]{8}…/g)].map((m) => m[1]!)
    assert.equal(named.length, GATE_LIMITS.maxEventsNamed)
    for (const description of named) assert.ok(description.length <= GATE_LIMITS.maxEventDescriptionChars, description)
    assert.match(named[0]!, /^"grub_cmd 0 \?x+…$/)
    assert.ok(/^[\x20-\x7e…]*$/.test(reason), 'printable ASCII only')
  })

  it('reads the event log once per changed value, not at every check', async () => {
    const s = setup()
    await s.gate.start()
    assert.equal(s.device.logReads, 1, 'once at the start')
    for (let n = 0; n < 5; n++) assert.deepEqual(await reasonsLater(s), [])
    assert.equal(s.device.logReads, 1, 'not while the PCRs are unchanged')
    s.device.measure(dbAuthority)
    for (let n = 0; n < 5; n++) assert.match((await reasonsLater(s))[0]!, /accounts for it/)
    assert.equal(s.device.logReads, 2)
    s.device.extend(7, new Uint8Array(32).fill(1))
    assert.match((await reasonsLater(s))[0]!, /outside the event log; the log gained 1 event/)
    assert.equal(s.device.logReads, 3, 'a new value is explained anew')
  })

  it('names revocation and quarantine of this device', async () => {
    const s = setup()
    await s.gate.start()
    s.revoked.add(SELF)
    s.quarantined.add(SELF)
    assert.deepEqual(await s.gate.reasons(0), [
      'the owner revoked this device',
      "this device's feed is quarantined (it signed two histories)"
    ])
  })

  it('counts a quorum of fresh trusted verdicts only, from peers in good standing', async () => {
    const s = setup()
    await s.gate.start()
    const now = s.clock.t
    s.verdicts.record(peer(1), verdict(SELF, true, now - 1000))
    s.verdicts.record(peer(2), verdict(SELF, true, now - GATE_LIMITS.verdictFreshMs - 1)) // stale
    s.verdicts.record(peer(3), verdict(SELF, false, now)) // untrusted
    s.verdicts.record(peer(4), verdict(peer(9), true, now)) // about another device
    s.verdicts.record(SELF, verdict(SELF, true, now)) // its own word
    s.verdicts.record(peer(5), verdict(SELF, true, now + GATE_LIMITS.verdictSkewMs + 1)) // dated ahead
    s.verdicts.record(peer(6), verdict(SELF, true, now))
    assert.deepEqual(await s.gate.reasons(2), [])
    const short = await s.gate.reasons(3)
    assert.equal(short.length, 1)
    assert.match(short[0]!, /^quorum short by 1: 2 of the 3 peers/)
    // A revoked or quarantined peer's word counts for nothing.
    s.revoked.add(peer(1))
    s.quarantined.add(peer(6))
    assert.match((await s.gate.reasons(1))[0]!, /^quorum short by 1: 0 of the 1/)
  })

  it("a peer's later verdict in feed order replaces its earlier one, whatever their dates; an earlier one replayed does not", async () => {
    const s = setup()
    await s.gate.start()
    const now = s.clock.t
    // A clock that ran ahead dated the trusted verdict later than the refusal that followed it.
    s.verdicts.record(peer(1), verdict(SELF, true, now + 60_000, 10))
    s.verdicts.record(peer(1), verdict(SELF, false, now - 5, 11))
    assert.match((await s.gate.reasons(1))[0]!, /quorum short by 1/)
    s.verdicts.record(peer(1), verdict(SELF, true, now, 10)) // replayed, earlier in the feed
    assert.match((await s.gate.reasons(1))[0]!, /quorum short by 1/)
  })

  it('the verdicts held are bounded: the peer heard from longest ago goes first', () => {
    const verdicts = new VerdictsOnSelf(SELF)
    for (let n = 1; n <= GATE_LIMITS.maxVerdictPeers + 10; n++) verdicts.record(peer(n), verdict(SELF, true, 100))
    const held = verdicts.trustedBy(100, 1000)
    assert.equal(held.length, GATE_LIMITS.maxVerdictPeers)
    assert.ok(!held.includes(peer(1)) && !held.includes(peer(10)))
    assert.ok(held.includes(peer(11)) && held.includes(peer(GATE_LIMITS.maxVerdictPeers + 10)))
  })

  it('refuses a quorum out of range, a bad secret name and too many secrets before anything is unsealed', async () => {
    const s = setup()
    await s.gate.start()
    for (const quorum of [-1, 1.5, GATE_LIMITS.maxQuorum + 1, Number.NaN])
      await assert.rejects(s.gate.reasons(quorum), QuorumError)
    const workload = { exe: '/usr/bin/true', exeDigest: new Uint8Array(32), pid: 42, uid: 1000, quorum: 0 }
    await assert.rejects(s.gate.admit({ ...workload, secrets: ['../device'] }), SecretNameError)
    await assert.rejects(
      s.gate.admit({
        ...workload,
        secrets: Array.from({ length: GATE_LIMITS.maxSecretsPerWorkload + 1 }, (_, i) => `s${i}`)
      }),
      GateRefusedError
    )
    assert.equal(s.appended.length, 0)
  })

  it('a refused workload gets every reason and leaves no record; an admitted one is recorded, and its stop', async () => {
    const s = setup()
    await s.gate.start()
    s.revoked.add(SELF)
    const workload = {
      exe: '/usr/bin/model-server',
      exeDigest: new Uint8Array(32).fill(5),
      pid: 42,
      uid: 1000,
      secrets: []
    }
    const refused = await s.gate.admit({ ...workload, quorum: 1 }).catch((err: unknown) => err)
    assert.ok(refused instanceof GateRefusedError)
    assert.equal(refused.code, 'ERR_GATE_REFUSED')
    assert.equal(refused.reasons.length, 2)
    assert.equal(s.appended.length, 0)

    s.revoked.delete(SELF)
    const secrets = await s.gate.admit({ ...workload, quorum: 0 })
    assert.equal(secrets.size, 0)
    await s.gate.stopped({ ...workload, reason: 'exited', exitCode: 0 })
    assert.deepEqual(
      s.appended.map((a) => [a.type, a.actor.id, a.actor.role]),
      [
        ['workload.start', `agent/${SELF}`, 'agent'],
        ['workload.stop', `agent/${SELF}`, 'agent']
      ]
    )
    assert.deepEqual(s.appended[0]!.body, {
      exe: '/usr/bin/model-server',
      exeDigest: workload.exeDigest,
      pid: 42,
      secrets: [],
      quorum: 0
    })
    assert.deepEqual(s.appended[1]!.body, {
      exe: '/usr/bin/model-server',
      exeDigest: workload.exeDigest,
      pid: 42,
      reason: 'exited',
      exitCode: 0
    })
  })
})
