import { ACTOR_PROOF_LIMITS } from '../../ledger/index.js'

/** Every bound of the approvals room. */
export const APPROVALS_LIMITS = {
  /** Actions waiting for their actor's approval at once; another is refused (ApprovalsFullError). */
  maxPending: 32,
  /**
   * How long an action waits for its actor on the approval page before it is refused
   * (ApprovalTimeoutError), ms: longer than the page's ceremony (WebAuthn's 120 s), well within
   * ACTOR_PROOF_LIMITS.maxSignedBeforeMs, so an approval given in time is appended in time.
   */
  approvalTimeoutMs: 180_000,
  /** An actor proof as `append` takes it: base64 of at most ACTOR_PROOF_LIMITS.maxProofBytes. */
  maxProofText: 4 * Math.ceil(ACTOR_PROOF_LIMITS.maxProofBytes / 3),
  /**
   * How far from the signer's clock the time of a statement the agent prepared may be, ms. The
   * agent is on the same machine and prepared it a moment ago; a statement dated further off would
   * stay appendable for longer than the actor meant.
   */
  maxPreparedSkewMs: 60_000
} as const
