/**
 * /fleet/ledger-sync/1 messages over an in-memory libp2p stream pair: the happy path, and every
 * refusal of malformed or out-of-order messages with a typed error.
 */
import assert from 'node:assert/strict'
import { streamPair } from '@libp2p/utils'
import {
  readOpening,
  servePull,
  pull,
  sendAnnounce,
  SyncProtocolError,
  SYNC_PROTOCOL_LIMITS
} from '../../../src/agent/index.js'
import {
  membersToSend,
  encodeAnnounce,
  encodeBatch,
  readNextAnnounce
} from '../../../src/agent/replication/messages.js'
import { membersDigest, memberId } from '../../../src/agent/membership/member-records.js'
import type { SyncBatch } from '../../../src/ledger/index.js'
import { encodeCanonical } from '../../../src/codec/index.js'
import { FramedStream } from '../../../src/p2p/index.js'
import { FleetError } from '../../../src/common/index.js'

const FEED = 'c'.repeat(52)

async function pair(): Promise<[FramedStream, FramedStream]> {
  const [a, b] = await streamPair()
  return [new FramedStream(a, { timeoutMs: 2_000 }), new FramedStream(b, { timeoutMs: 2_000 })]
}

const batchAt = (from: number, count: number): SyncBatch => ({
  feed: FEED,
  from,
  entries: Array.from({ length: count }, (_, i) => Uint8Array.of(from + i)),
  checkpoint: `note ${from + count}`,
  proof: [new Uint8Array(32)]
})

describe('agent/sync-protocol (/fleet/ledger-sync/1 messages)', function () {
  this.timeout(20_000)

  it('a pull gets the members first, then the batches it lacks, then end', async () => {
    const [client, server] = await pair()
    const serving = (async () => {
      const opening = await readOpening(server)
      assert.equal(opening.t, 'pull')
      const heads = (opening as { heads: Map<string, number> }).heads
      assert.deepEqual([...heads], [[FEED, 3]])
      return await servePull(
        server,
        heads,
        [{ feed: FEED, batch: async (from) => (from < 9 ? batchAt(from, 3) : undefined) }],
        [Uint8Array.of(7)]
      )
    })()
    const got: SyncBatch[] = []
    const members: Uint8Array[][] = []
    const result = await pull(
      client,
      new Map([[FEED, 3]]),
      async (batch) => {
        got.push(batch)
      },
      async (records) => {
        members.push(records)
      }
    )
    assert.equal(await serving, 2)
    assert.deepEqual(result, { batches: 2, more: false })
    assert.deepEqual(
      got.map((b) => [b.from, b.entries.length, b.checkpoint]),
      [
        [3, 3, 'note 6'],
        [6, 3, 'note 9']
      ]
    )
    assert.deepEqual(members, [[Uint8Array.of(7)]])
  })

  it('a pull carries the digest of the members the puller holds; the digest is order-independent', async () => {
    const a = Uint8Array.of(1, 2)
    const b = Uint8Array.of(3)
    assert.deepEqual(membersDigest([a, b]), membersDigest([b, a]))
    assert.notDeepEqual(membersDigest([a]), membersDigest([a, b]))
    const [client, server] = await pair()
    const serving = (async () => {
      const opening = (await readOpening(server)) as { members: Uint8Array; memberIds: Set<string> }
      assert.deepEqual(opening.members, membersDigest([b, a]))
      // Equal digests: the server leaves the members out.
      const toSend = membersToSend(opening, {
        records: [b, a],
        digest: membersDigest([b, a]),
        ids: [memberId(b), memberId(a)]
      })
      assert.deepEqual(toSend, [])
      return await servePull(server, new Map(), [], toSend)
    })()
    const members: Uint8Array[][] = []
    await pull(
      client,
      new Map(),
      async () => {},
      async (records) => {
        members.push(records)
      },
      { digest: membersDigest([a, b]), ids: [memberId(a), memberId(b)] }
    )
    assert.equal(await serving, 0)
    assert.deepEqual(members, [])
  })

  it('a pull lists the ids of the members the puller holds; it is sent only the records it lacks', async () => {
    const records = [Uint8Array.of(1, 2), Uint8Array.of(3), Uint8Array.of(4, 5, 6), Uint8Array.of(7)]
    const held = { records, digest: membersDigest(records), ids: records.map(memberId) }
    assert.ok(held.ids.every((id) => id.length === 8))
    const [client, server] = await pair()
    const serving = (async () => {
      const opening = (await readOpening(server)) as { members: Uint8Array; memberIds: Set<string> }
      assert.equal(opening.memberIds.size, 2)
      return await servePull(server, new Map(), [], membersToSend(opening, held))
    })()
    const members: Uint8Array[][] = []
    // The puller holds the second and the fourth record, and one the server does not know.
    const other = Uint8Array.of(9)
    await pull(
      client,
      new Map(),
      async () => {},
      async (got) => {
        members.push(got)
      },
      { digest: membersDigest([records[1]!, records[3]!, other]), ids: [memberId(records[1]!), memberId(records[3]!)] }
    )
    await serving
    assert.deepEqual(members, [[records[0], records[2]]])
  })

  it('an announce is read as such', async () => {
    const [client, server] = await pair()
    await sendAnnounce(client, FEED, 42)
    assert.deepEqual(await readOpening(server), { t: 'announce', feed: FEED, size: 42, checkpoint: '' })
  })

  it('a server serves at most maxBatchesPerPull batches and says there is more', async () => {
    const [client, server] = await pair()
    const serving = (async () => {
      const opening = (await readOpening(server)) as { heads: Map<string, number> }
      return await servePull(server, opening.heads, [{ feed: FEED, batch: async (from) => batchAt(from, 1) }])
    })()
    const result = await pull(client, new Map(), async () => {})
    assert.equal(await serving, SYNC_PROTOCOL_LIMITS.maxBatchesPerPull)
    assert.deepEqual(result, { batches: SYNC_PROTOCOL_LIMITS.maxBatchesPerPull, more: true })
  })

  const refusedOpening = async (frame: Uint8Array, why: RegExp): Promise<void> => {
    const [client, server] = await pair()
    await client.write(frame)
    await assert.rejects(readOpening(server), (err: Error) => err instanceof FleetError && why.test(err.message))
  }

  it('refuses malformed openings with typed errors', async () => {
    await refusedOpening(Uint8Array.of(0xff, 0x00), /malformed message/)
    await refusedOpening(encodeCanonical({ t: 'delete-everything' }), /expected "pull"/)
    await refusedOpening(
      encodeCanonical({ t: 'pull', heads: [new Uint8Array(59)], members: new Uint8Array(32), memberIds: [] }),
      /a head is not 60 bytes/
    )
    const head = new Uint8Array(60)
    head.fill(0x61, 0, 52)
    const huge = new Uint8Array(60).fill(0x61)
    await refusedOpening(
      encodeCanonical({ t: 'pull', heads: [huge], members: new Uint8Array(32), memberIds: [] }),
      /a head is malformed/
    )
    await refusedOpening(
      encodeCanonical({ t: 'pull', heads: [head, head], members: new Uint8Array(32), memberIds: [] }),
      /named twice/
    )
    await refusedOpening(
      encodeCanonical({
        t: 'pull',
        heads: Array.from({ length: 1025 }, () => head),
        members: new Uint8Array(32),
        memberIds: []
      }),
      /more than 1024/
    )
    await refusedOpening(
      encodeCanonical({ t: 'pull', heads: [], members: new Uint8Array(32), memberIds: [new Uint8Array(7)] }),
      /a member id is not 8 bytes/
    )
    await refusedOpening(
      encodeCanonical({
        t: 'pull',
        heads: [],
        members: new Uint8Array(32),
        memberIds: Array.from({ length: 1025 }, () => new Uint8Array(8))
      }),
      /more than 1024/
    )
    await refusedOpening(encodeCanonical({ t: 'pull', heads: [], members: new Uint8Array(32) }), /memberIds/)
    await refusedOpening(
      encodeCanonical({ t: 'announce', feed: 'NOT-A-FEED', size: 1, checkpoint: new Uint8Array(0) }),
      /wrong form/
    )
    await refusedOpening(
      encodeCanonical({ t: 'pull', heads: [], members: new Uint8Array(32), memberIds: [], extra: 1 }),
      /unknown field/
    )
  })

  const refusedPull = async (frames: Uint8Array[], why: RegExp): Promise<void> => {
    const [client, server] = await pair()
    const answering = (async () => {
      await readOpening(server)
      for (const frame of frames) await server.write(frame)
    })()
    await assert.rejects(
      pull(client, new Map(), async () => {}),
      (err: Error) => err instanceof FleetError && why.test(err.message)
    )
    await answering.catch(() => undefined)
  }

  it('cuts off a server that sends garbage, out-of-order or oversized answers', async () => {
    const batch = {
      t: 'batch',
      feed: FEED,
      from: 0,
      entries: [Uint8Array.of(1)],
      checkpoint: Uint8Array.of(0x61),
      proof: []
    }
    await refusedPull([Uint8Array.of(0x01, 0x02, 0x03)], /malformed message/)
    await refusedPull(
      [encodeCanonical({ ...batch, entries: Array.from({ length: 2001 }, () => Uint8Array.of(1)) })],
      /more than 2000/
    )
    await refusedPull([encodeCanonical({ ...batch, proof: [new Uint8Array(33)] })], /items must be bytes of at most 32/)
    await refusedPull([encodeCanonical(batch), encodeCanonical({ t: 'members', records: [] })], /members after batches/)
    await refusedPull(
      Array.from({ length: SYNC_PROTOCOL_LIMITS.maxBatchesPerPull + 1 }, () => encodeCanonical(batch)),
      /more batches than allowed/
    )
    await refusedPull([encodeCanonical({ t: 'abort', reason: 'no' })], /the peer stopped: no/)
  })

  it('a refusal carries its evidence as fields: the cap and the count, the feed, the reason the peer gave', async () => {
    const batch = {
      t: 'batch',
      feed: FEED,
      from: 0,
      entries: [Uint8Array.of(1)],
      checkpoint: Uint8Array.of(0x61),
      proof: []
    }
    const refusal = async (frames: Uint8Array[]): Promise<SyncProtocolError> => {
      const [client, server] = await pair()
      const answering = (async () => {
        await readOpening(server)
        for (const frame of frames) await server.write(frame)
      })()
      const err = await pull(client, new Map(), async () => {}).then(
        () => undefined,
        (e: unknown) => e
      )
      await answering.catch(() => undefined)
      assert.ok(err instanceof SyncProtocolError, String(err))
      return err
    }
    const tooMany = await refusal(
      Array.from({ length: SYNC_PROTOCOL_LIMITS.maxBatchesPerPull + 1 }, () => encodeCanonical(batch))
    )
    assert.deepEqual(tooMany.evidence, {
      limit: SYNC_PROTOCOL_LIMITS.maxBatchesPerPull,
      got: SYNC_PROTOCOL_LIMITS.maxBatchesPerPull + 1
    })
    const stopped = await refusal([encodeCanonical({ t: 'abort', reason: 'x'.repeat(500) })])
    assert.equal(stopped.evidence.peerReason, 'x'.repeat(200))
    const head = new Uint8Array(60)
    head.fill(0x61, 0, 52)
    const [client, server] = await pair()
    await client.write(encodeCanonical({ t: 'pull', heads: [head, head], members: new Uint8Array(32), memberIds: [] }))
    const twice = await readOpening(server).then(
      () => undefined,
      (e: unknown) => e
    )
    assert.ok(twice instanceof SyncProtocolError)
    assert.equal(twice.evidence.feed, 'a'.repeat(52))
  })

  it('a server that stalls is cut off by the frame deadline', async () => {
    const [client, server] = await pair()
    void readOpening(server)
    await assert.rejects(
      pull(client, new Map(), async () => {}),
      (err: Error) => err instanceof FleetError && /did not send the next frame/.test(err.message)
    )
  })

  it('an apply that refuses a batch stops the pull (the peer is cut off)', async () => {
    const [client, server] = await pair()
    void (async () => {
      const opening = (await readOpening(server)) as { heads: Map<string, number> }
      await servePull(server, opening.heads, [
        { feed: FEED, batch: async (from) => (from < 3 ? batchAt(from, 3) : undefined) }
      ]).catch(() => undefined)
    })()
    await assert.rejects(
      pull(client, new Map(), async () => {
        throw new SyncProtocolError('forged')
      }),
      /forged/
    )
  })

  it('announces follow one another on a kept-open stream; its end or a quiet spell ends it, anything else is refused', async () => {
    const [sender, receiver] = await pair()
    await sender.write(encodeAnnounce(FEED, 1, 'note 1'))
    await sender.write(encodeAnnounce(FEED, 2, 'note 2'))
    assert.deepEqual(await readOpening(receiver), { t: 'announce', feed: FEED, size: 1, checkpoint: 'note 1' })
    assert.deepEqual(await readNextAnnounce(receiver, 1_000), {
      t: 'announce',
      feed: FEED,
      size: 2,
      checkpoint: 'note 2'
    })
    // Quiet for longer than the idle time: over (the sender opens another stream for its next one).
    assert.equal(await readNextAnnounce(receiver, 50), undefined)
    await sender.close()
    assert.equal(await readNextAnnounce(receiver, 1_000), undefined)

    // A pull, an abort, or bytes that are not a message, in the middle of an announce stream: refused by name.
    const [s2, r2] = await pair()
    await s2.write(encodeAnnounce(FEED, 1))
    await s2.write(encodeCanonical({ t: 'pull', heads: [], members: new Uint8Array(32), memberIds: [] }))
    await s2.write(encodeCanonical({ t: 'abort', reason: 'bye' }))
    await s2.write(Uint8Array.of(0xff, 0x00, 0x13))
    await readOpening(r2)
    await assert.rejects(readNextAnnounce(r2, 1_000), { name: 'MalformedMessageError' })
    await assert.rejects(readNextAnnounce(r2, 1_000), SyncProtocolError)
    await assert.rejects(readNextAnnounce(r2, 1_000), (err: Error) => err instanceof FleetError)
  })

  it('a push (a batch on the announce stream) is read as one, first or later; a malformed one is refused', async () => {
    const [sender, receiver] = await pair()
    const batch = {
      feed: FEED,
      from: 4,
      entries: [Uint8Array.of(1, 2), Uint8Array.of(3)],
      checkpoint: 'note 6',
      proof: [new Uint8Array(32).fill(7)]
    }
    await sender.write(encodeBatch(batch))
    await sender.write(encodeAnnounce(FEED, 7, 'note 7'))
    await sender.write(encodeBatch({ ...batch, from: 7, entries: [Uint8Array.of(9)], checkpoint: 'note 8', proof: [] }))
    const opening = await readOpening(receiver)
    assert.equal(opening.t, 'push')
    const first = (opening as { batch: SyncBatch }).batch
    assert.deepEqual(
      [first.feed, first.from, first.entries.map((e) => [...e]), first.checkpoint, first.proof.map((p) => p[0])],
      [FEED, 4, [[1, 2], [3]], 'note 6', [7]]
    )
    assert.equal((await readNextAnnounce(receiver, 1_000))?.t, 'announce')
    const next = await readNextAnnounce(receiver, 1_000)
    assert.ok(next?.t === 'push' && next.batch.from === 7 && next.batch.entries.length === 1)

    // A batch missing its proof, or with a feed that is not a feed id: refused, not taken as an announce.
    const [s2, r2] = await pair()
    await s2.write(encodeAnnounce(FEED, 1))
    await s2.write(encodeCanonical({ t: 'batch', feed: FEED, from: 0, entries: [], checkpoint: new Uint8Array(0) }))
    await s2.write(
      encodeCanonical({
        t: 'batch',
        feed: 'NOT A FEED',
        from: 0,
        entries: [],
        checkpoint: new Uint8Array(0),
        proof: []
      })
    )
    await readOpening(r2)
    await assert.rejects(readNextAnnounce(r2, 1_000), { name: 'MalformedMessageError' })
    await assert.rejects(readNextAnnounce(r2, 1_000), { name: 'MalformedMessageError' })
  })
})
