/**
 * Approvals: an operator's or auditor's action signed by their own hardware before the agent
 * appends it (the entry's actor proof, src/ledger/actor-proof.ts).
 *
 * - prepareAction: the action checked as an entry of its feed would be, and the statement its
 *   actor signs. The agent prepares for control socket callers (`prepare`, `approve`); the CLI
 *   prepares the same way when it appends to a state directory itself.
 * - checkPreparedStatement: the signer's check of a statement the agent prepared — exactly the
 *   action asked for, on this fleet and device, dated now — so an agent never gets a blind
 *   signature.
 * - openActorTokenKey: the actor's P-256 key on their PKCS#11 token, which proves a statement.
 * - Approvals: the agent's loopback approval page for actors with a security key (WebAuthn); an
 *   approved action is appended with the assertion as its proof.
 * - proofFromText / proofToText: a proof as the control socket carries it (base64, bounded).
 *
 * @example
 * // the CLI, an actor with a token, through the running agent:
 * const key = await openActorTokenKey({ module, token: 'alice', keyLabel: 'fleet-actor/alice', pin })
 * const { statement } = await controlRequest(dir, { cmd: 'prepare', type, actor, body })
 * const { at } = checkPreparedStatement(fromBase64(statement), { fleet, device, type, actor, body }, now)
 * const proof = await key.prove(fromBase64(statement), at)
 * await controlRequest(dir, { cmd: 'append', type, actor, body, proof: proofToText(proof) })
 */
export { APPROVALS_LIMITS } from './limits.js'
export {
  ApprovalsOffError,
  ApproverUnknownError,
  ApproverRevokedError,
  ApproverKindError,
  ApproverRpIdError,
  ApprovalsFullError,
  ApprovalTimeoutError,
  MalformedStatementError,
  StatementMismatchError,
  StatementTimeError,
  ProofTextError
} from './errors.js'
export { prepareAction, type ActionPlace, type AskedAction, type PreparedAction } from './prepared-action.js'
export { checkPreparedStatement, type ExpectedAction } from './statement-check.js'
export { proofFromText, proofToText } from './proof-text.js'
export {
  DEFAULT_ACTOR_KEY_LABEL,
  defaultActorKeyLabel,
  openActorTokenKey,
  type ActorTokenAccess,
  type ActorTokenKey
} from './token-key.js'
export {
  APPROVAL_RP_ID,
  Approvals,
  type ApprovalsComponents,
  type ApprovalsInit,
  type Placed
} from './approvals.js'
