import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { encodeCanonical } from '../../src/codec/index.js'
import { HybridSigner, nodeMlDsa65, softwareP256Signer, verifyP256, type P256Signer } from '../../src/identity/index.js'
import {
  ACTOR_PROOF_LIMITS,
  ActorProofTimeError,
  BASE_ONTOLOGY,
  FeedLedger,
  LevelLedgerStore,
  MalformedActorProofError,
  MalformedEntryError,
  MissingActorProofError,
  ReplicaRejectedError,
  ReplicaStore,
  UnexpectedActorProofError,
  ActorProofUncheckedError,
  actorStatement,
  decodeActorProof,
  decodeEntry,
  decodeEntryUnhashed,
  encodeActorProof,
  encodeEntry,
  ownFeedSource,
  readActorProof,
  requiresActorProof,
  verifyActorProof,
  type ActorDirectory,
  type ActorProof,
  type Entry
} from '../../src/ledger/index.js'
import { encodeEntryBytes } from '../../src/ledger/entry-encoder.js'
import { tempDir } from '../helpers/devices.js'

const NOW = 1_795_000_000_000
const fleet = new Uint8Array(32).fill(0xf1)
const device = 'b'.repeat(52)
const action = {
  fleet,
  device,
  type: 'operator.data_access',
  actor: { id: 'dr.smith', role: 'operator' },
  attest: null,
  body: { resource: 'patients/42', purpose: 'care' }
}

/** An entry of `action` at `seq`, with `proof` (version 2) or without (version 1). */
function entryOf(proof?: Uint8Array, seq = 3, time = NOW): Entry {
  const entry: Entry = { v: 1, feed: device, seq, prev: new Uint8Array(32).fill(0xaa), time, ...action }
  if (proof !== undefined) {
    entry.v = 2
    entry.proof = proof
  }
  return entry
}

/** A directory of one actor whose key is a P-256 key (as a PKCS#11 token holds it). */
function directoryOf(actorId: string, key: P256Signer): ActorDirectory & { seen: string[] } {
  const seen: string[] = []
  return {
    seen,
    verifyAll: async (checks) => {
      for (const { actor, statement, proof } of checks) {
        seen.push(`${actor.id}/${proof.kind}`)
        if (actor.id !== actorId) throw new Error(`unknown actor ${actor.id}`)
        if (proof.kind !== 'pkcs11' || !verifyP256(key.publicKey, statement, proof.sig))
          throw new Error('the actor signature does not verify')
      }
    }
  }
}

/** A device's feed on `store`, signed by a software hybrid key, its clock at NOW. */
function feedOn(
  store: LevelLedgerStore,
  batchMs: number,
  actors?: ActorDirectory
): { ledger: FeedLedger; signer: HybridSigner } {
  const signer = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32)))
  const components = {
    store,
    signer,
    clock: { now: () => NOW },
    tpmClock: { readTpmClock: async () => ({ clock: 1n, resetCount: 1, restartCount: 0 }) },
    ontology: BASE_ONTOLOGY,
    actors
  }
  return { ledger: new FeedLedger(components, { fleetId: fleet, feedId: device, batchMs }), signer }
}

/** An agent's own entry (no actor proof). */
const tamper = (i: number) => ({
  type: 'alert.tamper',
  actor: { id: 'agent/b', role: 'agent' },
  attest: null,
  body: { subject: device, pcr: 7, detail: `change ${i}` }
})

async function signed(key: P256Signer, at = NOW - 1_000, what = action): Promise<Uint8Array> {
  const sig = await key.sign(actorStatement(what, at))
  return encodeActorProof({ kind: 'pkcs11', at, sig })
}

describe("ledger/actor-proof: entries signed by their actor's own hardware key (entry version 2)", () => {
  const key = softwareP256Signer()

  it('a version-2 entry is canonical CBOR with `proof` between fleet and attest; the fast writer and decoder agree with the generic ones', async () => {
    const entry = entryOf(await signed(key))
    const bytes = encodeEntry(entry)
    assert.deepEqual(bytes, encodeCanonical(entry), 'the envelope writer writes what the generic encoder writes')
    assert.equal(bytes[0], 0xac, 'a map of 12 keys')
    const keys = ['fleet', 'proof', 'attest'].map((k) => Buffer.from(bytes).indexOf(Buffer.from(k)))
    assert.ok(keys[0]! < keys[1]! && keys[1]! < keys[2]!, 'fleet, proof, attest in canonical order')
    const decoded = decodeEntry(bytes).entry
    assert.equal(decoded.v, 2)
    assert.deepEqual(decoded.proof, entry.proof)
    const { prevAt } = decodeEntryUnhashed(bytes)
    assert.deepEqual(bytes.subarray(prevAt, prevAt + 32), entry.prev, 'prev is found where a batch hasher fills it in')
    assert.deepEqual(encodeEntryBytes(decoded), bytes)
  })

  it('refuses a version-1 entry with a proof, a version-2 entry without one, an empty or oversized proof, and version 3', async () => {
    const proof = await signed(key)
    const refusals: Array<[string, Record<string, unknown>]> = [
      ['v1 with a proof', { ...entryOf(), proof }],
      ['v2 without a proof', { ...entryOf(), v: 2 }],
      ['an empty proof', { ...entryOf(proof), proof: new Uint8Array(0) }],
      ['an oversized proof', { ...entryOf(proof), proof: new Uint8Array(ACTOR_PROOF_LIMITS.maxProofBytes + 1) }],
      ['a proof that is not bytes', { ...entryOf(proof), proof: 'signed' }],
      ['version 3', { ...entryOf(proof), v: 3 }]
    ]
    for (const [what, value] of refusals) {
      assert.throws(() => encodeEntry(value as unknown as Entry), MalformedEntryError, what)
      assert.throws(() => decodeEntry(encodeCanonical(value)), MalformedEntryError, `${what}, decoded`)
    }
  })

  it('a proof decodes strictly: version 1, exactly its fields, a known kind, a bounded non-empty signature', () => {
    const good = { v: 1, kind: 'pkcs11', at: NOW, sig: new Uint8Array(64).fill(1) }
    assert.deepEqual(decodeActorProof(encodeCanonical(good)), { kind: 'pkcs11', at: NOW, sig: good.sig })
    const bad: Array<[string, unknown]> = [
      ['version 2', { ...good, v: 2 }],
      ['an unknown kind', { ...good, kind: 'password' }],
      ['an extra field', { ...good, note: 'x' }],
      ['no signature', { v: 1, kind: 'pkcs11', at: NOW }],
      ['an empty signature', { ...good, sig: new Uint8Array(0) }],
      ['an oversized signature', { ...good, sig: new Uint8Array(ACTOR_PROOF_LIMITS.maxSignatureBytes + 1) }],
      ['a negative time', { ...good, at: -1 }]
    ]
    for (const [what, value] of bad)
      assert.throws(() => decodeActorProof(encodeCanonical(value)), MalformedActorProofError, what)
    assert.throws(() => decodeActorProof(Uint8Array.of(0xa1, 0x61, 0x76)), MalformedActorProofError, 'truncated CBOR')
  })

  it('the statement names the whole action and when it was signed: any change gives other bytes, and it is domain-separated', () => {
    const base = actorStatement(action, NOW)
    const changes: Array<[string, Parameters<typeof actorStatement>]> = [
      ['another fleet', [{ ...action, fleet: new Uint8Array(32).fill(2) }, NOW]],
      ['another device', [{ ...action, device: 'c'.repeat(52) }, NOW]],
      ['another type', [{ ...action, type: 'operator.model_inference' }, NOW]],
      ['another actor', [{ ...action, actor: { id: 'eve', role: 'operator' } }, NOW]],
      ['another role', [{ ...action, actor: { id: 'dr.smith', role: 'auditor' } }, NOW]],
      ['an attestation', [{ ...action, attest: new Uint8Array(32) }, NOW]],
      ['another body', [{ ...action, body: { resource: 'patients/43', purpose: 'care' } }, NOW]],
      ['another time', [action, NOW + 1]]
    ]
    for (const [what, args] of changes) assert.notDeepEqual(actorStatement(...args), base, what)
    const plain = encodeCanonical({ v: 1, ...action, at: NOW })
    assert.equal(
      Buffer.from(base).indexOf(Buffer.from(plain)) > 0,
      true,
      'the statement is the action after a domain tag'
    )
    assert.notDeepEqual(base, plain)
  })

  it("verifyActorProof hands the directory the statement the actor signed, and the directory's refusal stands", async () => {
    const directory = directoryOf('dr.smith', key)
    const proof = await verifyActorProof(entryOf(await signed(key)), directory)
    assert.equal(proof.kind, 'pkcs11')
    assert.deepEqual(directory.seen, ['dr.smith/pkcs11'])
    const other = softwareP256Signer()
    await assert.rejects(
      verifyActorProof(entryOf(await signed(other)), directory),
      /does not verify/,
      'signed by another key'
    )
  })

  it('a proof taken from one action and put on another (other body, other device, other actor) does not verify', async () => {
    const directory = directoryOf('dr.smith', key)
    const proof = await signed(key)
    const moved: Entry[] = [
      { ...entryOf(proof), body: { resource: 'patients/43', purpose: 'care' } },
      { ...entryOf(proof), device: 'c'.repeat(52), feed: 'c'.repeat(52) },
      {
        ...entryOf(proof),
        type: 'operator.model_inference',
        body: { model: 'm', inputHash: new Uint8Array(32), outputHash: new Uint8Array(32) }
      }
    ]
    for (const entry of moved) await assert.rejects(verifyActorProof(entry, directory), /does not verify/)
    const impostor = { ...entryOf(proof), actor: { id: 'eve', role: 'operator' } }
    await assert.rejects(verifyActorProof(impostor, directory), /unknown actor eve/)
  })

  it("refuses an entry without a proof, and one signed too long before or after the entry's time, before any key is asked", async () => {
    const directory = directoryOf('dr.smith', key)
    await assert.rejects(verifyActorProof(entryOf(), directory), MissingActorProofError)
    const early = await signed(key, NOW - ACTOR_PROOF_LIMITS.maxSignedBeforeMs - 1)
    assert.throws(() => readActorProof(entryOf(early)), ActorProofTimeError, 'kept for later')
    const late = await signed(key, NOW + ACTOR_PROOF_LIMITS.maxSignedAfterMs + 1)
    assert.throws(() => readActorProof(entryOf(late)), ActorProofTimeError, 'dated in the future')
    const edge = await signed(key, NOW - ACTOR_PROOF_LIMITS.maxSignedBeforeMs)
    await verifyActorProof(entryOf(edge), directory)
    assert.deepEqual(directory.seen, ['dr.smith/pkcs11'], 'only the entry within the window reached the directory')
  })

  it('the durable feed on LevelDB appends version-2 entries beside version-1 ones; a replica verifies and keeps both, proofs intact', async () => {
    const dir = await tempDir('fleet-actor-proof-')
    const store = new LevelLedgerStore(path.join(dir, 'feed'))
    await store.open()
    const directory = directoryOf('dr.smith', key)
    const { ledger, signer } = feedOn(store, 10_000, directory)
    const replicaStore = new LevelLedgerStore(path.join(dir, 'replica'))
    await replicaStore.open()
    try {
      await ledger.start()
      const proofs: Uint8Array[] = []
      const appends: Array<Promise<unknown>> = []
      for (let i = 0; i < 6; i++) {
        const body = { resource: `patients/${i}`, purpose: 'care' }
        if (i % 2 === 1) {
          const proof = await signed(key, NOW - 500, { ...action, body })
          proofs.push(proof)
          appends.push(ledger.append({ type: action.type, actor: action.actor, attest: null, body, proof }))
        } else appends.push(ledger.append(tamper(i)))
      }
      await Promise.all(appends)
      await ledger.checkpoint()
      const source = ownFeedSource(store, device)
      const batch = await source.batch(0)
      assert.ok(batch !== undefined)
      const trust = { fleetId: fleet, feedKey: signer.publicKey, ontology: BASE_ONTOLOGY }
      await assert.rejects(
        new ReplicaStore(replicaStore).apply(batch, trust),
        (err: unknown) =>
          err instanceof ReplicaRejectedError && err.cause instanceof ActorProofUncheckedError && err.batch?.seq === 3,
        'a replica with no enrolled actors to check against takes nothing'
      )
      const replicas = new ReplicaStore(replicaStore)
      assert.equal((await replicas.meta(device)).size, 0)
      const applied = await replicas.apply(batch, { ...trust, actors: directory })
      assert.equal(applied.added, 6)
      // An actor's action is queued once its proof is checked: after the appends that need no check.
      assert.deepEqual(
        applied.entries.map((e) => e.v),
        [1, 1, 1, 2, 2, 2]
      )
      assert.deepEqual(
        applied.entries.filter((e) => e.v === 2).map((e) => e.proof),
        proofs
      )
      for (const entry of applied.entries.filter((e) => e.v === 2)) await verifyActorProof(entry, directory)
    } finally {
      await ledger.stop()
      await store.close()
      await replicaStore.close()
    }
  })

  it("an operator's action is appended only with a proof the directory accepts; other roles carry none", async () => {
    const store = new LevelLedgerStore(path.join(await tempDir('fleet-actor-proof-'), 'feed'))
    await store.open()
    const directory = directoryOf('dr.smith', key)
    const { ledger } = feedOn(store, 10, directory)
    const bare = feedOn(store, 10)
    try {
      await ledger.start()
      await assert.rejects(
        ledger.append({ type: action.type, actor: action.actor, attest: null, body: action.body }),
        MissingActorProofError
      )
      assert.equal(requiresActorProof('auditor'), true, 'an auditor signs too')
      assert.equal(requiresActorProof('agent'), false)
      await assert.rejects(
        ledger.append({
          type: action.type,
          actor: action.actor,
          attest: null,
          body: action.body,
          proof: await signed(softwareP256Signer())
        }),
        /does not verify/,
        "signed by a key that is not the actor's"
      )
      await assert.rejects(
        ledger.append({ ...tamper(1), proof: await signed(key) }),
        UnexpectedActorProofError,
        'an agent entry with a proof'
      )
      assert.equal(ledger.size, 0, 'nothing was written')
      await ledger.append({
        type: action.type,
        actor: action.actor,
        attest: null,
        body: action.body,
        proof: await signed(key)
      })
      assert.equal(ledger.size, 1)
      await ledger.stop()
      await bare.ledger.start()
      await assert.rejects(
        bare.ledger.append({
          type: action.type,
          actor: action.actor,
          attest: null,
          body: action.body,
          proof: await signed(key)
        }),
        ActorProofUncheckedError,
        'a feed given no enrolled actors appends no operator action'
      )
    } finally {
      await ledger.stop()
      await bare.ledger.stop()
      await store.close()
    }
  })

  it('an append with a malformed proof is refused before it is queued, and nothing is written', async () => {
    const store = new LevelLedgerStore(path.join(await tempDir('fleet-actor-proof-'), 'feed'))
    await store.open()
    const { ledger } = feedOn(store, 10, directoryOf('dr.smith', key))
    try {
      await ledger.start()
      await ledger.append(tamper(0))
      const tooBig = new Uint8Array(ACTOR_PROOF_LIMITS.maxProofBytes + 1)
      await assert.rejects(
        ledger.append({ type: action.type, actor: action.actor, attest: null, body: action.body, proof: tooBig }),
        MalformedEntryError
      )
      await assert.rejects(
        ledger.append({
          type: action.type,
          actor: action.actor,
          attest: null,
          body: action.body,
          proof: new Uint8Array(0)
        }),
        MalformedEntryError
      )
      assert.equal(ledger.size, 1)
    } finally {
      await ledger.stop()
      await store.close()
    }
  })

  it("a proof of another kind is passed to the directory as such (a WebAuthn assertion is the directory's to read)", async () => {
    const seen: ActorProof[] = []
    const directory: ActorDirectory = {
      verifyAll: async (checks) => {
        for (const { proof } of checks) seen.push(proof)
      }
    }
    const assertion = new Uint8Array(300).fill(7)
    await verifyActorProof(entryOf(encodeActorProof({ kind: 'webauthn', at: NOW, sig: assertion })), directory)
    assert.equal(seen[0]?.kind, 'webauthn')
    assert.deepEqual(seen[0]?.sig, assertion)
    assert.throws(
      () => encodeActorProof({ kind: 'webauthn', at: NOW, sig: new Uint8Array(0) }),
      MalformedActorProofError
    )
  })
})
