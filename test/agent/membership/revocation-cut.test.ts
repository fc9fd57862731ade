import assert from 'node:assert/strict'
import { until } from '../../helpers/wait.js'
import { EventLog, disconnected } from '../../helpers/events.js'
import {
  ownerFeedId,
  publishOwnerFeed,
  type Agent,
  type PeerStatus,
  type ReplicationEvent
} from '../../../src/agent/index.js'
import { SimFleet, type SimDevice } from '../../../simnet/fleet.js'

/**
 * The owner revokes a device and cuts its feed at `keep` entries: an agent that held more keeps
 * the rest apart and serves up to the cut, an agent that held less takes what it lacks up to the
 * cut from its peers, and every agent ends up with the same entries of that feed.
 */
describe('agent/revocation with a cut: every agent holds the revoked feed up to the same entry (3 agents, swtpm)', function () {
  this.timeout(180_000)
  let fleet: SimFleet
  let devices: SimDevice[]
  let a: Agent
  let b: Agent
  let v: Agent
  /** What b's replication did, and each change of its peers' verdicts. */
  const bReplication = new EventLog<ReplicationEvent>()
  const bPeers = new EventLog<PeerStatus[]>()

  const heldBy = async (runtime: Agent, feed: string): Promise<number> => (await runtime.heads()).get(feed) ?? 0
  const append = async (runtime: Agent, n: number, tag: string): Promise<number> => {
    for (let i = 0; i < n; i++)
      await runtime.feed.ledger.append({
        type: 'alert.tamper',
        actor: { id: `agent/${runtime.feed.ledger.feedId}`, role: 'agent' },
        attest: null,
        body: { subject: runtime.feed.ledger.feedId, pcr: 7, detail: `${tag}-${i}` }
      })
    await runtime.feed.ledger.checkpoint()
    return runtime.feed.ledger.sealedSize
  }

  before(async () => {
    fleet = await SimFleet.create()
    devices = await fleet.addEnrolled(3)
    a = await fleet.start(devices[0]!, { syncIntervalMs: 1_000 })
    b = await fleet.start(devices[1]!, {
      syncIntervalMs: 1_000,
      onReplication: bReplication.record,
      onPeersChange: bPeers.record
    })
    v = await fleet.start(devices[2]!, { syncIntervalMs: 1_000 })
    // The device to be revoked talks to a only; b stays apart for now.
    await v.node.dial(a.node.getMultiaddrs()[0]!)
    await until(
      () => a.attestation.attested(v.node.peerId.toString()) && v.attestation.attested(a.node.peerId.toString()),
      'a and v attested'
    )
  })
  after(async () => {
    await fleet?.close()
  })

  it('a held more than the cut, b less: both end up with exactly the entries the owner kept', async () => {
    const victim = devices[2]!.state.deviceId
    const keep = await append(v, 10, 'kept')
    await until(async () => (await heldBy(a, victim)) >= keep, 'a to hold the entries to keep')
    const past = await append(v, 10, 'past')
    await until(async () => (await heldBy(a, victim)) >= past, 'a to hold entries past the cut')
    assert.ok(past > keep)

    const owner = fleet.owner
    const ownerFeed = ownerFeedId(new Uint8Array(Buffer.from(owner.state.fleetId, 'hex')))
    const revoke = async (cut: number): Promise<void> => {
      await owner.feed.ledger.append({
        type: 'device.revoke',
        actor: { id: 'owner/simnet', role: 'owner' },
        attest: null,
        body: { deviceId: victim, reason: 'stolen', keep: cut }
      })
      await owner.feed.ledger.checkpoint()
      const reached = await publishOwnerFeed(owner.node, owner.feed.store, ownerFeed, owner.feed.ledger.sealedSize, [
        a.node.getMultiaddrs()[0]!
      ])
      assert.equal(reached.length, 1)
    }
    await revoke(keep)

    // a: revoked, hung up, and its head of the feed is the cut; what it held past it stays stored apart.
    await until(() => a.membership.cutOf(victim) === keep, 'the cut at a')
    await disconnected(a.node, v.node.peerId, 'a to hang up on the revoked device')
    assert.equal(await heldBy(a, victim), keep)
    assert.equal((await a.replicas.meta(victim)).size, past)
    // a no longer witnesses the revoked feed: no cosignature of it stays due.
    await until(() => a.cosignsDue === 0, 'no cosignature due at a', 15_000)

    // b never held the feed: from a it gets the revocation and the feed up to the cut, no further.
    await b.node.dial(a.node.getMultiaddrs()[0]!)
    await until(() => b.membership.cutOf(victim) === keep, 'the revocation with its cut at b')
    await until(async () => (await heldBy(b, victim)) === keep, 'b to hold the revoked feed up to the cut')
    // b's only peer is a, and its pulls from a take turns: the second pull to end from now on
    // started after this point, when a had the entries past the cut to serve.
    const aId = a.node.peerId.toString()
    await bReplication.next((e) => e.type === 'pull-ended' && e.peerId === aId, 'b to pull from a again', { count: 2 })
    assert.equal((await b.replicas.meta(victim)).size, keep)
    let seq = 0
    for await (const bytes of b.replicas.entries(victim))
      assert.deepEqual(Buffer.from(bytes), Buffer.from((await v.feed.ledger.getEntry(seq++))!))
    assert.equal(seq, keep)

    // A second revocation naming a later cut (as from another branch of the owner's feed) moves
    // nothing: the earlier cut wins.
    await revoke(past)
    await until(async () => (await heldBy(a, ownerFeed)) >= owner.feed.ledger.sealedSize, 'the second revocation at a')
    assert.equal(a.membership.cutOf(victim), keep)
    assert.equal(await heldBy(a, victim), keep)

    // The revoked device cannot bring the rest in itself: b refuses it too (a verdict, then the hang-up).
    const vId = v.node.peerId.toString()
    const from = bPeers.mark
    await v.node.dial(b.node.getMultiaddrs()[0]!).catch(() => undefined)
    const revoked = (peers: PeerStatus[]): boolean =>
      peers.some((p) => p.peerId === vId && !p.trusted && p.kind === 'revoked')
    await bPeers.next(revoked, "b's verdict on the revoked device", { from })
    await disconnected(v.node, b.node.peerId, 'b to hang up on the revoked device')
    assert.equal(b.attestation.attested(v.node.peerId.toString()), false)
    assert.equal((await b.replicas.meta(victim)).size, keep)
  })
})
