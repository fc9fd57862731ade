/**
 * The fleet's enrolled actors, from the owner's actor.enrol and actor.revoke statements, and the
 * ActorDirectory that checks entries' actor proofs against them (src/ledger/actor-proof.ts):
 *   pkcs11: ECDSA P-256 over the action statement by the enrolled token key;
 *   webauthn: a stored assertion (src/webauthn) by the enrolled credential, its challenge SHA-256
 *     of the statement, user presence and verification set, its origin the RP ID's own
 *     (http://localhost:PORT for the agent's loopback approval page), its signature counter growing.
 *
 * Enrolments are kept as a history by time, so what was true stays true: a proof is checked
 * against the key in force when the actor signed (the proof's `at`). A later actor.enrol of the
 * same id replaces the key from its time on (rotation: earlier entries still verify with the old
 * key); actor.revoke ends it from its time on (entries signed before it stand), until the owner
 * enrols the id again. An action signed within ACTOR_LIMITS.enrolSkewMs of an enrolment is
 * checked against both keys around it (device clocks differ a little).
 *
 * Services (the `service` role) are no enrolled persons: their entries carry the agent's
 * measurement of the calling program, checked against the owner's workload.allow statements
 * (workloads.ts).
 *
 * Cloned authenticators: a WebAuthn counter that did not grow, along a feed or across feeds (two
 * signatures whose times and counters disagree by more than the clock skew), is a clone. With
 * clones 'refuse' the entry is refused (ClonedAuthenticatorError); with 'report' it stands. Either
 * way onClone hears of it, once per actor and feed (the agent records an alert). What the check
 * remembers (counters, sightings, clones told: counter-memory.ts) survives a restart once the
 * registry keeps it in a store (restoreCounters): a check resolves only once what it taught is on
 * disk, so the agent starts again knowing the judgement of every entry it stored.
 */
import { createHash } from 'node:crypto'
import { toHex } from '../../common/index.js'
import { nodeP256Verifier, verifyP256, type P256BatchVerifier } from '../../identity/index.js'
import {
  decodeWorkloadEvidence,
  type ActorCheck,
  type ActorDirectory,
  type ActorCheckOptions,
  type CloneHandling,
  type Entry,
  type LedgerStore
} from '../../ledger/index.js'
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
import { CounterMemory } from './counter-memory.js'
import { ACTOR_LIMITS, MEMBERSHIP_LIMITS } from './limits.js'
import { WorkloadAllowances } from './workloads.js'

export type ActorKind = 'pkcs11' | 'webauthn'

/** An actor as the owner enrolled them: the latest enrolment, and its revocation if any. */
export interface EnrolledActor {
  actorId: string
  role: 'operator' | 'auditor'
  kind: ActorKind
  publicKey: Uint8Array
  credentialId?: Uint8Array
  rpId?: string
  hardware: string
  /** The time of the owner's actor.enrol (ms since the Unix epoch). */
  enrolledAt: number
  /** Set once the owner revoked the actor (and not enrolled them again since). */
  revoked?: { reason: string; at: number }
}

/** Many P-256 signatures verified at once (src/identity's batch verifiers). */
export type P256Verifier = P256BatchVerifier

/** A cloned authenticator, as found: the signature whose counter did not grow, and the one it contradicts. */
export interface CloneReport {
  actorId: string
  credentialId: string
  feed: string
  seq: number
  counter: number
  /** The earlier-or-contradicting signature: where it was and its counter. */
  against: { feed: string; seq: number; counter: number }
}

export interface ActorRegistryInit {
  limits?: { maxActors: number; maxActorCounters: number; maxRecentProofs: number }
  /** Verifies a batch's token signatures together (default: one by one on this thread). */
  p256?: P256Verifier
  /** Hears of each clone found (at most once per actor and feed). */
  onClone?: (report: CloneReport) => void
}

export class ActorRegistry implements ActorDirectory {
  /** Per actor, their enrolments oldest first (at most ACTOR_LIMITS.maxKeysPerActor). */
  private readonly actors = new Map<string, EnrolledActor[]>()
  /**
   * Per actor, enrolment and feed, the last WebAuthn signature counter verified, its entry, and
   * its place in the feed's order (an entry appended here is the newest, whatever its seq); per
   * credential, its latest sightings across feeds; the clones told, by actor and feed.
   */
  private readonly memory: CounterMemory
  /** Signatures verified lately, by hash, with where each was: the same one elsewhere is a replay. */
  private readonly recent = new Map<string, string>()
  private readonly limits: NonNullable<ActorRegistryInit['limits']>
  private readonly p256: P256Verifier
  private readonly onClone: ((report: CloneReport) => void) | undefined
  /** The programs the owner allowed services to act through. */
  readonly workloads = new WorkloadAllowances()

  constructor(init: ActorRegistryInit = {}) {
    this.limits = init.limits ?? MEMBERSHIP_LIMITS
    this.memory = new CounterMemory(this.limits.maxActorCounters)
    this.p256 = init.p256 ?? nodeP256Verifier()
    this.onClone = init.onClone
  }

  /**
   * Applies an entry of the owner's feed (the caller's guarantee), in feed order; other actions
   * are ignored, and so is an enrolment no proof could ever match (a token key that is not a SEC1
   * P-256 point, a WebAuthn credential without its id or RP ID): such an actor stays unknown.
   */
  apply(entry: Entry): 'enrolled' | 'revoked' | 'allowed' | undefined {
    if (entry.type === 'workload.allow' || entry.type === 'workload.revoke') return this.workloads.apply(entry)
    if (entry.type === 'actor.enrol') {
      const b = entry.body as Omit<EnrolledActor, 'revoked' | 'enrolledAt'>
      if (!usable(b)) return undefined
      let history = this.actors.get(b.actorId)
      if (history === undefined) {
        if (this.actors.size >= this.limits.maxActors) throw new TooManyActorsError(this.limits.maxActors)
        history = []
        this.actors.set(b.actorId, history)
      }
      const previous = history.at(-1)
      // The key in force until now ends here (a revoked one ended earlier).
      if (previous !== undefined && previous.revoked === undefined)
        previous.revoked = { reason: 'replaced', at: entry.time }
      history.push({
        actorId: b.actorId,
        role: b.role,
        kind: b.kind,
        publicKey: b.publicKey,
        credentialId: b.credentialId,
        rpId: b.rpId,
        hardware: b.hardware,
        enrolledAt: entry.time
      })
      if (history.length > ACTOR_LIMITS.maxKeysPerActor) history.shift()
      return 'enrolled'
    }
    if (entry.type === 'actor.revoke') {
      const b = entry.body as { actorId: string; reason: string }
      const current = this.actors.get(b.actorId)?.at(-1)
      if (current === undefined || current.revoked !== undefined) return undefined
      current.revoked = { reason: b.reason, at: entry.time }
      return 'revoked'
    }
    return undefined
  }

  /**
   * Reads the WebAuthn counter memory `store` keeps (the agent's ledger store), and keeps it there
   * from now on: each check that changes it resolves only once the change is written (synced).
   * Called once, on start, before the first check. Throws ActorCounterStoreError when a stored row
   * does not decode: nothing is taken, nothing is reset, nothing stored is altered.
   */
  async restoreCounters(store: LedgerStore): Promise<void> {
    await this.memory.restore(store)
  }

  /** The actor's latest enrolment (with its revocation, if revoked). */
  get(actorId: string): EnrolledActor | undefined {
    const latest = this.actors.get(actorId)?.at(-1)
    if (latest === undefined) return undefined
    return latest.revoked?.reason === 'replaced' ? { ...latest, revoked: undefined } : latest
  }

  list(): EnrolledActor[] {
    return [...this.actors.keys()].map((id) => this.get(id)!)
  }

  /**
   * Checks one feed's proofs in feed order. The token signatures are verified together first
   * (the P256Verifier), then each check in order: enrolment in force, role, kind, signature,
   * WebAuthn counters, replay. Throws at the first failing check. Resolves once what the checks
   * taught of WebAuthn counters is written (when kept: restoreCounters), or with LedgerWriteError.
   */
  async verifyAll(checks: readonly ActorCheck[], options: ActorCheckOptions = {}): Promise<void> {
    try {
      await this.check(checks, options)
    } catch (err) {
      // What the checks before it taught stands; the entries are refused either way.
      await this.memory.persist().catch(() => undefined)
      throw err
    }
    await this.memory.persist()
  }

  private async check(checks: readonly ActorCheck[], options: ActorCheckOptions): Promise<void> {
    const clones = options.clones ?? 'refuse'
    const appending = options.appending === true
    // A service is no enrolled person: its entries carry what the agent measured of the program.
    const candidates = checks.map((check) => (check.actor.role === 'service' ? [] : this.candidates(check)))
    const batch: { publicKey: Uint8Array; message: Uint8Array; signature: Uint8Array }[] = []
    const slots: number[] = []
    for (const [i, check] of checks.entries()) {
      const first = candidates[i]![0]
      if (check.proof.kind === 'pkcs11' && first?.kind === 'pkcs11') {
        slots[i] = batch.length
        batch.push({ publicKey: first.publicKey, message: check.statement, signature: check.proof.sig })
      }
    }
    const verified = batch.length === 0 ? [] : await this.p256.verifyAll(batch)
    for (const [i, check] of checks.entries()) {
      if (check.actor.role === 'service') {
        this.checkWorkload(check)
        continue
      }
      const keys = candidates[i]!
      let signedBy: EnrolledActor | undefined
      let failure: unknown
      for (const [k, key] of keys.entries()) {
        try {
          this.checkClaim(key, check)
          if (check.proof.kind === 'pkcs11') {
            const ok =
              k === 0 && slots[i] !== undefined
                ? verified[slots[i]!]
                : verifyP256(key.publicKey, check.statement, check.proof.sig)
            if (ok !== true) throw new ActorSignatureError(check.actor.id, check.at.feed, check.at.seq)
          } else await this.verifyWebAuthn(key, check, clones, appending)
          signedBy = key
          break
        } catch (err) {
          if (err instanceof ClonedAuthenticatorError) throw err
          failure ??= err
        }
      }
      if (signedBy === undefined) throw failure
      this.remember(check, appending)
    }
  }

  /**
   * The enrolments a check may be signed under: the one in force at the proof's time, then,
   * when that time lies within the skew of an enrolment's start, the one before it. Throws when
   * there is none: an actor never enrolled (or not yet, at that time), or revoked by then.
   */
  private candidates(check: ActorCheck): EnrolledActor[] {
    const { actor, at, proof } = check
    const history = this.actors.get(actor.id)
    if (history === undefined) throw new UnknownActorError(actor.id, at.feed, at.seq)
    const skew = ACTOR_LIMITS.enrolSkewMs
    let index = -1
    for (let i = history.length - 1; i >= 0; i--) {
      if (history[i]!.enrolledAt - skew <= proof.at) {
        index = i
        break
      }
    }
    if (index < 0) throw new UnknownActorError(actor.id, at.feed, at.seq)
    const inForce = history[index]!
    const out: EnrolledActor[] = []
    if (inForce.revoked === undefined || proof.at < inForce.revoked.at) out.push(inForce)
    const before = history[index - 1]
    if (
      before !== undefined &&
      proof.at < inForce.enrolledAt + skew &&
      (before.revoked === undefined || proof.at < before.revoked.at)
    )
      out.push(before)
    if (out.length === 0) {
      const reason = inForce.revoked?.reason === 'replaced' ? 'its key was replaced' : (inForce.revoked?.reason ?? '')
      throw new RevokedActorError(actor.id, reason, at.feed, at.seq)
    }
    return out
  }

  private checkWorkload(check: ActorCheck): void {
    if (check.proof.kind !== 'workload') throw new ActorKindError(check.actor.id, 'workload', check.proof.kind)
    this.workloads.check(check.actor.id, decodeWorkloadEvidence(check.proof.sig), check.proof.at, check.at)
  }

  private checkClaim(enrolled: EnrolledActor, check: ActorCheck): void {
    if (enrolled.role !== check.actor.role)
      throw new ActorRoleMismatchError(check.actor.id, enrolled.role, check.actor.role)
    if (enrolled.kind !== check.proof.kind) throw new ActorKindError(check.actor.id, enrolled.kind, check.proof.kind)
  }

  /**
   * One signature stands for one action: the same signature again at another place (a device
   * appending an approved action twice) is refused. Verified signatures are remembered after
   * they verify, so a forgery cannot make a later genuine entry look replayed.
   */
  private remember(check: ActorCheck, appending: boolean): void {
    const id = createHash('sha256').update(check.proof.sig).digest('base64')
    const appended = `${check.at.feed}/appended`
    const where = appending ? appended : `${check.at.feed}/${check.at.seq}`
    const seen = this.recent.get(id)
    // Appending, any signature seen before is a replay. An entry this agent appended, looked at
    // again where it landed, is no replay: from then on it is known by its place.
    if (seen !== undefined && (appending || (seen !== where && seen !== appended)))
      throw new ReplayedActorProofError(check.actor.id, seen, where)
    if (seen === undefined || seen === appended) {
      if (seen === undefined && this.recent.size >= this.limits.maxRecentProofs)
        this.recent.delete(this.recent.keys().next().value!)
      this.recent.set(id, where)
    }
  }

  private async verifyWebAuthn(
    enrolled: EnrolledActor,
    check: ActorCheck,
    clones: CloneHandling,
    appending: boolean
  ): Promise<void> {
    const { at, proof, statement } = check
    // apply() enrols a WebAuthn actor only with both.
    const credentialId = enrolled.credentialId!
    const rpId = enrolled.rpId!
    let newCounter: number
    try {
      // The counter is judged here, not by the verifier: along the feed and across feeds.
      ;({ newCounter } = await verifyActionAssertion(
        { ...decodeStoredAssertion(proof.sig), credentialId },
        {
          signingBytes: statement,
          credential: { credentialId, publicKey: enrolled.publicKey, counter: 0 },
          origin: rpId === 'localhost' ? isLoopbackOrigin : `https://${rpId}`,
          rpId,
          requireUserVerification: true
        }
      ))
    } catch (err) {
      throw new ActorSignatureError(enrolled.actorId, at.feed, at.seq, err)
    }
    const clone = this.judgeCounter(enrolled, check, newCounter, appending)
    if (clone === undefined) return
    if (this.memory.tell(clone.actorId, clone.feed)) this.onClone?.(clone)
    if (clones === 'refuse')
      throw new ClonedAuthenticatorError(clone.credentialId, clone.against.counter, clone.counter)
  }

  /**
   * A WebAuthn counter of 0 means the authenticator keeps none; otherwise it grows with every
   * signature. Along a feed: an entry after the last one judged must have a higher counter (an
   * entry at or before it is a second look at the same history: judged the first time). Across
   * feeds: two signatures more than the skew apart in time must be in the same order by counter.
   */
  private judgeCounter(
    enrolled: EnrolledActor,
    check: ActorCheck,
    counter: number,
    appending: boolean
  ): CloneReport | undefined {
    const { proof } = check
    // An entry being appended is the newest of its feed, wherever it lands: later looks at the
    // feed's entries (this agent's own) are second looks.
    const { at } = check
    const order = appending ? Number.MAX_SAFE_INTEGER : at.seq
    const credentialId = toHex(enrolled.credentialId!)
    const key = `${enrolled.actorId}\n${enrolled.enrolledAt}\n${at.feed}`
    const last = this.memory.last(key)
    if (!appending && last !== undefined && order <= last.order) return undefined
    this.memory.setLast(key, { order, seq: at.seq, counter })
    if (counter === 0 && (last === undefined || last.counter === 0)) return undefined
    const report = (against: { feed: string; seq: number; counter: number }): CloneReport => ({
      actorId: enrolled.actorId,
      credentialId,
      feed: at.feed,
      seq: at.seq,
      counter,
      against
    })
    if (last !== undefined && counter <= last.counter)
      return report({ feed: at.feed, seq: last.seq, counter: last.counter })
    const skew = ACTOR_LIMITS.cloneSkewMs
    const contradicted = this.memory
      .sightings(credentialId)
      .find(
        (s) =>
          s.feed !== at.feed &&
          ((s.at < proof.at - skew && s.counter >= counter) || (s.at > proof.at + skew && s.counter <= counter))
      )
    this.memory.sight(credentialId, { at: proof.at, counter, feed: at.feed, seq: at.seq })
    return contradicted === undefined
      ? undefined
      : report({ feed: contradicted.feed, seq: contradicted.seq, counter: contradicted.counter })
  }
}

/** An enrolment a proof can match: a SEC1 P-256 token key, or a WebAuthn credential with its id and RP ID. */
function usable(actor: Omit<EnrolledActor, 'revoked' | 'enrolledAt'>): boolean {
  if (actor.kind === 'pkcs11') return actor.publicKey.length === 65 && actor.publicKey[0] === 0x04
  return actor.credentialId !== undefined && actor.credentialId.length > 0 && actor.rpId !== undefined
}
