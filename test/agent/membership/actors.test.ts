import assert from 'node:assert/strict'
import path from 'node:path'
import {
  ACTOR_LIMITS,
  ActorCounterStoreError,
  ActorKindError,
  ActorRegistry,
  ActorRoleMismatchError,
  ActorSignatureError,
  ReplayedActorProofError,
  RevokedActorError,
  TooManyActorsError,
  UnknownActorError,
  WorkloadNotAllowedError,
  type ActorRegistryInit,
  type CloneReport
} from '../../../src/agent/membership/index.js'
import { encodeCanonical } from '../../../src/codec/index.js'
import { softwareP256Signer, type P256Signer } from '../../../src/identity/index.js'
import {
  BASE_ONTOLOGY,
  actorStatement,
  checkEntryAgainstOntology,
  encodeActorProof,
  encodeWorkloadEvidence,
  LEDGER_SUBLEVELS,
  LedgerWriteError,
  LevelLedgerStore,
  MissingActorProofError,
  ownerFeedId,
  verifyActorProof,
  verifyActorProofs,
  type Entry
} from '../../../src/ledger/index.js'
import { loadModule, type Pkcs11Module } from '../../../src/pkcs11/index.js'
import { ClonedAuthenticatorError, actionChallenge, encodeStoredAssertion } from '../../../src/webauthn/index.js'
import { tempDir } from '../../helpers/devices.js'
import { SOFTHSM_MODULE, SoftHsm, skipWithoutSoftHsm } from '../../helpers/softhsm.js'
import { FLAGS, SoftwareAuthenticator } from '../../helpers/software-authenticator.js'

const NOW = 1_795_000_000_000
/** When the owner's enrolments in these tests happened: an hour before the actions. */
const ENROLLED = NOW - 3_600_000
const fleet = new Uint8Array(32).fill(0xf1)
const owner = ownerFeedId(fleet)
const device = 'b'.repeat(52)
const otherDevice = 'c'.repeat(52)
const PIN = '1234-5678'
const ORIGIN = 'http://localhost:4711'

let ownerSeq = 0
/** An owner-feed statement, checked against the built-in ontology as any peer would. */
function ownerEntry(type: string, body: Record<string, unknown>, time = ENROLLED): Entry {
  const entry: Entry = {
    v: 1,
    fleet,
    feed: owner,
    seq: ownerSeq++,
    prev: new Uint8Array(32),
    time,
    type,
    actor: { id: 'owner/hospital', role: 'owner' },
    device: owner,
    attest: null,
    body
  }
  checkEntryAgainstOntology(entry, BASE_ONTOLOGY)
  return entry
}

const enrolPkcs11 = (actorId: string, key: Uint8Array, role = 'operator', time = ENROLLED): Entry =>
  ownerEntry(
    'actor.enrol',
    { actorId, role, kind: 'pkcs11', publicKey: key, hardware: 'SoftHSM2 token "actors"' },
    time
  )

const enrolWebAuthn = (actorId: string, authenticator: SoftwareAuthenticator): Entry =>
  ownerEntry('actor.enrol', {
    actorId,
    role: 'operator',
    kind: 'webauthn',
    publicKey: authenticator.publicKey,
    credentialId: authenticator.credentialId,
    rpId: 'localhost',
    hardware: 'FIDO2 security key'
  })

/** An operator entry at `seq` of `feed`, with `sign`'s proof over its statement. */
async function operatorEntry(
  actorId: string,
  sign: (statement: Uint8Array, at: number) => Promise<Uint8Array>,
  options: { seq?: number; feed?: string; resource?: string; role?: string; time?: number } = {}
): Promise<Entry> {
  const time = options.time ?? NOW
  const feed = options.feed ?? device
  const action = {
    fleet,
    device: feed,
    type: 'operator.data_access',
    actor: { id: actorId, role: options.role ?? 'operator' },
    attest: null,
    body: { resource: options.resource ?? 'patients/42', purpose: 'care' }
  }
  const at = time - 2_000
  const proof = await sign(actorStatement(action, at), at)
  return { v: 2, feed, seq: options.seq ?? 1, prev: new Uint8Array(32), time, ...action, proof }
}

const tokenProof = (key: P256Signer) => async (statement: Uint8Array, at: number) =>
  encodeActorProof({ kind: 'pkcs11', at, sig: await key.sign(statement) })

const keyProof =
  (authenticator: SoftwareAuthenticator, choice: { counter?: number; flags?: number; origin?: string } = {}) =>
  async (statement: Uint8Array, at: number) => {
    const { credentialId: _, ...stored } = authenticator.assert({
      challenge: actionChallenge(statement),
      origin: choice.origin ?? ORIGIN,
      rpId: 'localhost',
      counter: choice.counter,
      flags: choice.flags
    })
    return encodeActorProof({ kind: 'webauthn', at, sig: encodeStoredAssertion(stored) })
  }

describe('agent/membership/actors: enrolled actors and the check of their hardware signatures', () => {
  describe('a PKCS#11 token key (SoftHSM2)', () => {
    let hsm: SoftHsm
    let module: Pkcs11Module | undefined
    let key: P256Signer

    before(async function () {
      skipWithoutSoftHsm(this)
      hsm = await SoftHsm.create([{ label: 'actors', pin: PIN }])
      hsm.use()
      module = loadModule(SOFTHSM_MODULE)
      const session = await module.openToken({ token: 'actors', pin: PIN })
      key = await session.generateP256('dr.smith')
    })

    after(async () => {
      await module?.close()
    })

    it('accepts an action signed on the token by the enrolled actor, in the role they were enrolled for', async () => {
      const registry = new ActorRegistry()
      assert.equal(registry.apply(enrolPkcs11('dr.smith', key.publicKey)), 'enrolled')
      const proof = await verifyActorProof(await operatorEntry('dr.smith', tokenProof(key)), registry)
      assert.equal(proof.kind, 'pkcs11')
      assert.equal(registry.get('dr.smith')?.hardware, 'SoftHSM2 token "actors"')
    })

    it('refuses an unknown actor, a revoked one, another role, another kind of proof and another key', async () => {
      const registry = new ActorRegistry()
      registry.apply(enrolPkcs11('dr.smith', key.publicKey))
      const signed = await operatorEntry('dr.smith', tokenProof(key))
      await assert.rejects(
        verifyActorProof(await operatorEntry('eve', tokenProof(key)), registry),
        (err: unknown) => err instanceof UnknownActorError && err.actorId === 'eve' && err.seq === 1
      )
      await assert.rejects(
        verifyActorProof(await operatorEntry('dr.smith', tokenProof(key), { role: 'auditor' }), registry),
        ActorRoleMismatchError
      )
      await assert.rejects(
        verifyActorProof(await operatorEntry('dr.smith', keyProof(new SoftwareAuthenticator())), registry),
        ActorKindError
      )
      const software = softwareP256Signer()
      await assert.rejects(
        verifyActorProof(await operatorEntry('dr.smith', tokenProof(software)), registry),
        ActorSignatureError,
        'a software key that claims to be the actor'
      )
      await verifyActorProof(signed, registry)
      assert.equal(
        registry.apply(ownerEntry('actor.revoke', { actorId: 'dr.smith', reason: 'left the hospital' }, NOW)),
        'revoked'
      )
      const after = await operatorEntry('dr.smith', tokenProof(key), { seq: 2, time: NOW + 60_000 })
      await assert.rejects(
        verifyActorProof(after, registry),
        (err: unknown) => err instanceof RevokedActorError && err.reason === 'left the hospital' && err.seq === 2
      )
      // What the actor signed before the revocation stands: a peer catching up later accepts it.
      await verifyActorProof(signed, registry)
      assert.deepEqual(registry.get('dr.smith')?.revoked, { reason: 'left the hospital', at: NOW })
    })

    it('a second enrolment of the same id replaces the key from its time on; what the old key signed before stands', async () => {
      const registry = new ActorRegistry()
      const old = softwareP256Signer()
      registry.apply(enrolPkcs11('dr.smith', old.publicKey))
      const byOld = await operatorEntry('dr.smith', tokenProof(old), { seq: 1 })
      await verifyActorProof(byOld, registry)
      registry.apply(enrolPkcs11('dr.smith', key.publicKey, 'operator', NOW + 10 * 60_000))
      await verifyActorProof(byOld, registry)
      const later = { time: NOW + 20 * 60_000 }
      await assert.rejects(
        verifyActorProof(await operatorEntry('dr.smith', tokenProof(old), { seq: 2, ...later }), registry),
        (err: unknown) => err instanceof ActorSignatureError && err.seq === 2,
        'the old key after the rotation'
      )
      await assert.rejects(
        verifyActorProof(await operatorEntry('dr.smith', tokenProof(key), { seq: 3 }), registry),
        ActorSignatureError,
        'the new key before its enrolment'
      )
      await verifyActorProof(await operatorEntry('dr.smith', tokenProof(key), { seq: 4, ...later }), registry)
      // Within a minute of the rotation either key is taken (device clocks differ a little).
      const edge = { time: NOW + 10 * 60_000 + 1_000 }
      await verifyActorProof(await operatorEntry('dr.smith', tokenProof(old), { seq: 5, ...edge }), registry)
      await verifyActorProof(await operatorEntry('dr.smith', tokenProof(key), { seq: 6, ...edge }), registry)
      assert.equal(registry.get('dr.smith')?.revoked, undefined)
    })

    it('refuses an action signed before the actor was enrolled', async () => {
      const registry = new ActorRegistry()
      registry.apply(enrolPkcs11('dr.smith', key.publicKey, 'operator', NOW + 3_600_000))
      await assert.rejects(
        verifyActorProof(await operatorEntry('dr.smith', tokenProof(key)), registry),
        UnknownActorError
      )
    })

    it("checks a batch's token signatures together through its P256Verifier, and refuses what it says does not verify", async () => {
      const calls: number[] = []
      let answer = true
      const registry = new ActorRegistry({
        p256: {
          verifyAll: async (items) => {
            calls.push(items.length)
            return items.map(() => answer)
          }
        }
      })
      registry.apply(enrolPkcs11('dr.smith', key.publicKey))
      const entries = [1, 2, 3].map((seq) => operatorEntry('dr.smith', tokenProof(key), { seq }))
      await verifyActorProofs(await Promise.all(entries), registry)
      assert.deepEqual(calls, [3])
      answer = false
      await assert.rejects(
        verifyActorProofs([await operatorEntry('dr.smith', tokenProof(key), { seq: 4 })], registry),
        (err: unknown) => err instanceof ActorSignatureError && err.seq === 4
      )
    })

    it('one signature, one action: the same signed action appended again at another entry is a replay', async () => {
      const registry = new ActorRegistry({ limits: { maxActors: 8, maxActorCounters: 8, maxRecentProofs: 2 } })
      registry.apply(enrolPkcs11('dr.smith', key.publicKey))
      const signed = await operatorEntry('dr.smith', tokenProof(key), { seq: 1 })
      await verifyActorProof(signed, registry)
      await verifyActorProof(signed, registry)
      await assert.rejects(
        verifyActorProof({ ...signed, seq: 7 }, registry),
        (err: unknown) =>
          err instanceof ReplayedActorProofError && err.first === `${device}/1` && err.again === `${device}/7`
      )
      // The table keeps maxRecentProofs signatures, the oldest forgotten first.
      for (let seq = 2; seq <= 3; seq++)
        await verifyActorProof(await operatorEntry('dr.smith', tokenProof(key), { seq }), registry)
      await verifyActorProof({ ...signed, seq: 7 }, registry)
    })

    it('appending, a signature seen anywhere before is a replay; the appended entry looked at again where it landed is not', async () => {
      const registry = new ActorRegistry()
      registry.apply(enrolPkcs11('dr.smith', key.publicKey))
      const signed = await operatorEntry('dr.smith', tokenProof(key), { seq: 40 })
      await verifyActorProof(signed, registry, { appending: true })
      await assert.rejects(
        verifyActorProof(signed, registry, { appending: true }),
        (err: unknown) => err instanceof ReplayedActorProofError && err.first === `${device}/appended`,
        'the same approved action appended twice'
      )
      // Where it landed (seq 12, whatever was guessed at append), a second look is no replay…
      await verifyActorProof({ ...signed, seq: 12 }, registry)
      await verifyActorProof({ ...signed, seq: 12 }, registry)
      // …and from then on it is known by that place.
      await assert.rejects(verifyActorProof({ ...signed, seq: 13 }, registry), ReplayedActorProofError)
    })

    it('a signature moved onto another action or another device is refused', async () => {
      const registry = new ActorRegistry()
      registry.apply(enrolPkcs11('dr.smith', key.publicKey))
      const signed = await operatorEntry('dr.smith', tokenProof(key))
      await assert.rejects(
        verifyActorProof({ ...signed, body: { resource: 'patients/43', purpose: 'care' } }, registry),
        ActorSignatureError
      )
      await assert.rejects(
        verifyActorProof({ ...signed, feed: otherDevice, device: otherDevice }, registry),
        ActorSignatureError
      )
    })
  })

  describe('a FIDO2 authenticator (WebAuthn assertions)', () => {
    it('accepts assertions whose challenge is the action, from the loopback approval page, with a growing counter', async () => {
      const registry = new ActorRegistry()
      const authenticator = new SoftwareAuthenticator()
      registry.apply(enrolWebAuthn('nurse.jones', authenticator))
      for (let seq = 1; seq <= 3; seq++)
        await verifyActorProof(await operatorEntry('nurse.jones', keyProof(authenticator), { seq }), registry)
    })

    it('a counter that goes back along a feed is a cloned authenticator; a second look at an entry already verified is not', async () => {
      const registry = new ActorRegistry()
      const authenticator = new SoftwareAuthenticator()
      registry.apply(enrolWebAuthn('nurse.jones', authenticator))
      const first = await operatorEntry('nurse.jones', keyProof(authenticator, { counter: 10 }), { seq: 1 })
      await verifyActorProof(first, registry)
      const clone = await operatorEntry('nurse.jones', keyProof(authenticator, { counter: 10 }), { seq: 2 })
      await assert.rejects(
        verifyActorProof(clone, registry),
        (err: unknown) =>
          (err as { code?: string }).code === 'ERR_WEBAUTHN_CLONED_AUTHENTICATOR' &&
          (err as { storedCounter?: number }).storedCounter === 10
      )
      await verifyActorProof(first, registry)
      await verifyActorProof(
        await operatorEntry('nurse.jones', keyProof(authenticator, { counter: 11 }), { seq: 2 }),
        registry
      )
    })

    it('across feeds: a signature made well after another with a lower counter is a clone; refused on append, reported on accept', async () => {
      const clones: unknown[] = []
      const registry = new ActorRegistry({ onClone: (clone) => clones.push(clone) })
      const authenticator = new SoftwareAuthenticator()
      registry.apply(enrolWebAuthn('nurse.jones', authenticator))
      await verifyActorProof(
        await operatorEntry('nurse.jones', keyProof(authenticator, { counter: 40 }), { seq: 1 }),
        registry
      )
      // The other copy of the key, used on another device ten minutes later, is behind.
      const copy = await operatorEntry('nurse.jones', keyProof(authenticator, { counter: 12 }), {
        seq: 1,
        feed: otherDevice,
        time: NOW + 10 * 60_000
      })
      await verifyActorProof(copy, registry, { clones: 'report' })
      assert.equal(clones.length, 1)
      assert.deepEqual(clones[0], {
        actorId: 'nurse.jones',
        credentialId: Buffer.from(authenticator.credentialId).toString('hex'),
        feed: otherDevice,
        seq: 1,
        counter: 12,
        against: { feed: device, seq: 1, counter: 40 }
      })
      const again = await operatorEntry('nurse.jones', keyProof(authenticator, { counter: 13 }), {
        seq: 2,
        feed: otherDevice,
        time: NOW + 11 * 60_000
      })
      await assert.rejects(verifyActorProof(again, registry), ClonedAuthenticatorError, 'refused on append')
      assert.equal(clones.length, 1, 'told once per actor and feed')
      // Counters close in time on two devices are not judged (clocks differ).
      const fresh = new ActorRegistry()
      fresh.apply(enrolWebAuthn('nurse.jones', authenticator))
      await verifyActorProof(
        await operatorEntry('nurse.jones', keyProof(authenticator, { counter: 50 }), { seq: 1 }),
        fresh
      )
      await verifyActorProof(
        await operatorEntry('nurse.jones', keyProof(authenticator, { counter: 49 }), { seq: 1, feed: otherDevice }),
        fresh
      )
    })

    it('refuses an assertion without user presence or verification, from another origin, or made for another action', async () => {
      const registry = new ActorRegistry()
      const authenticator = new SoftwareAuthenticator()
      registry.apply(enrolWebAuthn('nurse.jones', authenticator))
      const refused = [
        await operatorEntry('nurse.jones', keyProof(authenticator, { flags: FLAGS.uv })),
        await operatorEntry('nurse.jones', keyProof(authenticator, { flags: FLAGS.up })),
        await operatorEntry('nurse.jones', keyProof(authenticator, { origin: 'https://evil.example' }))
      ]
      for (const entry of refused) await assert.rejects(verifyActorProof(entry, registry), ActorSignatureError)
      const signed = await operatorEntry('nurse.jones', keyProof(authenticator), { seq: 5 })
      await assert.rejects(
        verifyActorProof({ ...signed, body: { resource: 'patients/43', purpose: 'care' } }, registry),
        ActorSignatureError,
        'an assertion replayed for another action'
      )
      const other = new SoftwareAuthenticator()
      await assert.rejects(
        verifyActorProof(await operatorEntry('nurse.jones', keyProof(other), { seq: 6 }), registry),
        ActorSignatureError,
        'another authenticator'
      )
    })
  })

  describe('services: programs the owner allowed (workload.allow), as the agent measured the caller', () => {
    const digest = new Uint8Array(32).fill(0x5e)
    const script = new Uint8Array(32).fill(0x5c)
    const allow = (extra: Record<string, unknown> = {}, time = ENROLLED): Entry =>
      ownerEntry(
        'workload.allow',
        { service: 'triage-service', uid: 990, exeDigest: digest, description: 'triage model v3', ...extra },
        time
      )
    const serviceEntry = (
      evidence: { uid?: number; exeDigest?: Uint8Array; script?: { path: string; digest?: Uint8Array } },
      options: { seq?: number; time?: number; kind?: 'workload' | 'pkcs11'; role?: string } = {}
    ): Entry => {
      const time = options.time ?? NOW
      const sig = encodeWorkloadEvidence({
        uid: evidence.uid ?? 990,
        exe: '/opt/triage/bin/triage',
        exeDigest: evidence.exeDigest ?? digest,
        script: evidence.script
      })
      return {
        v: 2,
        fleet,
        feed: device,
        seq: options.seq ?? 1,
        prev: new Uint8Array(32),
        time,
        type: 'service.model_inference',
        actor: { id: 'triage-service', role: options.role ?? 'service' },
        device,
        attest: null,
        body: { model: 'triage-v3', inputHash: new Uint8Array(32), outputHash: new Uint8Array(32) },
        proof: encodeActorProof({ kind: options.kind ?? 'workload', at: time - 500, sig })
      }
    }

    it('accepts the allowed program, every time (the same measurement is no replay), and refuses another digest or uid, naming it', async () => {
      const registry = new ActorRegistry()
      assert.equal(registry.apply(allow()), 'allowed')
      await verifyActorProof(serviceEntry({}, { seq: 1 }), registry)
      await verifyActorProof(serviceEntry({}, { seq: 2 }), registry)
      const modified = new Uint8Array(32).fill(0x66)
      await assert.rejects(
        verifyActorProof(serviceEntry({ exeDigest: modified }, { seq: 3 }), registry),
        (err: unknown) =>
          err instanceof WorkloadNotAllowedError &&
          err.exeDigest === '66'.repeat(32) &&
          err.message.includes('66'.repeat(32)) &&
          err.seq === 3
      )
      await assert.rejects(
        verifyActorProof(serviceEntry({ uid: 0 }), registry),
        (err: unknown) => err instanceof WorkloadNotAllowedError && err.uid === 0,
        'the same binary run by root is not the allowed workload'
      )
    })

    it('an allowance naming a script needs that script; a revoked allowance holds only for what came before', async () => {
      const registry = new ActorRegistry()
      registry.apply(allow({ scriptDigest: script }))
      await assert.rejects(verifyActorProof(serviceEntry({}), registry), WorkloadNotAllowedError)
      await assert.rejects(
        verifyActorProof(serviceEntry({ script: { path: 'other.py', digest: digest } }), registry),
        WorkloadNotAllowedError
      )
      await verifyActorProof(serviceEntry({ script: { path: 'triage.py', digest: script } }), registry)
      const plain = new ActorRegistry()
      plain.apply(allow())
      assert.equal(
        plain.apply(
          ownerEntry('workload.revoke', { service: 'triage-service', exeDigest: digest, reason: 'superseded' }, NOW)
        ),
        'revoked'
      )
      await verifyActorProof(serviceEntry({}, { time: NOW - 60_000 }), plain)
      await assert.rejects(verifyActorProof(serviceEntry({}, { time: NOW + 60_000 }), plain), WorkloadNotAllowedError)
    })

    it('a service entry without a workload proof, or an operator entry with one, is refused', async () => {
      const registry = new ActorRegistry()
      registry.apply(allow())
      await assert.rejects(verifyActorProof(serviceEntry({}, { kind: 'pkcs11' }), registry), ActorKindError)
      registry.apply(enrolPkcs11('triage-service', softwareP256Signer().publicKey))
      await assert.rejects(
        verifyActorProof(
          {
            ...serviceEntry({}),
            type: 'operator.data_access',
            actor: { id: 'triage-service', role: 'operator' },
            body: { resource: 'r', purpose: 'p' }
          },
          registry
        ),
        ActorKindError
      )
      await assert.rejects(
        verifyActorProof({ ...serviceEntry({}), proof: undefined, v: 1 }, registry),
        MissingActorProofError
      )
    })
  })

  describe("WebAuthn counters across a restart (kept in the agent's LevelDB store)", () => {
    const authenticator = new SoftwareAuthenticator()
    const enrolment = enrolWebAuthn('nurse.jones', authenticator)
    const signed = (counter: number, seq: number, options: { feed?: string; time?: number } = {}) =>
      operatorEntry('nurse.jones', keyProof(authenticator, { counter }), { seq, ...options })
    let dir: string

    beforeEach(async () => {
      dir = await tempDir('fleet-counters-')
    })

    /** The registry as an agent builds it on start: the owner's enrolments, then the counters its store keeps. */
    async function started(
      init: ActorRegistryInit = {}
    ): Promise<{ registry: ActorRegistry; store: LevelLedgerStore }> {
      const store = new LevelLedgerStore(path.join(dir, 'ledger'))
      await store.open()
      const registry = new ActorRegistry(init)
      registry.apply(enrolment)
      await registry.restoreCounters(store)
      return { registry, store }
    }

    it('after a restart a lower counter along a feed is still a clone (refused, or reported), and so is a contradiction across feeds', async () => {
      const first = await started()
      await verifyActorProof(await signed(5, 1), first.registry, { clones: 'report' })
      await verifyActorProof(await signed(7, 2), first.registry, { clones: 'report' })
      await first.store.close()

      const clones: CloneReport[] = []
      const { registry, store } = await started({ onClone: (clone) => clones.push(clone) })
      try {
        await assert.rejects(
          verifyActorProof(await signed(6, 3), registry),
          (err: unknown) =>
            err instanceof ClonedAuthenticatorError && err.storedCounter === 7 && err.receivedCounter === 6
        )
        // Ten minutes after the signature with counter 7, the other copy of the key is at 6.
        const copy = await signed(6, 1, { feed: otherDevice, time: NOW + 10 * 60_000 })
        await verifyActorProof(copy, registry, { clones: 'report' })
        assert.deepEqual(
          clones.map((clone) => [clone.feed, clone.seq, clone.counter, clone.against]),
          [
            [device, 3, 6, { feed: device, seq: 2, counter: 7 }],
            [otherDevice, 1, 6, { feed: device, seq: 2, counter: 7 }]
          ]
        )
      } finally {
        await store.close()
      }
    })

    it('a clone reported before the restart is not told again; each restart goes on from the last judgement', async () => {
      const clones: CloneReport[] = []
      const first = await started({ onClone: (clone) => clones.push(clone) })
      await verifyActorProof(await signed(5, 1), first.registry, { clones: 'report' })
      await verifyActorProof(await signed(3, 2), first.registry, { clones: 'report' })
      assert.equal(clones.length, 1)
      await first.store.close()
      for (const [counter, seq] of [
        [2, 3],
        [1, 4]
      ] as const) {
        const { registry, store } = await started({ onClone: (clone) => clones.push(clone) })
        await verifyActorProof(await signed(counter, seq), registry, { clones: 'report' })
        await store.close()
      }
      assert.equal(clones.length, 1, 'told once per actor and feed, across restarts')
      const last = await started()
      await assert.rejects(verifyActorProof(await signed(1, 5), last.registry), ClonedAuthenticatorError)
      await last.store.close()
    })

    it('keeps its cap across a restart: what it forgot stays forgotten, in the order it was learnt', async () => {
      const limits = { maxActors: 8, maxActorCounters: 1, maxRecentProofs: 8 }
      const first = await started({ limits })
      await verifyActorProof(await signed(5, 1), first.registry)
      await verifyActorProof(await signed(9, 1, { feed: otherDevice }), first.registry)
      await first.store.close()
      const { registry, store } = await started({ limits })
      try {
        await assert.rejects(
          verifyActorProof(await signed(9, 2, { feed: otherDevice }), registry),
          ClonedAuthenticatorError
        )
        // The first feed's counter was forgotten before the restart (the cost of the bound).
        await verifyActorProof(await signed(2, 2), registry)
      } finally {
        await store.close()
      }
    })

    it('refuses to start from a counter store that does not decode, naming the record, and alters nothing stored', async () => {
      const first = await started()
      await verifyActorProof(await signed(5, 1), first.registry)
      const held: Array<[string, Uint8Array]> = []
      for await (const pair of first.store.sublevel(LEDGER_SUBLEVELS.actorCounters).iterator()) held.push(pair)
      assert.equal(held.length, 2, 'the counter, the sighting and nothing else')
      const counterKey = held.find(([key]) => key.startsWith('c'))![0]
      const sightingKey = held.find(([key]) => key.startsWith('s'))![0]
      const tooMany = encodeCanonical({
        v: 1,
        n: 1,
        seen: Array.from({ length: ACTOR_LIMITS.maxSightings + 1 }, (_, i) => ({
          at: NOW,
          counter: i + 1,
          feed: device,
          seq: i
        }))
      })
      const corrupt: Array<[string, string, Uint8Array]> = [
        ['bytes that are no CBOR', counterKey, new Uint8Array([0xff, 0x00, 0x13])],
        ['a counter past 32 bits', counterKey, encodeCanonical({ v: 1, n: 0, order: 1, seq: 1, counter: 2 ** 32 })],
        ['an unknown version', counterKey, encodeCanonical({ v: 2, n: 0, order: 1, seq: 1, counter: 5 })],
        ['a field too many', counterKey, encodeCanonical({ v: 1, n: 0, order: 1, seq: 1, counter: 5, x: 1 })],
        ['more sightings than a credential keeps', sightingKey, tooMany],
        ['a key of no kind', 'x\nnurse.jones', encodeCanonical({ v: 1, n: 0 })],
        [
          'a counter key naming no feed',
          'c\nnurse.jones\n1\nnot-a-feed',
          encodeCanonical({ v: 1, n: 0, order: 1, seq: 1, counter: 5 })
        ]
      ]
      await first.store.close()
      for (const [what, key, value] of corrupt) {
        const store = new LevelLedgerStore(path.join(dir, 'ledger'))
        await store.open()
        const counters = store.sublevel(LEDGER_SUBLEVELS.actorCounters)
        try {
          const original = await counters.get(key)
          await store.write([{ type: 'put', sublevel: counters, key, value }], { sync: true })
          const before: Array<[string, Uint8Array]> = []
          for await (const pair of counters.iterator()) before.push(pair)
          const registry = new ActorRegistry()
          registry.apply(enrolment)
          await assert.rejects(
            registry.restoreCounters(store),
            (err: unknown) =>
              err instanceof ActorCounterStoreError && err.code === 'ERR_ACTOR_COUNTERS_CORRUPT' && err.key === key,
            what
          )
          const after: Array<[string, Uint8Array]> = []
          for await (const pair of counters.iterator()) after.push(pair)
          assert.deepEqual(after, before, `${what}: nothing stored is altered`)
          // Put back what was there, for the next case.
          await store.write(
            [
              original === undefined
                ? { type: 'del', sublevel: counters, key }
                : { type: 'put', sublevel: counters, key, value: original }
            ],
            { sync: true }
          )
        } finally {
          await store.close()
        }
      }
      // Put back, the store is whole again and its counter still holds.
      const { registry, store } = await started()
      await assert.rejects(verifyActorProof(await signed(5, 2), registry), ClonedAuthenticatorError)
      await store.close()
    })

    it('more records than its cap is a store it did not write: refused too', async () => {
      const first = await started()
      await verifyActorProof(await signed(5, 1), first.registry)
      await verifyActorProof(await signed(6, 1, { feed: otherDevice }), first.registry)
      await first.store.close()
      const store = new LevelLedgerStore(path.join(dir, 'ledger'))
      await store.open()
      try {
        const registry = new ActorRegistry({ limits: { maxActors: 8, maxActorCounters: 1, maxRecentProofs: 8 } })
        await assert.rejects(registry.restoreCounters(store), ActorCounterStoreError)
      } finally {
        await store.close()
      }
    })

    it('a judgement that cannot be written refuses the entry (it is never stored without it)', async () => {
      const { registry, store } = await started()
      await verifyActorProof(await signed(5, 1), registry)
      await store.close()
      await assert.rejects(verifyActorProof(await signed(6, 2), registry), LedgerWriteError)
    })
  })

  describe('bounds and enrolments no proof could match', () => {
    it('refuses more actors than its cap with TooManyActorsError; enrolling a known id again still works', () => {
      const registry = new ActorRegistry({ limits: { maxActors: 2, maxActorCounters: 8, maxRecentProofs: 8 } })
      registry.apply(enrolPkcs11('a', softwareP256Signer().publicKey))
      registry.apply(enrolPkcs11('b', softwareP256Signer().publicKey))
      assert.throws(
        () => registry.apply(enrolPkcs11('c', softwareP256Signer().publicKey)),
        (err: unknown) => err instanceof TooManyActorsError && err.max === 2
      )
      assert.equal(registry.apply(enrolPkcs11('a', softwareP256Signer().publicKey)), 'enrolled')
      assert.deepEqual(
        registry.list().map((actor) => actor.actorId),
        ['a', 'b']
      )
    })

    it('keeps at most its cap of WebAuthn counters, forgetting the oldest first', async () => {
      const registry = new ActorRegistry({ limits: { maxActors: 8, maxActorCounters: 1, maxRecentProofs: 8 } })
      const authenticator = new SoftwareAuthenticator()
      registry.apply(enrolWebAuthn('nurse.jones', authenticator))
      await verifyActorProof(
        await operatorEntry('nurse.jones', keyProof(authenticator, { counter: 5 }), { seq: 1 }),
        registry
      )
      // Another feed takes the only slot: the first feed's counter is forgotten, so a lower one
      // there is no longer caught (the cost of the bound), while the second feed's still is.
      const elsewhere = { feed: otherDevice }
      await verifyActorProof(
        await operatorEntry('nurse.jones', keyProof(authenticator, { counter: 9 }), { seq: 1, ...elsewhere }),
        registry
      )
      await assert.rejects(
        verifyActorProof(
          await operatorEntry('nurse.jones', keyProof(authenticator, { counter: 9 }), { seq: 2, ...elsewhere }),
          registry
        ),
        ClonedAuthenticatorError
      )
      await verifyActorProof(
        await operatorEntry('nurse.jones', keyProof(authenticator, { counter: 2 }), { seq: 2 }),
        registry
      )
    })

    it('an enrolment no proof could match (a token key that is not a P-256 point, a credential without id or RP ID) enrols nobody', async () => {
      const registry = new ActorRegistry()
      const notAPoint = new Uint8Array(65).fill(7)
      assert.equal(registry.apply(enrolPkcs11('dr.smith', notAPoint)), undefined)
      const authenticator = new SoftwareAuthenticator()
      const noRpId = ownerEntry('actor.enrol', {
        actorId: 'nurse.jones',
        role: 'operator',
        kind: 'webauthn',
        publicKey: authenticator.publicKey,
        credentialId: authenticator.credentialId,
        hardware: 'FIDO2 security key'
      })
      assert.equal(registry.apply(noRpId), undefined)
      await assert.rejects(
        verifyActorProof(await operatorEntry('nurse.jones', keyProof(authenticator)), registry),
        UnknownActorError
      )
      assert.deepEqual(registry.list(), [])
    })
  })
})
