import assert from 'node:assert/strict'
import { until } from '../../helpers/wait.js'
import { EventLog } from '../../helpers/events.js'
import { ownerFeedId, publishOwnerFeed, type Agent, type ReplicationEvent } from '../../../src/agent/index.js'
import { softwareP256Signer, type P256Signer } from '../../../src/identity/index.js'
import {
  actorStatement,
  decodeEntry,
  encodeActorProof,
  type ActorAction,
  type AppendInput
} from '../../../src/ledger/index.js'
import { loadModule, type Pkcs11Module } from '../../../src/pkcs11/index.js'
import { actionChallenge, encodeStoredAssertion } from '../../../src/webauthn/index.js'
import { SimFleet, type SimDevice } from '../../../simnet/fleet.js'
import { SOFTHSM_MODULE, SoftHsm, skipWithoutSoftHsm } from '../../helpers/softhsm.js'
import { SoftwareAuthenticator } from '../../helpers/software-authenticator.js'

const PIN = '1234-5678'

/**
 * The actor rule between real agents (swtpm, libp2p with Noise, LevelDB): an honest agent takes a
 * peer's operator entry only with its actor's own signature by the key the owner enrolled. The
 * attacker is a device whose agent appends whatever it likes (its own check is switched off): a
 * signature by a software key claiming to be the actor, and a genuine signature copied from
 * another device's entry. Its batches are refused, naming why, and nothing of them is held.
 */
describe('agent/actor proofs between agents: forged and copied signatures are refused, clones are recorded', function () {
  this.timeout(180_000)
  let fleet: SimFleet
  let honest: Agent
  let writer: Agent
  let hostile: Agent
  let copier: Agent
  let honestDevice: SimDevice
  let hsm: SoftHsm
  let module: Pkcs11Module | undefined
  let token: P256Signer
  const authenticator = new SoftwareAuthenticator()
  const seen = new EventLog<ReplicationEvent>()

  const held = async (feed: string): Promise<number> => (await honest.heads()).get(feed) ?? 0
  const fleetId = (): Uint8Array => new Uint8Array(Buffer.from(fleet.owner.state.fleetId, 'hex'))

  async function publish(statement: Omit<AppendInput, 'actor' | 'attest'>): Promise<void> {
    const owner = fleet.owner
    await owner.feed.ledger.append({ ...statement, actor: { id: 'owner/simnet', role: 'owner' }, attest: null })
    await owner.feed.ledger.checkpoint()
    await publishOwnerFeed(
      owner.node,
      owner.feed.store,
      ownerFeedId(fleetId()),
      owner.feed.ledger.sealedSize,
      [honest, writer, hostile, copier].map((agent) => agent.node.getMultiaddrs()[0]!)
    )
  }

  /** An operator's action on `agent`'s device, signed at `at` by `sign`. */
  async function signedAction(
    agent: Agent,
    actorId: string,
    resource: string,
    sign: (statement: Uint8Array, at: number) => Promise<Uint8Array>
  ): Promise<AppendInput> {
    const action: ActorAction = {
      fleet: fleetId(),
      device: agent.feed.ledger.feedId,
      type: 'operator.data_access',
      actor: { id: actorId, role: 'operator' },
      attest: null,
      body: { resource, purpose: 'care' }
    }
    const at = Date.now() - 1_000
    return { ...action, proof: await sign(actorStatement(action, at), at) }
  }
  const byKey = (key: P256Signer) => async (statement: Uint8Array, at: number) =>
    encodeActorProof({ kind: 'pkcs11', at, sig: await key.sign(statement) })
  const byAuthenticator =
    (counter: number, key = authenticator) =>
    async (statement: Uint8Array, at: number) => {
      const { credentialId: _, ...stored } = key.assert({
        challenge: actionChallenge(statement),
        origin: 'http://localhost:4711',
        rpId: 'localhost',
        counter
      })
      return encodeActorProof({ kind: 'webauthn', at, sig: encodeStoredAssertion(stored) })
    }

  before(async function () {
    skipWithoutSoftHsm(this)
    hsm = await SoftHsm.create([{ label: 'dr.smith', pin: PIN }])
    hsm.use()
    module = loadModule(SOFTHSM_MODULE)
    token = await (await module.openToken({ token: 'dr.smith', pin: PIN })).generateP256('dr.smith')
    fleet = await SimFleet.create()
    const [h, w, x, c] = await fleet.addEnrolled(4)
    honestDevice = h!
    honest = await fleet.start(h!, { syncIntervalMs: 1_000, onReplication: seen.record })
    writer = await fleet.start(w!, { syncIntervalMs: 1_000 })
    hostile = await fleet.start(x!, { syncIntervalMs: 1_000 })
    copier = await fleet.start(c!, { syncIntervalMs: 1_000 })
    // The attackers' agents append without checking anything.
    for (const attacker of [hostile, copier]) attacker.feed.ledger.useActors({ verifyAll: async () => undefined })
    for (const other of [writer, hostile, copier]) await honest.node.dial(other.node.getMultiaddrs()[0]!)
    await until(
      () =>
        [writer, hostile, copier].every(
          (other) =>
            honest.attestation.attested(other.node.peerId.toString()) &&
            other.attestation.attested(honest.node.peerId.toString())
        ),
      'mutual attestation'
    )
    await publish({
      type: 'actor.enrol',
      body: { actorId: 'dr.smith', role: 'operator', kind: 'pkcs11', publicKey: token.publicKey, hardware: 'SoftHSM2' }
    })
    await publish({
      type: 'actor.enrol',
      body: {
        actorId: 'nurse.jones',
        role: 'operator',
        kind: 'webauthn',
        publicKey: authenticator.publicKey,
        credentialId: authenticator.credentialId,
        rpId: 'localhost',
        hardware: 'FIDO2 key'
      }
    })
    await until(
      () =>
        [honest, writer, hostile, copier].every((agent) => agent.membership.actors.get('nurse.jones') !== undefined),
      'every agent to know both actors'
    )
  })
  after(async () => {
    await fleet?.close()
    await module?.close()
  })

  it("an action signed on the actor's token is appended, replicated and accepted by the peer", async () => {
    const input = await signedAction(writer, 'dr.smith', 'patient/1', byKey(token))
    const { seq } = await writer.feed.ledger.append(input)
    await writer.feed.ledger.checkpoint()
    await until(
      async () => (await held(writer.feed.ledger.feedId)) > seq,
      "the honest agent to hold the writer's entry"
    )
    let last: Uint8Array | undefined
    for await (const bytes of honest.replicas.entries(writer.feed.ledger.feedId)) last = bytes
    const entry = decodeEntry(last!).entry
    assert.equal(entry.v, 2)
    assert.equal(entry.actor.id, 'dr.smith')
  })

  it("the honest agent's own feed refuses the forgery on append, before anything is written", async () => {
    const before = honest.feed.ledger.size
    const forged = await signedAction(honest, 'dr.smith', 'patient/2', byKey(softwareP256Signer()))
    await assert.rejects(honest.feed.ledger.append(forged), { code: 'ERR_ACTOR_SIGNATURE' })
    await assert.rejects(
      honest.feed.ledger.append({ ...forged, proof: undefined }),
      { code: 'ERR_ACTOR_PROOF_MISSING' },
      'and an operator entry with no signature at all'
    )
    assert.equal(honest.feed.ledger.size, before)
  })

  it('a software key claiming to be the actor: the peer refuses the batch, naming the actor, and holds none of it', async () => {
    const feed = hostile.feed.ledger.feedId
    const mark = seen.mark
    const heldBefore = await held(feed)
    await hostile.feed.ledger.append(await signedAction(hostile, 'dr.smith', 'patient/3', byKey(softwareP256Signer())))
    await hostile.feed.ledger.checkpoint()
    const [refused] = await seen.next(
      (e) => e.type === 'batch-refused' && e.feed === feed,
      "the refusal of the hostile device's batch",
      { from: mark }
    )
    assert.match((refused as { reason: string }).reason, /dr\.smith/)
    assert.match((refused as { reason: string }).reason, /signature/)
    assert.equal(await held(feed), heldBefore)
  })

  it("a genuine signature copied from another device's entry: refused by the peer, naming the entry", async () => {
    const feed = copier.feed.ledger.feedId
    const genuine = await signedAction(writer, 'dr.smith', 'patient/4', byKey(token))
    const mark = seen.mark
    const heldBefore = await held(feed)
    // The same action and the actor's real signature, appended on the copier's device.
    const { seq } = await copier.feed.ledger.append(genuine)
    await copier.feed.ledger.checkpoint()
    const [refused] = await seen.next(
      (e) => e.type === 'batch-refused' && e.feed === feed,
      "the refusal of the copier's batch",
      { from: mark }
    )
    assert.match((refused as { reason: string }).reason, new RegExp(`entry ${seq} of feed ${feed}`))
    assert.equal(await held(feed), heldBefore)
  })

  /** The alert.cloned_authenticator bodies in the honest agent's own feed about `actorId`. */
  async function cloneAlerts(actorId: string): Promise<Array<Record<string, unknown>>> {
    const alerts: Array<Record<string, unknown>> = []
    for (let i = 0; i < honest.feed.ledger.size; i++) {
      const { entry } = decodeEntry((await honest.feed.ledger.getEntry(i))!)
      if (entry.type === 'alert.cloned_authenticator' && entry.body.actorId === actorId) alerts.push(entry.body)
    }
    return alerts
  }

  it("a security key whose counter goes back in a peer's feed: the entry stands, and the agent records alert.cloned_authenticator once", async () => {
    // The writer's own check would refuse the second one: this writer is the hostile device.
    const feed = writer.feed.ledger.feedId
    writer.feed.ledger.useActors({ verifyAll: async () => undefined })
    await writer.feed.ledger.append(await signedAction(writer, 'nurse.jones', 'patient/5', byAuthenticator(40)))
    await writer.feed.ledger.append(await signedAction(writer, 'nurse.jones', 'patient/6', byAuthenticator(41)))
    const { seq } = await writer.feed.ledger.append(
      await signedAction(writer, 'nurse.jones', 'patient/7', byAuthenticator(12))
    )
    await writer.feed.ledger.checkpoint()
    await until(async () => (await held(feed)) > seq, 'the honest agent to hold all three')
    let alerts: Array<Record<string, unknown>> = []
    await until(async () => {
      alerts = await cloneAlerts('nurse.jones')
      return alerts.length > 0
    }, 'the alert in the honest agent feed')
    assert.equal(alerts.length, 1)
    assert.equal(alerts[0]!.actorId, 'nurse.jones')
    assert.equal(alerts[0]!.feed, feed)
    assert.equal(alerts[0]!.seq, seq)
    assert.equal(alerts[0]!.counter, 12)
    assert.equal(alerts[0]!.againstCounter, 41)
  })

  it("the counters survive the agent's restart: a key behind on its own feed is refused, one behind in a peer's feed recorded", async () => {
    const key = new SoftwareAuthenticator()
    await publish({
      type: 'actor.enrol',
      body: {
        actorId: 'nurse.lee',
        role: 'operator',
        kind: 'webauthn',
        publicKey: key.publicKey,
        credentialId: key.credentialId,
        rpId: 'localhost',
        hardware: 'FIDO2 key'
      }
    })
    await until(
      () => [honest, writer].every((agent) => agent.membership.actors.get('nurse.lee') !== undefined),
      'both agents to know nurse.lee'
    )
    // Before the restart: the key signs at 70 on the honest device, at 20 and 21 on the writer's.
    await honest.feed.ledger.append(await signedAction(honest, 'nurse.lee', 'patient/8', byAuthenticator(70, key)))
    const feed = writer.feed.ledger.feedId
    writer.feed.ledger.useActors({ verifyAll: async () => undefined })
    await writer.feed.ledger.append(await signedAction(writer, 'nurse.lee', 'patient/9', byAuthenticator(20, key)))
    const { seq: held21 } = await writer.feed.ledger.append(
      await signedAction(writer, 'nurse.lee', 'patient/10', byAuthenticator(21, key))
    )
    await writer.feed.ledger.checkpoint()
    await until(async () => (await held(feed)) > held21, 'the honest agent to hold both')

    await honest.stop()
    honest = await fleet.start(honestDevice, { syncIntervalMs: 1_000, onReplication: seen.record })
    await honest.node.dial(writer.node.getMultiaddrs()[0]!)
    await until(
      () =>
        honest.attestation.attested(writer.node.peerId.toString()) &&
        writer.attestation.attested(honest.node.peerId.toString()),
      'the restarted agent attested again'
    )

    // A copy of the key that stayed at 65 signs on the restarted device: refused, and recorded.
    const own = honest.feed.ledger.feedId
    await assert.rejects(
      honest.feed.ledger.append(await signedAction(honest, 'nurse.lee', 'patient/11', byAuthenticator(65, key))),
      { code: 'ERR_WEBAUTHN_CLONED_AUTHENTICATOR' }
    )
    // One at 15 signs on the writer's device: the entry stands there, and the restarted agent records it.
    const { seq } = await writer.feed.ledger.append(
      await signedAction(writer, 'nurse.lee', 'patient/12', byAuthenticator(15, key))
    )
    await writer.feed.ledger.checkpoint()
    await until(async () => (await held(feed)) > seq, 'the restarted agent to hold it')
    let alerts: Array<Record<string, unknown>> = []
    await until(async () => {
      alerts = await cloneAlerts('nurse.lee')
      return alerts.length === 2
    }, 'both alerts in the restarted agent feed')
    const at = (where: string) => alerts.find((alert) => alert.feed === where)!
    assert.deepEqual(
      [at(own).counter, at(own).againstCounter, at(feed).seq, at(feed).counter, at(feed).againstCounter],
      [65, 70, seq, 15, 21]
    )
    assert.equal(at(feed).againstSeq, held21)
    for (let i = 0; i < honest.feed.ledger.size; i++) {
      const { entry } = decodeEntry((await honest.feed.ledger.getEntry(i))!)
      assert.notEqual(entry.body.resource, 'patient/11', 'the refused action is not in the feed')
    }
  })
})
