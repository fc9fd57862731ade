import assert from 'node:assert/strict'
import {
  announceKind,
  feedsDue,
  headsToTell,
  isFleetFeed,
  pickRandom,
  planAnnounce,
  receive,
  serveOrder,
  shouldPull,
  upToCut,
  type PeerHeadsView
} from '../../../src/agent/replication/planner.js'
import type { SyncBatch } from '../../../src/ledger/index.js'

const OWN = 'own'.padEnd(52, 'a')
const OWNER = 'owner'.padEnd(52, 'b')
const PEER_FEED = 'peer'.padEnd(52, 'c')
const STRANGER_FEED = 'stranger'.padEnd(52, 'd')
const known = { ownFeed: OWN, ownerFeed: OWNER, isMember: (feed: string) => feed === PEER_FEED }

/** What peers said they hold, as a plain table. */
function heads(table: Record<string, Record<string, number>>): PeerHeadsView {
  const of = (peerId: string, feed: string): number | undefined => table[peerId]?.[feed]
  return { of, holds: (peerId, feed, size) => (of(peerId, feed) ?? -1) >= size }
}

const batch = (feed: string, from: number, count: number): SyncBatch => ({
  feed,
  from,
  entries: Array.from({ length: count }, () => new Uint8Array([1])),
  checkpoint: 'note',
  proof: []
})

describe('agent/replication/planner: replication decisions without sockets, TPMs or stores', () => {
  it("a revoked device's feed counts only up to the owner's cut, in every head told to peers", () => {
    assert.equal(upToCut(10, 4), 4)
    assert.equal(upToCut(3, 4), 3)
    assert.equal(upToCut(10, undefined), 10)
    const told = headsToTell(
      new Map([
        [PEER_FEED, 10],
        [OWNER, 7]
      ]),
      (feed) => (feed === PEER_FEED ? 4 : undefined),
      { feed: OWN, sealed: 5 }
    )
    assert.deepEqual(
      [...told].sort(),
      [
        [OWN, 5],
        [OWNER, 7],
        [PEER_FEED, 4]
      ].sort()
    )
  })

  it("only the fleet's feeds are looked up: a made-up name announced by a peer is not", () => {
    assert.equal(isFleetFeed(PEER_FEED, known), true)
    assert.equal(isFleetFeed(OWNER, known), true)
    assert.equal(isFleetFeed(STRANGER_FEED, known), false)
  })

  it("the own and the owner's feeds go to all; a just-cosigned feed as a cosignature; others are relayed when due", () => {
    const cosigned = new Set([PEER_FEED])
    assert.equal(announceKind(OWN, known, cosigned), 'all')
    assert.equal(announceKind(OWNER, known, cosigned), 'all')
    assert.equal(announceKind(PEER_FEED, known, cosigned), 'cosignature')
    assert.equal(announceKind(PEER_FEED, known, new Set()), 'relay')
    const due = feedsDue(
      [OWN, PEER_FEED, STRANGER_FEED],
      (feed) => announceKind(feed, known, new Set()),
      (feed) => feed === STRANGER_FEED
    )
    assert.deepEqual(due, [OWN, STRANGER_FEED])
  })

  it('a peer that said it holds as much hears nothing, unless there is a new cosignature', () => {
    const input = {
      feed: PEER_FEED,
      size: 8,
      note: 'n',
      cosigned: false,
      push: false,
      pushMaxEntries: 64,
      peers: ['p1', 'p2'],
      peerHeads: heads({ p1: { [PEER_FEED]: 8 }, p2: { [PEER_FEED]: 3 } })
    }
    assert.deepEqual(
      planAnnounce(input).map((p) => p.peerId),
      ['p2']
    )
    assert.deepEqual(
      planAnnounce({ ...input, cosigned: true }).map((p) => p.peerId),
      ['p1', 'p2']
    )
  })

  it('the own feed is pushed from where each peer stands, a new peer gets a small feed whole, a peer far behind only an announce', () => {
    const plan = planAnnounce({
      feed: OWN,
      size: 100,
      note: 'n',
      cosigned: false,
      push: true,
      pushMaxEntries: 64,
      peers: ['near', 'far', 'new'],
      peerHeads: heads({ near: { [OWN]: 90 }, far: { [OWN]: 10 } })
    })
    assert.deepEqual(plan, [
      { peerId: 'near', size: 100, note: 'n', pushFrom: 90 },
      { peerId: 'far', size: 100, note: 'n' },
      { peerId: 'new', size: 100, note: 'n' }
    ])
    const small = planAnnounce({
      feed: OWN,
      size: 5,
      note: 'n',
      cosigned: false,
      push: true,
      pushMaxEntries: 64,
      peers: ['new'],
      peerHeads: heads({})
    })
    assert.deepEqual(small, [{ peerId: 'new', size: 5, note: 'n', pushFrom: 0 }])
  })

  it('a server standing in for the own feed decides what each peer is told, and nothing is pushed', () => {
    const plan = planAnnounce({
      feed: OWN,
      size: 5,
      note: 'honest',
      cosigned: false,
      push: false,
      pushMaxEntries: 64,
      peers: ['victim', 'other'],
      peerHeads: heads({ victim: { [OWN]: 9 }, other: { [OWN]: 5 } }),
      override: (peerId) => (peerId === 'victim' ? { size: 6, checkpoint: 'fork' } : undefined)
    })
    // The victim hears of the fork even though it said it holds more; the other peer, at 5, hears nothing.
    assert.deepEqual(plan, [{ peerId: 'victim', size: 6, note: 'fork' }])
  })

  it("an unattested peer is not heard, but for an announce of the owner's feed (never a push of it)", () => {
    assert.deepEqual(
      receive({ t: 'announce', feed: PEER_FEED, size: 9, checkpoint: '' }, { attested: false }, OWNER, 0),
      { action: 'ignore' }
    )
    assert.deepEqual(receive({ t: 'push', batch: batch(OWNER, 0, 3) }, { attested: false }, OWNER, 0), {
      action: 'ignore'
    })
    const owner = { t: 'announce' as const, feed: OWNER, size: 9, checkpoint: 'c' }
    assert.deepEqual(receive(owner, { attested: false }, OWNER, 0), { action: 'owner-announce', announce: owner })
  })

  it("an attested peer's push is applied only when it brings more than is held; a pull follows when still behind", () => {
    const push = { t: 'push' as const, batch: batch(PEER_FEED, 4, 3) }
    const ahead = receive(push, { attested: true }, OWNER, 4)
    assert.equal(ahead.action, 'announce')
    assert.equal(ahead.action === 'announce' ? ahead.applyPush : undefined, push.batch)
    const stale = receive(push, { attested: true }, OWNER, 7)
    assert.deepEqual(stale, { action: 'announce', announce: { feed: PEER_FEED, size: 7, checkpoint: 'note' } })
    assert.equal(shouldPull({ feed: PEER_FEED, size: 7, checkpoint: '' }, 4), true)
    assert.equal(shouldPull({ feed: PEER_FEED, size: 7, checkpoint: '' }, 7), false)
  })

  it("a puller is served the owner's feed first, then the own feed, then the other replicas by name", () => {
    const order = serveOrder([PEER_FEED, STRANGER_FEED, OWNER], known)
    assert.deepEqual(order, [
      { feed: OWNER, own: false },
      { feed: OWN, own: true },
      { feed: PEER_FEED, own: false },
      { feed: STRANGER_FEED, own: false }
    ])
    assert.deepEqual(serveOrder([], known), [{ feed: OWN, own: true }])
    // Replicas come from a store as an iterator: read once, the owner's feed is still first.
    assert.deepEqual(
      serveOrder(
        new Map([
          [PEER_FEED, 1],
          [OWNER, 1]
        ]).keys(),
        known
      )[0],
      { feed: OWNER, own: false }
    )
  })

  it('picks at random with the random source given: the same draws, the same peers', () => {
    const items = ['a', 'b', 'c', 'd', 'e']
    const draws = (): (() => number) => {
      let i = 0
      const fixed = [0.9, 0.1, 0.5]
      return () => fixed[i++ % fixed.length]!
    }
    assert.deepEqual(pickRandom(items, 2, draws()), pickRandom(items, 2, draws()))
    assert.deepEqual(pickRandom(items, 2, draws()), ['e', 'b'])
    assert.equal(pickRandom(items, 9, Math.random).length, 5)
    assert.deepEqual(new Set(pickRandom(items, 5, Math.random)), new Set(items))
  })
})
