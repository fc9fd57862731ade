/**
 * The gate's table of admitted workloads: a stop is recorded only by the process a workload was
 * admitted to (a forged or replayed stop is refused); the table is bounded per user and in all,
 * and a workload whose `fleet exec` was killed is recorded as stopped when room is made.
 */
import assert from 'node:assert/strict'
import type { PcrSelection, PcrValues, Tpm } from '../../../src/attest/index.js'
import {
  GATE_LIMITS,
  Gate,
  GateRefusedError,
  NotAdmittedError,
  TooManyGatedWorkloadsError,
  VerdictsOnSelf,
  type DeviceState
} from '../../../src/agent/index.js'
import type { AppendInput } from '../../../src/ledger/index.js'

const SELF = 'bb'.repeat(32)
const SELECTION: PcrSelection = [{ hash: 'sha256', pcrs: [7] }]
const VALUES: PcrValues = { sha256: new Map([[7, new Uint8Array(32).fill(1)]]) }

async function started(dead: Set<number>, failing = { next: false }): Promise<{ gate: Gate; appended: AppendInput[] }> {
  const appended: AppendInput[] = []
  const gate = new Gate({
    tpm: { readPcrs: async () => VALUES } as unknown as Tpm,
    state: { deviceId: SELF, sealing: { selection: SELECTION } } as unknown as DeviceState,
    dir: '/nonexistent',
    clock: { now: () => 1_000_000 },
    verdicts: new VerdictsOnSelf(SELF),
    isRevoked: () => false,
    isQuarantined: () => false,
    ledger: {
      append: async (input) => {
        if (failing.next) {
          failing.next = false
          throw new Error('the store refused the write')
        }
        appended.push(input)
        return { seq: appended.length - 1, hash: new Uint8Array(32) }
      }
    },
    alive: (pid) => !dead.has(pid),
    eventLog: async () => new Uint8Array(0)
  })
  await gate.start()
  return { gate, appended }
}

const workload = (pid: number, uid = 1000) => ({
  exe: '/usr/bin/model-server',
  exeDigest: new Uint8Array(32).fill(3),
  pid,
  uid,
  secrets: [],
  quorum: 0
})

describe('agent/gate: the workloads admitted, and whose stop is recorded', () => {
  it('records a stop from the process the workload was admitted to only, once, with what was admitted', async () => {
    const { gate, appended } = await started(new Set())
    await gate.admit(workload(42))
    // Another process, the same process as another user, a workload never admitted: refused, nothing recorded.
    await assert.rejects(gate.stopped({ pid: 43, uid: 1000, reason: 'exited' }), NotAdmittedError)
    await assert.rejects(gate.stopped({ pid: 42, uid: 1001, reason: 'exited' }), NotAdmittedError)
    assert.equal(appended.length, 1)
    await gate.stopped({ pid: 42, uid: 1000, reason: 'exited', exitCode: 0 })
    assert.equal(appended.length, 2)
    assert.deepEqual(appended[1]!.body, {
      exe: '/usr/bin/model-server',
      exeDigest: new Uint8Array(32).fill(3),
      pid: 42,
      reason: 'exited',
      exitCode: 0
    })
    // Replayed: the workload is stopped already.
    await assert.rejects(gate.stopped({ pid: 42, uid: 1000, reason: 'exited' }), NotAdmittedError)
    assert.equal(gate.running, 0)
  })

  it('a stop that could not be written stays to be reported again: the workload is not forgotten unrecorded', async () => {
    const failing = { next: false }
    const { gate, appended } = await started(new Set(), failing)
    await gate.admit(workload(42))
    failing.next = true
    await assert.rejects(gate.stopped({ pid: 42, uid: 1000, reason: 'exited' }), /refused the write/)
    assert.ok(gate.isAdmitted(42, 1000))
    await gate.stopped({ pid: 42, uid: 1000, reason: 'exited' })
    assert.deepEqual(
      appended.map((a) => a.type),
      ['workload.start', 'workload.stop']
    )
    assert.equal(gate.isAdmitted(42, 1000), false)
  })

  it('admits one workload a process at a time, even asked twice at once', async () => {
    const { gate, appended } = await started(new Set())
    const both = await Promise.allSettled([gate.admit(workload(42)), gate.admit(workload(42))])
    assert.deepEqual(
      both.map((outcome) => outcome.status),
      ['fulfilled', 'rejected']
    )
    assert.equal(appended.length, 1)
    await assert.rejects(gate.admit(workload(42)), GateRefusedError)
    assert.equal(gate.running, 1)
  })

  it("bounds one user's workloads; room is made from those whose fleet exec is gone, each recorded as stopped", async () => {
    const dead = new Set<number>()
    const { gate, appended } = await started(dead)
    for (let pid = 1; pid <= GATE_LIMITS.maxAdmittedPerUid; pid++) await gate.admit(workload(pid))
    const full = await gate.admit(workload(10_000)).catch((err: unknown) => err)
    assert.ok(full instanceof TooManyGatedWorkloadsError)
    assert.equal(full.code, 'ERR_GATE_TOO_MANY_WORKLOADS')
    // Another user is not held back by this one's bound.
    await gate.admit(workload(20_000, 1001))
    dead.add(5)
    dead.add(6)
    const before = appended.length
    await gate.admit(workload(10_000))
    const swept = appended.slice(before, before + 2)
    assert.deepEqual(
      swept.map((a) => [a.type, a.body.pid]),
      [
        ['workload.stop', 5],
        ['workload.stop', 6]
      ]
    )
    assert.match(swept[0]!.body.reason as string, /ended without reporting the stop/)
    assert.equal(appended.at(-1)!.type, 'workload.start')
    // The full user's workloads, less the two gone, plus the new one; and the other user's.
    assert.equal(gate.running, GATE_LIMITS.maxAdmittedPerUid - 2 + 1 + 1)
  })
})
