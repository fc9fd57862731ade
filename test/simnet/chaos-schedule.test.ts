/** The fault campaign's schedule: a pure function of its seed, every fault mended before the final heal. */
import assert from 'node:assert/strict'
import {
  chaosSchedule,
  chaosSteps,
  faultsByKind,
  seededRandom,
  FAULT_KINDS,
  SCHEDULE_LIMITS
} from '../../simnet/chaos/schedule.js'

describe('chaos schedule', () => {
  const init = { seed: 42, nodes: 4, minutes: 3, kinds: FAULT_KINDS }

  it('SplitMix64 gives the published sequence for seed 0', () => {
    // First outputs of SplitMix64 from state 0: 0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4.
    const random = seededRandom(0)
    assert.equal(random(), Number(0xe220a8397b1dcdafn >> 11n) / 2 ** 53)
    assert.equal(random(), Number(0x6e789e6aa1b965f4n >> 11n) / 2 ** 53)
  })

  it('the same seed gives the same schedule; another seed another', () => {
    assert.deepEqual(chaosSchedule(init), chaosSchedule({ ...init }))
    const others = [1, 2, 3, 0xffffffff].map((seed) => chaosSchedule({ ...init, seed }))
    for (const other of others) assert.notDeepEqual(other.faults, chaosSchedule(init).faults)
  })

  it('draws every kind asked for, and only those', () => {
    assert.deepEqual(
      Object.keys(faultsByKind(chaosSchedule({ ...init, minutes: 10 }).faults)).sort(),
      [...FAULT_KINDS].sort()
    )
    const kills = chaosSchedule({ ...init, kinds: ['agent-kill'] })
    assert.ok(kills.faults.length > 5)
    assert.ok(kills.faults.every((f) => f.kind === 'agent-kill'))
  })

  for (const seed of [0, 7, 1234, 99999, 0xdeadbeef]) {
    it(`seed ${seed}: every fault is repaired within the fault phase, on one node at a time, one node always spared`, () => {
      for (const nodes of [2, 3, 4]) {
        const schedule = chaosSchedule({ ...init, seed, nodes, minutes: 2 })
        assert.ok(schedule.faults.length > 0)
        let active = new Map<number, number>()
        for (const step of chaosSteps(schedule)) {
          const { fault } = step
          assert.ok(fault.node >= 0 && fault.node < nodes)
          if (step.action === 'inject') {
            assert.equal(active.has(fault.node), false, `node ${fault.node} hurt twice at once`)
            active.set(fault.node, fault.repairAtMs)
            assert.ok(active.size <= nodes - 1, 'every node hurt at once')
          } else {
            assert.equal(active.get(fault.node), step.atMs)
            active = new Map([...active].filter(([node]) => node !== fault.node))
          }
          assert.ok(fault.repairAtMs > fault.atMs)
          assert.ok(fault.repairAtMs - fault.atMs <= SCHEDULE_LIMITS.maxFaultMs)
          assert.ok(fault.repairAtMs <= schedule.faultPhaseMs)
        }
        // The final heal has nothing left to mend.
        assert.equal(active.size, 0)
      }
    })
  }

  it('a hostile peer joins once, in the first half of the fault phase, and leaves the faults as they were', () => {
    const plain = chaosSchedule(init)
    const hostile = chaosSchedule({ ...init, hostile: true })
    assert.deepEqual(hostile.faults, plain.faults)
    assert.equal(plain.hostileJoinAtMs, undefined)
    const at = hostile.hostileJoinAtMs!
    assert.ok(at >= 0.1 * hostile.faultPhaseMs && at <= 0.5 * hostile.faultPhaseMs, String(at))
    assert.equal(chaosSchedule({ ...init, hostile: true }).hostileJoinAtMs, at)
    assert.notEqual(chaosSchedule({ ...init, seed: 43, hostile: true }).hostileJoinAtMs, at)
  })

  it('refuses what no schedule can be drawn for', () => {
    assert.throws(() => chaosSchedule({ ...init, seed: -1 }), RangeError)
    assert.throws(() => chaosSchedule({ ...init, seed: 2 ** 32 }), RangeError)
    assert.throws(() => chaosSchedule({ ...init, nodes: 1 }), RangeError)
    assert.throws(() => chaosSchedule({ ...init, minutes: 0 }), RangeError)
    assert.throws(() => chaosSchedule({ ...init, kinds: [] }), RangeError)
  })
})
