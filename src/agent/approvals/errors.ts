import { FleetError, MalformedInputError } from '../../common/index.js'

/**
 * The refusals of the approvals room, one class per condition, each with a code and its evidence
 * as fields.
 */

/** Thrown when `approve` is asked of an agent whose config does not enable the approval page. */
export class ApprovalsOffError extends FleetError {
  constructor() {
    super('approvals are off on this agent: set "approvals": {"port": N} in its config', {
      code: 'ERR_APPROVALS_OFF'
    })
  }
}

/** Thrown when an approval is asked of an actor the owner never enrolled. */
export class ApproverUnknownError extends FleetError {
  readonly actorId: string
  constructor(actorId: string) {
    super(`actor ${actorId} is not enrolled by the owner: nobody can approve in their name`, {
      code: 'ERR_APPROVER_UNKNOWN'
    })
    this.actorId = actorId
  }
}

/** Thrown when an approval is asked of an actor the owner revoked. */
export class ApproverRevokedError extends FleetError {
  readonly actorId: string
  readonly reason: string
  constructor(actorId: string, reason: string) {
    super(`actor ${actorId} was revoked by the owner (${reason})`, { code: 'ERR_APPROVER_REVOKED' })
    this.actorId = actorId
    this.reason = reason
  }
}

/** Thrown when an approval is asked of an actor whose enrolled key is not a security key (WebAuthn). */
export class ApproverKindError extends FleetError {
  readonly actorId: string
  readonly kind: string
  constructor(actorId: string, kind: string) {
    super(`actor ${actorId} signs with a ${kind} key, not a security key: sign on it (fleet ledger append --${kind})`, {
      code: 'ERR_APPROVER_NOT_WEBAUTHN'
    })
    this.actorId = actorId
    this.kind = kind
  }
}

/**
 * Thrown when an actor's security key was enrolled for another relying party than the approval
 * page's (`localhost`): it cannot sign there.
 */
export class ApproverRpIdError extends FleetError {
  readonly actorId: string
  readonly rpId: string
  readonly pageRpId: string
  constructor(actorId: string, rpId: string, pageRpId: string) {
    super(`actor ${actorId}'s security key is enrolled for "${rpId}"; the approval page is "${pageRpId}"`, {
      code: 'ERR_APPROVER_RP_ID'
    })
    this.actorId = actorId
    this.rpId = rpId
    this.pageRpId = pageRpId
  }
}

/** Thrown when APPROVALS_LIMITS.maxPending actions already wait for their approval. */
export class ApprovalsFullError extends FleetError {
  readonly max: number
  constructor(max: number) {
    super(`${max} actions already wait for their approval; try again once some are answered`, {
      code: 'ERR_APPROVALS_FULL'
    })
    this.max = max
  }
}

/** Thrown when an action's actor did not approve it within the approval timeout: nothing is appended. */
export class ApprovalTimeoutError extends FleetError {
  readonly id: string
  readonly actorId: string
  readonly timeoutMs: number
  constructor(id: string, actorId: string, timeoutMs: number) {
    super(`actor ${actorId} did not approve action ${id} within ${Math.round(timeoutMs / 1000)} s: nothing appended`, {
      code: 'ERR_APPROVAL_TIMEOUT'
    })
    this.id = id
    this.actorId = actorId
    this.timeoutMs = timeoutMs
  }
}

/** Thrown when a statement to sign is not an action statement at all (domain, encoding, fields). */
export class MalformedStatementError extends FleetError {
  readonly reason: string
  constructor(reason: string, cause?: unknown) {
    super(`the statement to sign is not an action statement: ${reason}`, { code: 'ERR_STATEMENT_MALFORMED', cause })
    this.reason = reason
  }
}

/**
 * Thrown when a statement to sign names another action than the one asked for (another field,
 * fleet, device, type, actor or body): the signer refuses to sign it. `field` names the first
 * difference (`body.resource`, `actor`…), `expected` and `received` show both values.
 */
export class StatementMismatchError extends FleetError {
  readonly field: string
  readonly expected: string
  readonly received: string
  constructor(field: string, expected: string, received: string) {
    super(`the statement to sign is not the action asked for: ${field} is ${received}, not ${expected}`, {
      code: 'ERR_STATEMENT_MISMATCH'
    })
    this.field = field
    this.expected = expected
    this.received = received
  }
}

/** Thrown when a statement to sign is dated further than APPROVALS_LIMITS.maxPreparedSkewMs from now. */
export class StatementTimeError extends FleetError {
  readonly at: number
  readonly now: number
  readonly maxSkewMs: number
  constructor(at: number, now: number, maxSkewMs: number) {
    super(
      `the statement to sign is dated ${new Date(at).toISOString()}, more than ${maxSkewMs / 1000} s from ` +
        `now (${new Date(now).toISOString()})`,
      { code: 'ERR_STATEMENT_TIME' }
    )
    this.at = at
    this.now = now
    this.maxSkewMs = maxSkewMs
  }
}

/**
 * Thrown when an actor proof given as text is not canonical base64 within
 * APPROVALS_LIMITS.maxProofText. Exit code 2.
 */
export class ProofTextError extends MalformedInputError {
  readonly reason: string
  constructor(reason: string) {
    super(`proof: ${reason}`, { code: 'ERR_PROOF_TEXT' })
    this.reason = reason
  }
}
