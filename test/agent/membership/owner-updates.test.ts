import assert from 'node:assert/strict'
import { until } from '../../helpers/wait.js'
import { disconnected } from '../../helpers/events.js'
import { feedIdentityOf, storedOntologyProofs, ontologyFromHeader, type Agent } from '../../../src/agent/index.js'
import { bootPolicyId, canonicalPolicyJson, type BootPolicy } from '../../../src/attest/index.js'
import { decodeEntry, type AppendInput } from '../../../src/ledger/index.js'
import { encodeCanonical } from '../../../src/codec/index.js'
import { SimFleet } from '../../../simnet/fleet.js'
import { simulatedBootPolicy } from '../../../src/attest/simulated-boot.js'
import { makeActor } from '../../helpers/signing-actor.js'
import { publishOwnerStatements } from '../../helpers/owner-statements.js'

/** Two agents on swtpm; the owner's policy and ontology statements reach them through its feed. */
describe('agent/owner statements: boot policy and ontology updates applied by the agents', function () {
  this.timeout(180_000)
  let fleet: SimFleet
  let a: Agent
  let b: Agent

  const publish = async (statement: Omit<AppendInput, 'actor' | 'attest'>): Promise<void> =>
    await publishOwnerStatements(fleet, [statement], [a, b])
  const policySet = (policy: BootPolicy): Omit<AppendInput, 'actor' | 'attest'> => ({
    type: 'policy.set',
    body: { policyId: bootPolicyId(policy), policy: new Uint8Array(Buffer.from(canonicalPolicyJson(policy))) }
  })
  const verdictOnB = (): { trusted: boolean; reasons: string[] } | undefined =>
    a.attestation.list().find((p) => p.peerId === b.node.peerId.toString())

  before(async () => {
    fleet = await SimFleet.create()
    const [da, db] = await fleet.addEnrolled(2)
    a = await fleet.start(da!, { syncIntervalMs: 1_000 })
    b = await fleet.start(db!, { syncIntervalMs: 1_000 })
    await a.node.dial(b.node.getMultiaddrs()[0]!)
    await until(
      () => a.attestation.attested(b.node.peerId.toString()) && b.attestation.attested(a.node.peerId.toString()),
      'mutual attestation'
    )
  })
  after(async () => {
    await fleet?.close()
  })

  it("a policy the devices' boot does not satisfy: peers are re-attested at once and refused, naming the PCR", async () => {
    const other = simulatedBootPolicy('new-kernel')
    await publish(policySet(other))
    // The owner counts an agent reached once it served the agent's pull; applying follows.
    await until(() => bootPolicyId(a.membership.policy) === bootPolicyId(other), 'a to apply the new policy')
    await until(() => verdictOnB()?.trusted === false, 'the refusal under the new policy')
    assert.ok(
      verdictOnB()!.reasons.some((r) => /PCR 4/.test(r)),
      verdictOnB()!.reasons.join('; ')
    )
    await disconnected(a.node, b.node.peerId, 'the hang-up')
  })

  it('the good policy again: the devices attest each other again', async () => {
    await publish(policySet(simulatedBootPolicy('good')))
    await a.node.dial(b.node.getMultiaddrs()[0]!)
    await until(() => a.attestation.attested(b.node.peerId.toString()), 'attestation under the good policy')
  })

  it('the owner enrols an actor and revokes them: both agents know who may sign, and then that they may not', async () => {
    const token = new Uint8Array(65)
    token[0] = 4
    token.fill(7, 1)
    await publish({
      type: 'actor.enrol',
      body: { actorId: 'dr.smith', role: 'operator', kind: 'pkcs11', publicKey: token, hardware: 'HSM slot 3' }
    })
    await until(
      () => a.membership.actors.get('dr.smith') !== undefined && b.membership.actors.get('dr.smith') !== undefined,
      'both agents to know the actor'
    )
    assert.deepEqual(a.membership.actors.get('dr.smith')?.publicKey, token)
    assert.equal(b.membership.actors.get('dr.smith')?.role, 'operator')
    await publish({ type: 'actor.revoke', body: { actorId: 'dr.smith', reason: 'token lost' } })
    await until(
      () =>
        a.membership.actors.get('dr.smith')?.revoked !== undefined &&
        b.membership.actors.get('dr.smith')?.revoked !== undefined,
      'both agents to know of the revocation'
    )
    assert.equal(a.membership.actors.get('dr.smith')?.revoked?.reason, 'token lost')
  })

  it("an ontology update adds an action: refused before, appended with its actor's proof and replicated after", async () => {
    // The operator signs with a key the owner enrols (a software key standing in for their token).
    const alice = makeActor('operator/alice')
    const action = { type: 'operator.model_training', attest: null, body: { dataset: 'cohort-7' } }
    const where = { fleet: a.membership.fleetId, device: a.feed.ledger.feedId }
    await assert.rejects(a.feed.ledger.append(await alice.signed(action, where, Date.now())), {
      name: 'UnknownActionError'
    })
    await publish({ type: 'actor.enrol', body: { ...alice.enrolment } })
    await publish({
      type: 'ontology.update',
      body: {
        version: 4,
        actions: encodeCanonical({
          'operator.model_training': { roles: ['operator'], body: { dataset: { kind: 'string', max: 128 } } }
        })
      }
    })
    await until(
      () =>
        a.membership.ontology.version === 4 &&
        b.membership.ontology.version === 4 &&
        b.membership.actors.get(alice.actor.id) !== undefined,
      'both agents to apply the update, and b to know the actor'
    )
    // The agent's ledger checks the actor's proof: without one the action is refused.
    await assert.rejects(a.feed.ledger.append({ ...action, actor: alice.actor }), {
      name: 'MissingActorProofError',
      actorId: alice.actor.id
    })
    const { seq } = await a.feed.ledger.append(await alice.signed(action, where, Date.now()))
    await a.feed.ledger.checkpoint()
    const feed = a.feed.ledger.feedId
    // b takes it only once its own registry verified the proof (ReplicaTrust.actors).
    await until(async () => ((await b.heads()).get(feed) ?? 0) > seq, 'the new action replicated to b')
    const atB = b.replicas.entries(feed, seq)
    const held = (await atB.next()).value
    await atB.return(undefined)
    assert.ok(held instanceof Uint8Array)
    assert.deepEqual(Buffer.from(held), Buffer.from((await a.feed.ledger.getEntry(seq))!))
    assert.equal(decodeEntry(held).entry.v, 2)
    // A body that does not fit the new action is still refused.
    const misfit = await alice.signed({ ...action, body: { dataset: 7 } }, where, Date.now())
    await assert.rejects(a.feed.ledger.append(misfit), { name: 'BodySchemaError' })
    // For exports: b proves the update from its replica of the owner's feed, and the proof gives
    // the same ontology offline, from the genesis statement alone.
    const identity = await feedIdentityOf(fleet.devices[1]!.dir)
    const proofs = await storedOntologyProofs(b.feed.store, identity)
    assert.equal(proofs.length, 1)
    const offline = ontologyFromHeader(JSON.parse(JSON.stringify(proofs)), identity)
    assert.equal(offline.version, 4)
    assert.ok('operator.model_training' in offline.actions)
  })
})
