import assert from 'node:assert/strict'
import { until } from '../../helpers/wait.js'
import { EventLog, disconnected } from '../../helpers/events.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { LEDGER_SYNC_PROTOCOL, type Agent, type ReplicationEvent } from '../../../src/agent/index.js'
import { PUSH_MAX_ENTRIES, type Gossip } from '../../../src/agent/replication/gossip.js'
import { encodeBatch } from '../../../src/agent/replication/messages.js'
import { ownFeedSource } from '../../../src/ledger/index.js'
import { createFleetNode, FramedStream } from '../../../src/p2p/index.js'
import { SimFleet } from '../../../simnet/fleet.js'

/**
 * A writer hands a few new entries of its own feed to a peer on the announce stream (a push),
 * from where that peer stands: the peer verifies and stores them as it would a pulled batch,
 * without a pull. A larger gap is announced and pulled as before.
 */
describe("agent/push: a writer's new entries reach its peers without a pull (2 agents, swtpm)", function () {
  this.timeout(120_000)
  let fleet: SimFleet
  let a: Agent
  let b: Agent
  let baseline = 0
  /** What b's replication did. */
  const bReplication = new EventLog<ReplicationEvent>()
  /** Pulls b asked for since the setup (on announces; anti-entropy is off). */
  const pulls = (): number => b.replicator.counts.pullsAsked - baseline
  const aFeed = (): string => a.feed.ledger.feedId

  const heldBy = async (runtime: Agent, feed: string): Promise<number> => (await runtime.heads()).get(feed) ?? 0
  const append = async (runtime: Agent, n: number, tag: string): Promise<number> => {
    await Promise.all(
      Array.from(
        { length: n },
        async (_, i) =>
          await runtime.feed.ledger.append({
            type: 'alert.tamper',
            actor: { id: `agent/${runtime.feed.ledger.feedId}`, role: 'agent' },
            attest: null,
            body: { subject: runtime.feed.ledger.feedId, pcr: 7, detail: `${tag}-${i}` }
          })
      )
    )
    await runtime.feed.ledger.checkpoint()
    return runtime.feed.ledger.sealedSize
  }

  before(async () => {
    fleet = await SimFleet.create()
    const devices = await fleet.addEnrolled(2)
    // No anti-entropy rounds during the test: a pull then comes only from an announce.
    a = await fleet.start(devices[0]!, { syncIntervalMs: 600_000 })
    b = await fleet.start(devices[1]!, { syncIntervalMs: 600_000, onReplication: bReplication.record })
    await b.node.dial(a.node.getMultiaddrs()[0]!)
    await until(
      () => a.attestation.attested(b.node.peerId.toString()) && b.attestation.attested(a.node.peerId.toString()),
      'a and b attested'
    )
    // b's first copy of a's feed comes by a pull (a then knows where b stands).
    const size = await append(a, 1, 'first')
    await until(async () => (await heldBy(b, aFeed())) >= size, "b to hold a's feed")
    baseline = b.replicator.counts.pullsAsked
  })
  after(async () => {
    await fleet?.close()
  })

  it('a few new entries arrive by push, verified, byte for byte, and no pull is made', async () => {
    for (let round = 0; round < 3; round++) {
      const size = await append(a, 5, `pushed-${round}`)
      await until(async () => (await heldBy(b, aFeed())) >= size, `b to hold ${size} entries of a's feed`)
    }
    assert.equal(pulls(), 0)
    const held = await heldBy(b, aFeed())
    assert.equal(held, a.feed.ledger.sealedSize)
    let seq = 0
    for await (const bytes of b.replicas.entries(aFeed()))
      assert.deepEqual(Buffer.from(bytes), Buffer.from((await a.feed.ledger.getEntry(seq++))!))
    assert.equal(seq, held)
  })

  it('a peer that has not said where it stands gets a small feed whole, keeps what it lacks, and makes no pull', async () => {
    // As just after an attestation, before the peer's first pull: a does not know b's head.
    ;(a.replicator as unknown as { gossip: Gossip }).gossip.peerHeads.forget(b.node.peerId.toString())
    const before = await heldBy(b, aFeed())
    const size = await append(a, 4, 'whole')
    assert.ok(before > 0 && size <= PUSH_MAX_ENTRIES)
    await until(async () => (await heldBy(b, aFeed())) >= size, 'b to hold the feed pushed whole')
    assert.equal(pulls(), 0)
    let seq = 0
    for await (const bytes of b.replicas.entries(aFeed()))
      assert.deepEqual(Buffer.from(bytes), Buffer.from((await a.feed.ledger.getEntry(seq++))!))
    assert.equal(seq, size)
  })

  it(`more than ${PUSH_MAX_ENTRIES} new entries are announced, and pulled`, async () => {
    const size = await append(a, PUSH_MAX_ENTRIES + 20, 'announced')
    await until(async () => (await heldBy(b, aFeed())) >= size, 'b to hold the larger growth')
    assert.ok(pulls() >= 1)
  })

  it('a push from a peer that has not attested stores nothing, even entries the writer signed', async () => {
    const aPeer = a.node.peerId.toString()
    b.block(aPeer)
    for (const connection of b.node.getConnections(a.node.peerId)) await connection.close()
    await disconnected(b.node, a.node.peerId, 'b apart from a')
    assert.equal(b.attestation.attested(aPeer), false)
    const before = await heldBy(b, aFeed())
    await append(a, 3, 'withheld')
    const batch = await ownFeedSource(a.feed.store, aFeed()).batch(before)
    assert.equal(batch?.entries.length, 3)
    const stranger = await createFleetNode({
      privateKey: await generateKeyPair('Ed25519'),
      admission: { allows: () => true },
      listen: ['/ip4/127.0.0.1/tcp/0'],
      mdns: false
    })
    try {
      const connection = await stranger.dial(b.node.getMultiaddrs()[0]!)
      const framed = new FramedStream(await connection.newStream(LEDGER_SYNC_PROTOCOL))
      const from = bReplication.mark
      await framed.write(encodeBatch(batch!))
      await framed.close()
      // b reads the push, deals with it, then finds the stream ended and closes its end.
      await assert.rejects(framed.read(), { name: 'StreamEndedError' })
      const strangerId = stranger.peerId.toString()
      const heard = bReplication.since(from, (e) => 'peerId' in e && e.peerId === strangerId)
      assert.deepEqual(heard, [{ type: 'announce-dropped', peerId: strangerId }])
      assert.equal(await heldBy(b, aFeed()), before)
    } finally {
      await stranger.stop()
      b.unblock(aPeer)
    }
  })
})
