import assert from 'node:assert/strict'
import { until } from '../../helpers/wait.js'
import { ownerFeedId, publishOwnerFeed, type Agent } from '../../../src/agent/index.js'
import { BASE_ONTOLOGY, FeedLedger, MemoryLedgerStore } from '../../../src/ledger/index.js'
import { SimFleet, type SimDevice } from '../../../simnet/fleet.js'

/**
 * The owner's feed forks: the owner's key signed two branches (a stolen key, or a restored owner
 * machine). Branch A revokes a device, branch B does not. Revocations are a union over branches:
 * an agent that saw A keeps the revocation when B reaches it, and an agent that saw only B applies
 * it once a peer passes on A's revocation entry with its proof (alert.revocation).
 */
describe("agent/a forked owner's feed: revocations are a union over its branches (2 agents, swtpm)", function () {
  this.timeout(180_000)
  let fleet: SimFleet
  let devices: SimDevice[]
  let p: Agent
  let q: Agent
  const victim = 'x'.repeat(52)
  const options = { syncIntervalMs: 1_000, cosignIntervalMs: 200 }

  before(async () => {
    fleet = await SimFleet.create()
    devices = await fleet.addEnrolled(2)
    p = await fleet.start(devices[0]!, options)
    q = await fleet.start(devices[1]!, options)
  })
  after(async () => {
    await fleet?.close()
  })

  it("an agent that saw the branch with a revocation keeps it when the other branch reaches it; one that saw only the other branch applies it from a peer's proof", async () => {
    const owner = fleet.owner
    const fleetId = new Uint8Array(Buffer.from(owner.state.fleetId, 'hex'))
    const ownerFeed = ownerFeedId(fleetId)
    // Branch A: the owner's feed (the enrolments), and a revocation.
    await owner.feed.ledger.append({
      type: 'device.revoke',
      actor: { id: 'owner/simnet', role: 'owner' },
      attest: null,
      body: { deviceId: victim, reason: 'stolen' }
    })
    await owner.feed.ledger.checkpoint()
    const sizeA = owner.feed.ledger.sealedSize
    // Branch B: another history under the same owner key, one entry longer, without the revocation.
    const store = new MemoryLedgerStore()
    await store.open()
    const branch = new FeedLedger(
      {
        store,
        signer: owner.signer,
        clock: { now: () => Date.now() },
        tpmClock: { readTpmClock: async () => await owner.tpm.readClock() },
        ontology: BASE_ONTOLOGY
      },
      { fleetId, feedId: ownerFeed, batchMs: 50 }
    )
    await branch.start()
    for (let i = 0; i <= sizeA; i++)
      await branch.append({
        type: 'key.rotate',
        actor: { id: 'owner/simnet', role: 'owner' },
        attest: null,
        body: { key: 'peer', newPublic: Uint8Array.of(i) }
      })
    await branch.checkpoint()
    try {
      // p holds branch A, q branch B, before they meet.
      assert.deepEqual(
        await publishOwnerFeed(owner.node, owner.feed.store, ownerFeed, sizeA, [p.node.getMultiaddrs()[0]!]),
        [p.node.peerId.toString()]
      )
      assert.deepEqual(
        await publishOwnerFeed(owner.node, store, ownerFeed, branch.sealedSize, [q.node.getMultiaddrs()[0]!]),
        [q.node.peerId.toString()]
      )
      await until(() => p.membership.isRevoked(victim), 'the revocation at p')
      assert.equal(q.membership.isRevoked(victim), false)

      await p.node.dial(q.node.getMultiaddrs()[0]!)
      await until(
        () => p.attestation.attested(q.node.peerId.toString()) && q.attestation.attested(p.node.peerId.toString()),
        'p and q attested'
      )
      // Each finds the fork (q from p's checkpoint of A, p from q's alert), and q takes A's revocation from p's proof.
      await until(
        () => q.membership.isQuarantined(ownerFeed) && p.membership.isQuarantined(ownerFeed),
        "the owner's fork found by both",
        60_000
      )
      await until(() => q.membership.isRevoked(victim), 'the revocation of branch A at q', 60_000)
      assert.equal(p.membership.isRevoked(victim), true, 'p keeps the revocation of the branch it saw')
      // Each kept its own branch.
      assert.equal((await p.replicas.meta(ownerFeed)).size, sizeA)
      assert.equal((await q.replicas.meta(ownerFeed)).size, sizeA + 1)
      // Nothing of branch B was passed on as a revocation.
      assert.equal(p.membership.isRevoked(devices[1]!.state.deviceId), false)

      // A revocation the owner adds to branch A after the fork crosses over too.
      const second = 'y'.repeat(52)
      await owner.feed.ledger.append({
        type: 'device.revoke',
        actor: { id: 'owner/simnet', role: 'owner' },
        attest: null,
        body: { deviceId: second, reason: 'lost' }
      })
      await owner.feed.ledger.checkpoint()
      assert.equal(
        (
          await publishOwnerFeed(owner.node, owner.feed.store, ownerFeed, owner.feed.ledger.sealedSize, [
            p.node.getMultiaddrs()[0]!
          ])
        ).length,
        1
      )
      await until(
        () => p.membership.isRevoked(second) && q.membership.isRevoked(second),
        'the later revocation at p and q',
        60_000
      )

      // Both survive a restart: p replays branch A, q the revocations proved by p's alerts.
      await p.stop()
      await q.stop()
      p = await fleet.start(devices[0]!, options)
      q = await fleet.start(devices[1]!, options)
      for (const deviceId of [victim, second]) {
        assert.equal(p.membership.isRevoked(deviceId), true)
        assert.equal(q.membership.isRevoked(deviceId), true)
      }
    } finally {
      await branch.stop()
      await store.close()
    }
  })
})
