/**
 * The fleet's enrolled actors, from the owner's actor.enrol and actor.revoke statements, and the
 * ActorDirectory that checks an entry's actor proof against them (src/ledger/actor-proof.ts):
 *   pkcs11: ECDSA P-256 over the action statement by the enrolled token key;
 *   webauthn: a stored assertion (src/webauthn) by the enrolled credential, its challenge SHA-256
 *     of the statement, user presence and verification set, its origin the RP ID's own
 *     (http://localhost:PORT for the agent's loopback approval page), its signature counter growing
 *     along each feed.
 * A later actor.enrol of the same id replaces the earlier key (rotation); actor.revoke ends it,
 * until the owner enrols the id again.
 */
import { createHash } from 'node:crypto'
import { verifyP256 } from '../../identity/index.js'
import type { ActorDirectory, ActorProof, Entry } from '../../ledger/index.js'
import {
  ClonedAuthenticatorError,
  decodeStoredAssertion,
  isLoopbackOrigin,
  verifyActionAssertion
} from '../../webauthn/index.js'
import {
  ActorKindError,
  ActorRoleMismatchError,
  ActorSignatureError,
  ReplayedActorProofError,
  RevokedActorError,
  TooManyActorsError,
  UnknownActorError
} from './actor-errors.js'
import { MEMBERSHIP_LIMITS } from './limits.js'

export type ActorKind = 'pkcs11' | 'webauthn'

/** An actor as the owner enrolled it. */
export interface EnrolledActor {
  actorId: string
  role: 'operator' | 'auditor'
  kind: ActorKind
  publicKey: Uint8Array
  credentialId?: Uint8Array
  rpId?: string
  hardware: string
  /** Set once the owner revoked the actor (and not enrolled them again since). */
  revoked?: { reason: string }
}

type ActorLimits = { maxActors: number; maxActorCounters: number; maxRecentProofs: number }

export class ActorRegistry implements ActorDirectory {
  private readonly actors = new Map<string, EnrolledActor>()
  /** Per actor and feed, the last WebAuthn signature counter verified and the entry it was on. */
  private readonly counters = new Map<string, { seq: number; counter: number }>()
  /** Signatures verified lately, by hash, with where each was: the same one elsewhere is a replay. */
  private readonly recent = new Map<string, string>()
  private readonly limits: ActorLimits

  constructor(limits: ActorLimits = MEMBERSHIP_LIMITS) {
    this.limits = limits
  }

  /**
   * Applies an entry of the owner's feed (the caller's guarantee); other actions are ignored, and
   * so is an enrolment no proof could ever match (a token key that is not a SEC1 P-256 point, a
   * WebAuthn credential without its id or RP ID): such an actor stays unknown.
   */
  apply(entry: Entry): 'enrolled' | 'revoked' | undefined {
    if (entry.type === 'actor.enrol') {
      const b = entry.body as Omit<EnrolledActor, 'revoked'>
      if (!usable(b)) return undefined
      if (!this.actors.has(b.actorId) && this.actors.size >= this.limits.maxActors)
        throw new TooManyActorsError(this.limits.maxActors)
      this.actors.set(b.actorId, {
        actorId: b.actorId,
        role: b.role,
        kind: b.kind,
        publicKey: b.publicKey,
        credentialId: b.credentialId,
        rpId: b.rpId,
        hardware: b.hardware
      })
      for (const key of [...this.counters.keys()]) if (key.startsWith(`${b.actorId}\n`)) this.counters.delete(key)
      return 'enrolled'
    }
    if (entry.type === 'actor.revoke') {
      const b = entry.body as { actorId: string; reason: string }
      const actor = this.actors.get(b.actorId)
      if (actor === undefined) return undefined
      actor.revoked = { reason: b.reason }
      return 'revoked'
    }
    return undefined
  }

  get(actorId: string): EnrolledActor | undefined {
    return this.actors.get(actorId)
  }

  list(): EnrolledActor[] {
    return [...this.actors.values()]
  }

  async verify(
    actor: { id: string; role: string },
    statement: Uint8Array,
    proof: ActorProof,
    at: { feed: string; seq: number }
  ): Promise<void> {
    const enrolled = this.actors.get(actor.id)
    if (enrolled === undefined) throw new UnknownActorError(actor.id, at.feed, at.seq)
    if (enrolled.revoked !== undefined) throw new RevokedActorError(actor.id, enrolled.revoked.reason, at.feed, at.seq)
    if (enrolled.role !== actor.role) throw new ActorRoleMismatchError(actor.id, enrolled.role, actor.role)
    if (enrolled.kind !== proof.kind) throw new ActorKindError(actor.id, enrolled.kind, proof.kind)
    if (proof.kind === 'pkcs11') {
      if (!verifyP256(enrolled.publicKey, statement, proof.sig))
        throw new ActorSignatureError(actor.id, at.feed, at.seq)
    } else await this.verifyWebAuthn(enrolled, statement, proof, at)
    this.remember(actor.id, proof, at)
  }

  /**
   * One signature stands for one action: the same signature again at another place (a device
   * appending an approved action twice) is refused. Verified signatures are remembered after
   * they verify, so a forgery cannot make a later genuine entry look replayed.
   */
  private remember(actorId: string, proof: ActorProof, at: { feed: string; seq: number }): void {
    const id = createHash('sha256').update(proof.sig).digest('base64')
    const where = `${at.feed}/${at.seq}`
    const seen = this.recent.get(id)
    if (seen !== undefined && seen !== where) throw new ReplayedActorProofError(actorId, seen, where)
    if (seen === undefined) {
      if (this.recent.size >= this.limits.maxRecentProofs) this.recent.delete(this.recent.keys().next().value!)
      this.recent.set(id, where)
    }
  }

  private async verifyWebAuthn(
    enrolled: EnrolledActor,
    statement: Uint8Array,
    proof: ActorProof,
    at: { feed: string; seq: number }
  ): Promise<void> {
    // apply() enrols a WebAuthn actor only with both.
    const credentialId = enrolled.credentialId!
    const rpId = enrolled.rpId!
    const key = `${enrolled.actorId}\n${at.feed}`
    const last = this.counters.get(key)
    // An entry at or before the last one verified in this feed is a second look at the same
    // history (a batch fetched again): its counter was judged the first time.
    const stored = last === undefined || at.seq <= last.seq ? 0 : last.counter
    let newCounter: number
    try {
      ;({ newCounter } = await verifyActionAssertion(
        { ...decodeStoredAssertion(proof.sig), credentialId },
        {
          signingBytes: statement,
          credential: { credentialId, publicKey: enrolled.publicKey, counter: stored },
          origin: rpId === 'localhost' ? isLoopbackOrigin : `https://${rpId}`,
          rpId,
          requireUserVerification: true
        }
      ))
    } catch (err) {
      if (err instanceof ClonedAuthenticatorError) throw err
      throw new ActorSignatureError(enrolled.actorId, at.feed, at.seq, err)
    }
    if (last === undefined || at.seq > last.seq) {
      if (!this.counters.has(key) && this.counters.size >= this.limits.maxActorCounters) {
        const oldest = this.counters.keys().next().value
        if (oldest !== undefined) this.counters.delete(oldest)
      }
      this.counters.set(key, { seq: at.seq, counter: newCounter })
    }
  }
}

/** An enrolment a proof can match: a SEC1 P-256 token key, or a WebAuthn credential with its id and RP ID. */
function usable(actor: Omit<EnrolledActor, 'revoked'>): boolean {
  if (actor.kind === 'pkcs11') return actor.publicKey.length === 65 && actor.publicKey[0] === 0x04
  return actor.credentialId !== undefined && actor.credentialId.length > 0 && actor.rpId !== undefined
}
