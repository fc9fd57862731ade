import { FleetError, MalformedInputError } from '../common/index.js'

/** Thrown when a decoded value is not a valid entry (missing, extra or mistyped fields). Exit code 2. */
export class MalformedEntryError extends MalformedInputError {
  constructor(reason: string) {
    super(`ledger entry: ${reason}`, { code: 'ERR_MALFORMED_ENTRY' })
  }
}

/** Thrown when an entry's type is unknown to the ontology, or its version is not supported. */
export class UnknownActionError extends FleetError {
  readonly type: string
  constructor(type: string, ontologyVersion: number) {
    super(`action "${type}" is not in ontology version ${ontologyVersion}`, { code: 'ERR_UNKNOWN_ACTION' })
    this.type = type
  }
}

/** Thrown when an actor's role may not perform an action. */
export class ActorRoleError extends FleetError {
  readonly type: string
  readonly role: string
  constructor(type: string, role: string, allowed: readonly string[]) {
    super(`a ${role} may not perform "${type}" (allowed: ${allowed.join(', ')})`, { code: 'ERR_ACTOR_ROLE' })
    this.type = type
    this.role = role
  }
}

/**
 * Thrown when an action's body does not match its schema; `path` names the offending field.
 * `cause`: the codec's SchemaError, when the schema check refused it.
 */
export class BodySchemaError extends FleetError {
  readonly type: string
  readonly path: string
  constructor(type: string, path: string, reason: string, cause?: unknown) {
    super(`body of "${type}" at ${path}: ${reason}`, { code: 'ERR_BODY_SCHEMA', cause })
    this.type = type
    this.path = path
  }
}

/** Thrown when an inclusion or consistency proof does not verify; carries what was compared. */
export class ProofError extends FleetError {
  readonly kind: 'inclusion' | 'consistency'
  constructor(kind: 'inclusion' | 'consistency', reason: string, code = 'ERR_PROOF') {
    super(`${kind} proof: ${reason}`, { code })
    this.kind = kind
  }
}

/**
 * Thrown when a hash given to verifyInclusion or verifyConsistency (the leaf, a root, or a proof
 * element) is not 32 bytes: RFC 9162 trees here are SHA-256, and a hash of another length can
 * only come from a malformed or forged proof. `which` names it (e.g. "proof[3]"), `length` is its size.
 */
export class ProofHashLengthError extends ProofError {
  readonly which: string
  readonly length: number
  constructor(kind: 'inclusion' | 'consistency', which: string, length: number) {
    super(kind, `${which} is ${length} bytes, not a 32-byte SHA-256 hash`, 'ERR_PROOF_HASH_LENGTH')
    this.which = which
    this.length = length
  }
}

/** Thrown when the stored feed is older than what this device already signed, or the TPM clock went back. */
export class RollbackDetectedError extends FleetError {
  constructor(reason: string) {
    super(`the ledger was rolled back: ${reason}`, { code: 'ERR_ROLLBACK_DETECTED' })
  }
}

/** Thrown when a write to the store fails; the entries of that batch were not appended. */
export class LedgerWriteError extends FleetError {
  constructor(cause: unknown, message?: string, code = 'ERR_LEDGER_WRITE') {
    super(message ?? `the ledger could not write to its store: ${(cause as Error)?.message ?? String(cause)}`, {
      code,
      cause
    })
  }
}

/**
 * Thrown when a write to the store fails because its filesystem is full (ENOSPC): nothing of that
 * write was stored, what was stored before is intact, and writes succeed again once space is freed.
 */
export class LedgerStoreFullError extends LedgerWriteError {
  constructor(cause: unknown) {
    super(
      cause,
      `the ledger's disk is full, nothing of this write was stored; it resumes once space is freed (${(cause as Error)?.message ?? String(cause)})`,
      'ERR_LEDGER_FULL'
    )
  }
}

/** The error for a failed store write: LedgerStoreFullError when the disk is full, else LedgerWriteError. */
export function ledgerWriteError(cause: unknown): LedgerWriteError {
  if (cause instanceof LedgerWriteError) return cause
  const text = `${(cause as Error)?.message ?? ''} ${String((cause as { cause?: unknown })?.cause ?? '')}`
  const full = (cause as { code?: unknown })?.code === 'ENOSPC' || /No space left on device|ENOSPC/.test(text)
  return full ? new LedgerStoreFullError(cause) : new LedgerWriteError(cause)
}

/** Thrown when a stored feed fails re-verification; `seq` or `checkpointSize` locates the damage. */
export class FeedVerificationError extends FleetError {
  readonly seq: number | undefined
  readonly checkpointSize: number | undefined
  /** `cause`: the typed error of the check that failed, when there is one. */
  constructor(reason: string, where: { seq?: number; checkpointSize?: number; cause?: unknown } = {}) {
    super(`feed verification failed: ${reason}`, { code: 'ERR_FEED_VERIFICATION', cause: where.cause })
    this.seq = where.seq
    this.checkpointSize = where.checkpointSize
  }
}

/** Thrown when offered evidence does not prove equivocation (it may be forged, or consistent). */
export class EvidenceRejectedError extends FleetError {
  constructor(reason: string) {
    super(`equivocation evidence rejected: ${reason}`, { code: 'ERR_EVIDENCE_REJECTED' })
  }
}

/**
 * Thrown when an owner-role entry is in a feed other than the owner's: owner statements (enrol,
 * revoke, policy, ontology, quarantine, epochs, release approvals) are valid in the owner's feed
 * only, whatever role a device's feed claims for its actor.
 */
export class FeedRoleError extends FleetError {
  readonly type: string
  readonly role: string
  readonly feed: string
  readonly ownerFeed: string
  constructor(type: string, role: string, feed: string, ownerFeed: string) {
    super(`"${type}" by a ${role} is valid only in the owner's feed ${ownerFeed}, not in feed ${feed}`, {
      code: 'ERR_FEED_ROLE'
    })
    this.type = type
    this.role = role
    this.feed = feed
    this.ownerFeed = ownerFeed
  }
}

/**
 * Thrown when a feed's checkpoint states an epoch the owner did not authorise for it (an owner
 * device.new_epoch statement), or a history of that epoch that does not fork where the owner said.
 */
export class UnauthorisedEpochError extends FleetError {
  readonly feed: string
  readonly epoch: number
  readonly size: number
  constructor(feed: string, epoch: number, size: number, reason: string) {
    super(`feed ${feed}: the checkpoint of ${size} entries in epoch ${epoch} ${reason}`, {
      code: 'ERR_UNAUTHORISED_EPOCH'
    })
    this.feed = feed
    this.epoch = epoch
    this.size = size
  }
}

/** Thrown when an action that needs its actor's own hardware signature has none (a version-1 entry). */
export class MissingActorProofError extends FleetError {
  readonly type: string
  readonly actorId: string
  readonly seq: number
  constructor(type: string, actorId: string, seq: number) {
    super(`entry ${seq}: "${type}" by ${actorId} carries no signature of the actor's own key`, {
      code: 'ERR_ACTOR_PROOF_MISSING'
    })
    this.type = type
    this.actorId = actorId
    this.seq = seq
  }
}

/** Thrown when an entry's actor proof does not decode (version, fields, bounds). Exit code 2. */
export class MalformedActorProofError extends MalformedInputError {
  constructor(reason: string, cause?: unknown) {
    super(`actor proof: ${reason}`, { code: 'ERR_MALFORMED_ACTOR_PROOF', cause })
  }
}

/** Thrown when an actor signed an action too long before (or after) the entry that records it. */
export class ActorProofTimeError extends FleetError {
  readonly seq: number
  readonly entryTime: number
  readonly signedAt: number
  constructor(seq: number, entryTime: number, signedAt: number) {
    super(
      `entry ${seq}: the actor signed at ${new Date(signedAt).toISOString()}, ` +
        `outside the window around the entry's time ${new Date(entryTime).toISOString()}`,
      { code: 'ERR_ACTOR_PROOF_TIME' }
    )
    this.seq = seq
    this.entryTime = entryTime
    this.signedAt = signedAt
  }
}

/** Thrown when an entry by a role that signs with the device's key only (owner, agent) carries an actor proof. */
export class UnexpectedActorProofError extends FleetError {
  readonly seq: number
  readonly role: string
  constructor(seq: number, role: string) {
    super(`entry ${seq}: a "${role}" entry carries no actor proof; only operators' and auditors' do`, {
      code: 'ERR_ACTOR_PROOF_UNEXPECTED'
    })
    this.seq = seq
    this.role = role
  }
}

/** Thrown when an entry's actor proof must be checked but no enrolled actors were given to check it against. */
export class ActorProofUncheckedError extends FleetError {
  readonly seq: number
  readonly actorId: string
  constructor(seq: number, actorId: string) {
    super(`entry ${seq}: ${actorId}'s signature cannot be checked here: the fleet's enrolled actors are not known`, {
      code: 'ERR_ACTOR_PROOF_UNCHECKED'
    })
    this.seq = seq
    this.actorId = actorId
  }
}

/**
 * Thrown when the derived view on an export's entry line is not what the entry's canonical bytes
 * decode to: the bytes may verify, but a reader of the view (jq, a spreadsheet) would be misled.
 * `seq` is the entry, `path` where the view first differs (e.g. "derived.actor.id").
 */
export class ExportViewMismatchError extends FleetError {
  readonly seq: number
  readonly path: string
  constructor(seq: number, path: string) {
    super(`entry ${seq}: its derived view differs from what its bytes decode to, at ${path}`, {
      code: 'ERR_EXPORT_VIEW_MISMATCH'
    })
    this.seq = seq
    this.path = path
  }
}
