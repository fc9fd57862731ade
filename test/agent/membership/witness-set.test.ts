import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { witnessSet } from '../../../src/agent/index.js'

const id = (i: number): string =>
  createHash('sha256')
    .update(`device-${i}`)
    .digest('hex')
    .slice(0, 52)
    .replace(/[0189]/g, 'a')

describe('agent/witnessSet: which devices cosign a feed', () => {
  const devices = Array.from({ length: 50 }, (_, i) => id(i))

  it("picks `count` devices other than the feed's own, the same whatever order the members are listed in", () => {
    for (const feed of devices.slice(0, 10)) {
      const set = witnessSet(feed, devices, 4)
      assert.equal(set.length, 4)
      assert.equal(new Set(set).size, 4)
      assert.ok(!set.includes(feed))
      assert.ok(set.every((d) => devices.includes(d)))
      assert.deepEqual(witnessSet(feed, [...devices].reverse(), 4), set)
    }
  })

  it('takes every other device when there are no more than `count`, and none for a count of 0', () => {
    const few = devices.slice(0, 4)
    assert.deepEqual(witnessSet(few[0]!, few, 4).sort(), few.slice(1).sort())
    assert.deepEqual(witnessSet(few[0]!, few, 0), [])
  })

  it('spreads the work: each device witnesses about `count` feeds of the fleet, not all of them', () => {
    const load = new Map<string, number>()
    for (const feed of devices) for (const w of witnessSet(feed, devices, 4)) load.set(w, (load.get(w) ?? 0) + 1)
    const total = [...load.values()].reduce((a, b) => a + b, 0)
    assert.equal(total, 50 * 4)
    // No device carries a large share: at most 4 times its fair share of 4 feeds.
    assert.ok(Math.max(...load.values()) <= 16, `the busiest device witnesses ${Math.max(...load.values())} feeds`)
  })

  it('moves to the next device when one leaves (revoked or quarantined), keeping the rest', () => {
    const feed = devices[0]!
    const set = witnessSet(feed, devices, 4)
    const without = witnessSet(
      feed,
      devices.filter((d) => d !== set[1]),
      4
    )
    assert.equal(without.length, 4)
    assert.ok(!without.includes(set[1]!))
    for (const d of set.filter((d) => d !== set[1])) assert.ok(without.includes(d))
  })
})
