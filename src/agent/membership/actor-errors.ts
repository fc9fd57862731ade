import { FleetError } from '../../common/index.js'

/** Thrown when an entry names an actor the owner never enrolled. */
export class UnknownActorError extends FleetError {
  readonly actorId: string
  readonly feed: string
  readonly seq: number
  constructor(actorId: string, feed: string, seq: number) {
    super(`entry ${seq} of feed ${feed}: actor ${actorId} is not enrolled by the owner`, { code: 'ERR_ACTOR_UNKNOWN' })
    this.actorId = actorId
    this.feed = feed
    this.seq = seq
  }
}

/** Thrown when an entry is signed by an actor the owner revoked. */
export class RevokedActorError extends FleetError {
  readonly actorId: string
  readonly reason: string
  readonly feed: string
  readonly seq: number
  constructor(actorId: string, reason: string, feed: string, seq: number) {
    super(`entry ${seq} of feed ${feed}: actor ${actorId} was revoked by the owner (${reason})`, {
      code: 'ERR_ACTOR_REVOKED'
    })
    this.actorId = actorId
    this.reason = reason
    this.feed = feed
    this.seq = seq
  }
}

/** Thrown when an entry names an enrolled actor in another role than the one they were enrolled for. */
export class ActorRoleMismatchError extends FleetError {
  readonly actorId: string
  readonly enrolled: string
  readonly claimed: string
  constructor(actorId: string, enrolled: string, claimed: string) {
    super(`actor ${actorId} is enrolled as ${enrolled}, not ${claimed}`, { code: 'ERR_ACTOR_ROLE_MISMATCH' })
    this.actorId = actorId
    this.enrolled = enrolled
    this.claimed = claimed
  }
}

/** Thrown when a proof is of another kind of hardware than the actor's enrolled key. */
export class ActorKindError extends FleetError {
  readonly actorId: string
  readonly enrolled: string
  readonly presented: string
  constructor(actorId: string, enrolled: string, presented: string) {
    super(`actor ${actorId} is enrolled with ${enrolled}, but the proof is ${presented}`, { code: 'ERR_ACTOR_KIND' })
    this.actorId = actorId
    this.enrolled = enrolled
    this.presented = presented
  }
}

/** Thrown when an actor proof's signature is not the enrolled key's over this action. `cause`: the verifier's error. */
export class ActorSignatureError extends FleetError {
  readonly actorId: string
  readonly feed: string
  readonly seq: number
  constructor(actorId: string, feed: string, seq: number, cause?: unknown) {
    super(
      `entry ${seq} of feed ${feed}: the signature is not actor ${actorId}'s enrolled key's over this action` +
        (cause === undefined ? '' : ` (${(cause as Error).message})`),
      { code: 'ERR_ACTOR_SIGNATURE', cause }
    )
    this.actorId = actorId
    this.feed = feed
    this.seq = seq
  }
}

/** Thrown when the owner's feed enrols more actors than MEMBERSHIP_LIMITS.maxActors. */
export class TooManyActorsError extends FleetError {
  readonly max: number
  constructor(max: number) {
    super(`the owner's feed enrols more than ${max} actors`, { code: 'ERR_TOO_MANY_ACTORS' })
    this.max = max
  }
}

/** Thrown when an actor's signature, already verified at one entry, comes again at another: a replay. */
export class ReplayedActorProofError extends FleetError {
  readonly actorId: string
  /** Where it was first: `feed/seq`. */
  readonly first: string
  readonly again: string
  constructor(actorId: string, first: string, again: string) {
    super(`actor ${actorId}'s signature at ${again} was already used at ${first}: one signature, one action`, {
      code: 'ERR_ACTOR_PROOF_REPLAYED'
    })
    this.actorId = actorId
    this.first = first
    this.again = again
  }
}

/** Thrown when a service's entry comes from a program the owner did not allow it to act through. */
export class WorkloadNotAllowedError extends FleetError {
  readonly service: string
  readonly uid: number
  readonly exe: string
  readonly exeDigest: string
  readonly scriptDigest: string | undefined
  readonly feed: string
  readonly seq: number
  constructor(
    service: string,
    program: { uid: number; exe: string; exeDigest: string; scriptDigest?: string; feed: string; seq: number }
  ) {
    super(
      `entry ${program.seq} of feed ${program.feed}: ${service} acted through ${program.exe} ` +
        `(uid ${program.uid}, sha256 ${program.exeDigest}` +
        `${program.scriptDigest === undefined ? '' : `, script sha256 ${program.scriptDigest}`}), ` +
        'which the owner has not allowed for it (workload.allow)',
      { code: 'ERR_WORKLOAD_NOT_ALLOWED' }
    )
    this.service = service
    this.uid = program.uid
    this.exe = program.exe
    this.exeDigest = program.exeDigest
    this.scriptDigest = program.scriptDigest
    this.feed = program.feed
    this.seq = program.seq
  }
}

/** Thrown when the owner's feed allows more workloads than ACTOR_LIMITS.maxWorkloadAllowances. */
export class TooManyWorkloadsError extends FleetError {
  readonly max: number
  constructor(max: number) {
    super(`the owner's feed allows more than ${max} workloads`, { code: 'ERR_TOO_MANY_WORKLOADS' })
    this.max = max
  }
}

/** Thrown when the agent's stored WebAuthn counter memory does not decode: it is not used, and nothing is reset. */
export class ActorCounterStoreError extends FleetError {
  readonly key: string
  constructor(key: string, reason: string, cause?: unknown) {
    super(`the stored WebAuthn counters are damaged at ${JSON.stringify(key)}: ${reason}`, {
      code: 'ERR_ACTOR_COUNTERS_CORRUPT',
      cause
    })
    this.key = key
  }
}
