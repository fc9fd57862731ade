import assert from 'node:assert/strict'
import { ALERT_LIMITS, PeerAlerts } from '../../../src/agent/replication/index.js'
import { encodeEntry, MemoryLedgerStore, type Entry, type ReplicaStore } from '../../../src/ledger/index.js'

const fleet = new Uint8Array(32).fill(7)
const feedId = (c: string): string => c.repeat(52)
const REPORTER = feedId('r')
const OTHER = feedId('s')
const ABOUT = feedId('q')

function entry(feed: string, seq: number, type: string, about = ABOUT): Entry {
  return {
    v: 1,
    fleet,
    feed,
    seq,
    prev: new Uint8Array(32),
    time: 1_780_000_000_000 + seq,
    type,
    actor: { id: `agent/${feed}`, role: 'agent' },
    device: feed,
    attest: null,
    body: type === 'alert.equivocation' ? { feed: about, epoch: 1, evidence: new Uint8Array([seq]) } : { seq }
  }
}

/** Replicas holding the given feeds' entries (what recover() reads of a ReplicaStore). */
function replicasOf(feeds: Map<string, Entry[]>): ReplicaStore {
  return {
    feeds: async () => new Map([...feeds].map(([feed, entries]) => [feed, entries.length])),
    entries: async function* (feed: string, from = 0) {
      for (const e of feeds.get(feed)!.slice(from)) yield encodeEntry(e)
    }
  } as unknown as ReplicaStore
}

/** An act() that records what it was given; alerts about devices not in `known` wait. */
function recorder(known: Set<string>) {
  const seen: string[] = []
  return {
    seen,
    act: async (e: Entry, feed: string) => {
      seen.push(`${feed.slice(0, 1)}:${e.seq}`)
      return e.type === 'alert.equivocation' && !known.has(String(e.body.feed)) ? 'unknown-device' : 'done'
    }
  } as const
}

describe("agent/replication/peer-alerts: peers' alerts acted on at least once", () => {
  let store: MemoryLedgerStore
  beforeEach(async () => {
    store = new MemoryLedgerStore()
    await store.open()
  })
  afterEach(async () => {
    await store.close()
  })

  it('acts on the alerts of a batch, not on its other entries, and on start only on what lies past the cursor', async () => {
    const held = [entry(REPORTER, 0, 'alert.tamper'), entry(REPORTER, 1, 'alert.equivocation')]
    const r = recorder(new Set([ABOUT]))
    await new PeerAlerts(store, r.act).afterBatch(REPORTER, held)
    assert.deepEqual(r.seen, ['r:1'])
    // A later batch stored, then a kill before it was acted on: the next start acts on it, and only on it.
    held.push(entry(REPORTER, 2, 'alert.revocation'), entry(REPORTER, 3, 'alert.equivocation'))
    const restarted = recorder(new Set([ABOUT]))
    await new PeerAlerts(store, restarted.act).recover(replicasOf(new Map([[REPORTER, held]])), new Set())
    assert.deepEqual(restarted.seen, ['r:2', 'r:3'])
    // Acted on: the start after that acts on nothing.
    const again = recorder(new Set([ABOUT]))
    await new PeerAlerts(store, again.act).recover(replicasOf(new Map([[REPORTER, held]])), new Set())
    assert.deepEqual(again.seen, [])
  })

  it("reads a feed it has no cursor for whole, and skips the feeds it is told to (the owner's)", async () => {
    const r = recorder(new Set([ABOUT]))
    const feeds = new Map([
      [REPORTER, [entry(REPORTER, 0, 'alert.equivocation'), entry(REPORTER, 1, 'alert.tamper')]],
      [OTHER, [entry(OTHER, 0, 'alert.revocation')]]
    ])
    await new PeerAlerts(store, r.act).recover(replicasOf(feeds), new Set([OTHER]))
    assert.deepEqual(r.seen, ['r:0'])
  })

  it('keeps an alert about a device not known here across a restart, and acts on it once the device is known', async () => {
    const known = new Set<string>()
    const r = recorder(known)
    const alerts = new PeerAlerts(store, r.act)
    await alerts.afterBatch(REPORTER, [entry(REPORTER, 0, 'alert.equivocation')])
    assert.equal(alerts.waiting, 1)
    // Nothing new about it: it still waits.
    await alerts.retryWaiting()
    assert.equal(alerts.waiting, 1)
    // A restart: read back as waiting (the cursor is past it, the replica is not read again).
    const restarted = recorder(known)
    const after = new PeerAlerts(store, restarted.act)
    await after.recover(replicasOf(new Map([[REPORTER, [entry(REPORTER, 0, 'alert.equivocation')]]])), new Set())
    assert.deepEqual(restarted.seen, ['r:0'], 'tried once, from the waiting table')
    assert.equal(after.waiting, 1)
    // The owner's enrolment of the device arrives: acted on, no longer waiting.
    known.add(ABOUT)
    await after.retryWaiting()
    assert.equal(after.waiting, 0)
    assert.deepEqual(restarted.seen, ['r:0', 'r:0'])
    const last = recorder(known)
    await new PeerAlerts(store, last.act).recover(
      replicasOf(new Map([[REPORTER, [entry(REPORTER, 0, 'alert.equivocation')]]])),
      new Set()
    )
    assert.deepEqual(last.seen, [])
  })

  it('bounds the alerts that wait per reporting feed: one feed cannot crowd out another', async () => {
    const r = recorder(new Set())
    const alerts = new PeerAlerts(store, r.act)
    const flood = Array.from({ length: ALERT_LIMITS.maxWaitingPerFeed + 5 }, (_, i) =>
      entry(REPORTER, i, 'alert.equivocation')
    )
    await alerts.afterBatch(REPORTER, flood)
    assert.equal(alerts.waiting, ALERT_LIMITS.maxWaitingPerFeed)
    await alerts.afterBatch(OTHER, [entry(OTHER, 0, 'alert.equivocation')])
    assert.equal(alerts.waiting, ALERT_LIMITS.maxWaitingPerFeed + 1)
  })

  it('does not move the cursor over a batch handed over late: a kill before it is acted on loses nothing', async () => {
    const held = Array.from({ length: 20 }, (_, i) =>
      entry(REPORTER, i, i === 5 ? 'alert.equivocation' : 'alert.tamper')
    )
    const r = recorder(new Set([ABOUT]))
    // Entries 10..19 are acted on first; 0..9 (with the alert at 5) never are: the agent is killed.
    await new PeerAlerts(store, r.act).afterBatch(REPORTER, held.slice(10))
    const restarted = recorder(new Set([ABOUT]))
    await new PeerAlerts(store, restarted.act).recover(replicasOf(new Map([[REPORTER, held]])), new Set())
    assert.deepEqual(restarted.seen, ['r:5'])
  })

  it('moves the cursor over batches acted on past a gap once the gap closes', async () => {
    const held = Array.from({ length: 30 }, (_, i) =>
      entry(REPORTER, i, i % 10 === 5 ? 'alert.equivocation' : 'alert.tamper')
    )
    const r = recorder(new Set([ABOUT]))
    const alerts = new PeerAlerts(store, r.act)
    await alerts.afterBatch(REPORTER, held.slice(20))
    await alerts.afterBatch(REPORTER, held.slice(10, 20))
    await alerts.afterBatch(REPORTER, held.slice(0, 10))
    assert.deepEqual(r.seen.sort(), ['r:15', 'r:25', 'r:5'])
    const restarted = recorder(new Set([ABOUT]))
    await new PeerAlerts(store, restarted.act).recover(replicasOf(new Map([[REPORTER, held]])), new Set())
    assert.deepEqual(restarted.seen, [], 'all 30 acted on: nothing to do on start')
  })

  it('keeps the cursor before an alert whose acting failed (a full disk): the next start acts on it', async () => {
    const held = [entry(REPORTER, 0, 'alert.revocation'), entry(REPORTER, 1, 'alert.equivocation')]
    const alerts = new PeerAlerts(store, async () => {
      throw new Error('no space left on device')
    })
    await assert.rejects(alerts.afterBatch(REPORTER, held.slice(0, 1)), /no space/)
    const r = recorder(new Set([ABOUT]))
    const restarted = new PeerAlerts(store, r.act)
    await restarted.recover(replicasOf(new Map([[REPORTER, held]])), new Set())
    assert.deepEqual(r.seen, ['r:0', 'r:1'])
  })

  it("starts a feed over when its cursor's entry changed (the replica moved to a new epoch) before a kill", async () => {
    const before = Array.from({ length: 100 }, (_, i) => entry(REPORTER, i, 'alert.tamper'))
    await new PeerAlerts(store, recorder(new Set([ABOUT])).act).afterBatch(REPORTER, before)
    // Rewound to 40 for the new epoch, then 40..59 of it stored (an alert at 45), then killed.
    const after = [
      ...before.slice(0, 40),
      ...Array.from({ length: 20 }, (_, i) => ({
        ...entry(REPORTER, 40 + i, i === 5 ? 'alert.equivocation' : 'alert.tamper'),
        time: 1
      }))
    ]
    const r = recorder(new Set([ABOUT]))
    await new PeerAlerts(store, r.act).recover(replicasOf(new Map([[REPORTER, after]])), new Set())
    assert.deepEqual(r.seen, ['r:45'])
    // Grown past the old cursor in the new epoch: the hash at the cursor tells it apart as well.
    const longer = [
      ...after,
      ...Array.from({ length: 60 }, (_, i) => ({ ...entry(REPORTER, 60 + i, 'alert.tamper'), time: 1 }))
    ]
    const store2 = new MemoryLedgerStore()
    await store2.open()
    await new PeerAlerts(store2, recorder(new Set([ABOUT])).act).afterBatch(REPORTER, before)
    const again = recorder(new Set([ABOUT]))
    await new PeerAlerts(store2, again.act).recover(replicasOf(new Map([[REPORTER, longer]])), new Set())
    assert.deepEqual(again.seen, ['r:45'])
    await store2.close()
  })

  it('retries waiting alerts one at a time: two retries at once act once and count right', async () => {
    const known = new Set<string>()
    const r = recorder(known)
    const alerts = new PeerAlerts(store, r.act)
    await alerts.afterBatch(REPORTER, [entry(REPORTER, 0, 'alert.equivocation')])
    known.add(ABOUT)
    await Promise.all([alerts.retryWaiting(), alerts.retryWaiting(), alerts.retryWaiting()])
    assert.deepEqual(r.seen, ['r:0', 'r:0'], 'once when stored, once when known')
    assert.equal(alerts.waiting, 0)
    await alerts.afterBatch(REPORTER, [entry(REPORTER, 1, 'alert.equivocation', OTHER)])
    assert.equal(alerts.waiting, 1)
  })
})
