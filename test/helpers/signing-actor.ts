/**
 * Enrolled actors for tests (issue 21: operators and auditors sign their own actions).
 *
 * An actor's key here is a software P-256 key standing in for the key a PKCS#11 token keeps: its
 * proofs are kind 'pkcs11' and carry the same bytes a token's CKM_ECDSA over SHA-256 of the
 * statement gives, so pure unit tests need no SoftHSM2 (test/helpers/softhsm.ts has the real one).
 * The owner enrols the actor with an actor.enrol statement in its own feed (`enrolment` is its
 * body): a running agent learns it from there; a pure test hands an ActorRegistry the statement
 * itself (actorDirectory), standing in for the owner's verified feed.
 */
import { ActorRegistry } from '../../src/agent/membership/index.js'
import { softwareP256Signer, type P256Signer } from '../../src/identity/index.js'
import {
  actorStatement,
  encodeActorProof,
  ownerFeedId,
  type ActorAction,
  type AppendInput,
  type Entry
} from '../../src/ledger/index.js'

export type ActorRole = 'operator' | 'auditor'

/** The body of the owner's actor.enrol for a token-held key (ontology version 3). */
export interface ActorEnrolment {
  actorId: string
  role: ActorRole
  kind: 'pkcs11'
  publicKey: Uint8Array
  hardware: string
}

/** An action as its actor approves it: what AppendInput holds but the actor and the proof. */
export type ActorActionInput = Pick<AppendInput, 'type' | 'attest' | 'body'>

export interface TestActor {
  /** The `actor` of this actor's entries. */
  readonly actor: { id: string; role: ActorRole }
  /** The token key's public point (SEC1, 65 bytes). */
  readonly publicKey: Uint8Array
  /** The body of the owner's actor.enrol that binds this key to the actor's id and role. */
  readonly enrolment: ActorEnrolment
  /** The encoded proof (a version-2 entry's `proof`) of `action`, signed at `at` (ms since the epoch). */
  proofFor(action: ActorAction, at: number): Promise<Uint8Array>
  /**
   * `action` by this actor, ready for FeedLedger.append on device `device` of fleet `fleet`: with
   * its proof, signed at `at` (the appending ledger's clock must read within the proof window of it).
   */
  signed(action: ActorActionInput, where: { fleet: Uint8Array; device: string }, at: number): Promise<AppendInput>
}

/** An actor `id` in `role`, whose key is a fresh software P-256 key (or `key`). */
export function makeActor(id: string, role: ActorRole = 'operator', key: P256Signer = softwareP256Signer()): TestActor {
  const actor = { id, role }
  const proofFor = async (action: ActorAction, at: number): Promise<Uint8Array> =>
    encodeActorProof({ kind: 'pkcs11', at, sig: await key.sign(actorStatement(action, at)) })
  return {
    actor,
    publicKey: key.publicKey,
    enrolment: { actorId: id, role, kind: 'pkcs11', publicKey: key.publicKey, hardware: 'software key (test token)' },
    proofFor,
    signed: async (action, where, at) => ({
      ...action,
      actor,
      proof: await proofFor({ ...where, ...action, actor }, at)
    })
  }
}

/**
 * The owner's actor.enrol of `actor` at `time`, as an entry of the owner's feed of `fleet` (for
 * ActorRegistry.apply: only a verified owner feed may give it one; a pure test stands in for it).
 */
export function enrolEntry(fleet: Uint8Array, actor: TestActor, time: number, seq = 0): Entry {
  const owner = ownerFeedId(fleet)
  return {
    v: 1,
    fleet,
    feed: owner,
    seq,
    prev: new Uint8Array(32),
    time,
    type: 'actor.enrol',
    actor: { id: 'owner/test', role: 'owner' },
    device: owner,
    attest: null,
    body: { ...actor.enrolment }
  }
}

/** An ActorRegistry (the agent's ActorDirectory) that knows `actors`, each enrolled at `time`. */
export function actorDirectory(fleet: Uint8Array, actors: readonly TestActor[], time: number): ActorRegistry {
  const registry = new ActorRegistry()
  for (const [seq, actor] of actors.entries()) registry.apply(enrolEntry(fleet, actor, time, seq))
  return registry
}
