/**
 * The gate's judgement, on its own (a stand-in TPM and ledger): what makes it refuse a workload
 * and what it records. The same gate on swtpm with real child processes: test/cli/exec.test.ts.
 */
import assert from 'node:assert/strict'
import type { PcrSelection, PcrValues, Tpm } from '../../../src/attest/index.js'
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
const SELECTION: PcrSelection = [{ hash: 'sha256', pcrs: [0, 7, 23] }]

function pcrs(seven: number): PcrValues {
  return {
    sha256: new Map([
      [0, new Uint8Array(32)],
      [7, new Uint8Array(32).fill(seven)],
      [23, new Uint8Array(32).fill(9)]
    ])
  }
}

let nextSeq = 0
const verdict = (subject: string, trusted: boolean, time: number, seq = nextSeq++): Entry =>
  ({ type: 'attest.verdict', seq, time, body: { subject, trusted, reasons: [] } }) as unknown as Entry

function setup(): {
  gate: Gate
  verdicts: VerdictsOnSelf
  clock: { t: number; now(): number }
  tpm: { seven: number; reads: number }
  revoked: Set<string>
  quarantined: Set<string>
  appended: AppendInput[]
} {
  const clock = { t: 1_000_000, now: () => clock.t }
  const tpm = { seven: 1, reads: 0 }
  const fakeTpm = {
    readPcrs: async () => {
      tpm.reads++
      return pcrs(tpm.seven)
    }
  } as unknown as Tpm
  const verdicts = new VerdictsOnSelf(SELF)
  const revoked = new Set<string>()
  const quarantined = new Set<string>()
  const appended: AppendInput[] = []
  const gate = new Gate({
    tpm: fakeTpm,
    state: { deviceId: SELF, sealing: { selection: SELECTION } } as unknown as DeviceState,
    dir: '/nonexistent',
    clock,
    verdicts,
    isRevoked: (id) => revoked.has(id),
    isQuarantined: (id) => quarantined.has(id),
    ledger: {
      append: async (input) => {
        appended.push(input)
        return { seq: appended.length - 1, hash: new Uint8Array(32) }
      }
    }
  })
  return { gate, verdicts, clock, tpm, revoked, quarantined, appended }
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
    s.tpm.seven = 2
    // Within the recheck interval the last read stands (each read is a TPM command) …
    s.clock.t += GATE_LIMITS.pcrRecheckMs - 1
    assert.deepEqual(await s.gate.reasons(0), [])
    // … after it, the change is seen and named.
    s.clock.t += 1
    const reasons = await s.gate.reasons(0)
    assert.equal(reasons.length, 1)
    assert.match(reasons[0]!, /^PCR 7 changed since the keys were released \(now 0202/)
    // Putting the value back does not happen in a TPM, but the gate follows the PCRs, not a latch.
    s.tpm.seven = 1
    s.clock.t += GATE_LIMITS.pcrRecheckMs
    assert.deepEqual(await s.gate.reasons(0), [])
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
    const workload = { exe: '/usr/bin/true', exeDigest: new Uint8Array(32), pid: 42, quorum: 0 }
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
    const workload = { exe: '/usr/bin/model-server', exeDigest: new Uint8Array(32).fill(5), pid: 42, secrets: [] }
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
