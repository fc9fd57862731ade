/**
 * Announcer: announces to a peer go over one long-lived stream (in-memory libp2p stream pairs
 * here), in order, newer ones replacing those still waiting, and a stream the peer closed is
 * replaced by a new one.
 */
import assert from 'node:assert/strict'
import { streamPair } from '@libp2p/utils'
import type { Connection, Stream } from '@libp2p/interface'
import { Announcer, type Push } from '../../../src/agent/replication/announcer.js'
import {
  readOpening,
  readNextAnnounce,
  encodeBatch,
  type Announcement
} from '../../../src/agent/replication/messages.js'
import type { SyncBatch } from '../../../src/ledger/index.js'
import { FramedStream } from '../../../src/p2p/index.js'
import { until } from '../../helpers/wait.js'

const feed = (i: number): string => String.fromCharCode(97 + (i % 26)).repeat(52)

/** A clock that moves only when the test moves it. */
const testClock = (): { at: number; now: () => number } => {
  const clock = { at: 0, now: () => clock.at }
  return clock
}

/** Resolves once the other end of `stream` has closed its writable end (or the stream is gone). */
async function closedByPeer(stream: Stream): Promise<void> {
  if (stream.remoteWriteStatus !== 'writable' || stream.status !== 'open') return
  await new Promise<void>((resolve) => {
    stream.addEventListener(
      'remoteCloseWrite',
      () => {
        resolve()
      },
      { once: true }
    )
    stream.addEventListener(
      'close',
      () => {
        resolve()
      },
      { once: true }
    )
  })
}

describe('agent/announcer: one announce stream per peer', function () {
  this.timeout(20_000)

  /**
   * An announcer towards one peer. `streams` are the receiving ends, `senders` the announcer's
   * ends, `ended` resolves, per stream, once the receiver stopped reading it (the sender closed
   * it, or it idled) and closed its own end.
   */
  function peer(
    idleMs = 5_000,
    senderIdleMs = 60_000,
    allowed?: (peerId: string) => boolean,
    clock = testClock()
  ): {
    connection: Connection
    announcer: Announcer
    got: Array<{ feed: string; size: number; checkpoint: string }>
    pushed: SyncBatch[]
    streams: FramedStream[]
    senders: Stream[]
    ended: Array<Promise<void>>
    clock: ReturnType<typeof testClock>
  } {
    const got: Array<{ feed: string; size: number; checkpoint: string }> = []
    const pushed: SyncBatch[] = []
    const streams: FramedStream[] = []
    const senders: Stream[] = []
    const ended: Array<Promise<void>> = []
    const connection = { remotePeer: { toString: () => 'peer-b' }, status: 'open' } as unknown as Connection
    const announcer = new Announcer(
      async () => {
        const [a, b] = await streamPair()
        const receiver = new FramedStream(b, { timeoutMs: 2_000 })
        streams.push(receiver)
        senders.push(a)
        // The receiving side, as the runtime serves it: the opening announce, then the next ones until the stream ends or idles.
        ended.push(
          (async () => {
            const opening = await readOpening(receiver)
            if (opening.t === 'pull') throw new Error('not an announce')
            for (
              let next: Announcement | undefined = opening;
              next !== undefined;
              next = await readNextAnnounce(receiver, idleMs)
            ) {
              if (next.t === 'push') pushed.push(next.batch)
              else got.push({ feed: next.feed, size: next.size, checkpoint: next.checkpoint })
            }
            await receiver.close()
          })().catch(() => undefined)
        )
        return new FramedStream(a, { timeoutMs: 2_000 })
      },
      { idleMs: senderIdleMs, allowed, clock }
    )
    return { connection, announcer, got, pushed, streams, senders, ended, clock }
  }

  const push = (f: string, from: number, count: number): Push => ({
    from,
    frame: encodeBatch({
      feed: f,
      from,
      entries: Array.from({ length: count }, (_, i) => new Uint8Array([0xa0 + from + i])),
      checkpoint: `checkpoint ${from + count}`,
      proof: []
    })
  })

  it('a push replaces a waiting one only when it starts no later; one that would leave a gap goes as an announce', async () => {
    const { connection, announcer, got, pushed } = peer()
    announcer.send(connection, feed(9), 1, 'being written')
    // Same start: the newer push (more entries) replaces the waiting one.
    announcer.send(connection, feed(0), 12, 'checkpoint 12', push(feed(0), 10, 2))
    announcer.send(connection, feed(0), 14, 'checkpoint 14', push(feed(0), 10, 4))
    // A later start would skip the waiting push's entries: a plain announce of the newer size instead.
    announcer.send(connection, feed(1), 5, 'checkpoint 5', push(feed(1), 3, 2))
    announcer.send(connection, feed(1), 7, 'checkpoint 7', push(feed(1), 5, 2))
    // Announces to a peer go out in order: once the last one queued has arrived, so has everything sent before it.
    announcer.send(connection, feed(25), 1, 'the last')
    await until(() => got.some((a) => a.feed === feed(25)), 'the last announce')
    assert.deepEqual(
      pushed.map((b) => [b.feed, b.from, b.entries.length, b.checkpoint]),
      [[feed(0), 10, 4, 'checkpoint 14']]
    )
    assert.deepEqual(
      pushed[0]!.entries.map((e) => e[0]),
      [0xaa, 0xab, 0xac, 0xad]
    )
    assert.deepEqual(
      got.filter((a) => a.feed === feed(1)),
      [{ feed: feed(1), size: 7, checkpoint: 'checkpoint 7' }]
    )
    announcer.forget('peer-b')
  })

  it('an announce queued for a peer that lost its attestation before it was written is not sent, and the peer is forgotten', async () => {
    let attested = true
    const { connection, announcer, got, streams, ended } = peer(5_000, 60_000, () => attested)
    announcer.send(connection, feed(0), 1, 'n1')
    await until(() => got.length === 1, 'the first announce')
    // feed 1 is being written when feed 2 is queued; then the peer's attestation lapses.
    announcer.send(connection, feed(1), 2, 'n2')
    announcer.send(connection, feed(2), 3, 'n3')
    attested = false
    await until(() => announcer.size === 0, 'the peer forgotten', 2_000)
    // And nothing new is queued for it.
    announcer.send(connection, feed(3), 4, 'n4')
    assert.equal(announcer.size, 0)
    // The old stream is closed (the receiver has read all that was written on it), and once the peer
    // is attested again the next announce goes on a new stream: anything of n3 or n4 would come before it.
    await ended[0]
    attested = true
    announcer.send(connection, feed(4), 5, 'the last')
    await until(() => got.some((a) => a.feed === feed(4)), 'the announce after the attestation came back')
    assert.deepEqual(
      got.map((a) => a.feed),
      [feed(0), feed(1), feed(4)]
    )
    assert.equal(streams.length, 2)
    announcer.forget('peer-b')
  })

  it('sends many announces on one stream, in order', async () => {
    const { connection, announcer, got, streams } = peer()
    for (let i = 0; i < 100; i++) announcer.send(connection, feed(i), i, `note ${i}`)
    await until(() => got.length >= 26, 'the announces')
    assert.equal(streams.length, 1)
    // Each feed's newest size arrives, and nothing arrives twice for a size already sent.
    const newest = new Map<string, number>()
    for (const a of got) newest.set(a.feed, Math.max(newest.get(a.feed) ?? -1, a.size))
    for (let i = 74; i < 100; i++) assert.equal(newest.get(feed(i)), i)
    assert.ok(got.length <= 100)
    announcer.forget('peer-b')
  })

  it('while a write is under way, a newer announce of a feed replaces the one waiting; at one size the note with more signatures wins', async () => {
    const { connection, announcer, got } = peer()
    announcer.send(connection, feed(0), 1, 'n1')
    announcer.send(connection, feed(1), 5, 'n5 with a cosignature')
    announcer.send(connection, feed(1), 5, 'n5')
    announcer.send(connection, feed(0), 2, 'n2')
    announcer.send(connection, feed(0), 3, 'n3')
    // In order: once the last one queued has arrived, so has everything sent before it.
    announcer.send(connection, feed(25), 1, 'the last')
    await until(() => got.some((a) => a.feed === feed(25)), 'the last announce')
    assert.deepEqual(
      got.filter((a) => a.feed === feed(0)).map((a) => a.size),
      [1, 3]
    )
    assert.deepEqual(
      got.filter((a) => a.feed === feed(1)).map((a) => a.checkpoint),
      ['n5 with a cosignature']
    )
    announcer.forget('peer-b')
  })

  it('opens a new stream when the peer closed the old one (after its idle time), and loses no announce to it', async () => {
    const { connection, announcer, got, streams, senders } = peer(200)
    announcer.send(connection, feed(0), 1, 'n1')
    await until(() => got.length === 1, 'the first announce')
    // The receiver gives up on the quiet stream; the announcer's end learns that the peer closed it.
    await closedByPeer(senders[0]!)
    announcer.send(connection, feed(0), 2, 'n2')
    await until(() => got.length === 2, 'the announce after the idle close')
    assert.equal(streams.length, 2)
    announcer.forget('peer-b')
    assert.equal(announcer.size, 0)
  })

  it('starts a new stream itself after its own quiet spell, before the peer would give up on the old one', async () => {
    const { connection, announcer, got, streams, clock } = peer(5_000, 100)
    announcer.send(connection, feed(0), 1, 'n1')
    await until(() => got.length === 1, 'the first announce')
    // Quiet for exactly its idle time: the stream is still used.
    clock.at += 100
    announcer.send(connection, feed(0), 2, 'n2')
    await until(() => got.length === 2, 'the announce after a spell of its idle time')
    assert.equal(streams.length, 1)
    // Quiet for longer: a new stream.
    clock.at += 101
    announcer.send(connection, feed(0), 3, 'n3')
    await until(() => got.length === 3, 'the announce after the quiet spell')
    assert.equal(streams.length, 2)
    announcer.forget('peer-b')
  })
})
