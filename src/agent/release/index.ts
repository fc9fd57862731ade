/**
 * Key release, authorised by the owner (TPM2_PolicyAuthorize with the owner as the authority).
 *
 * A device's ML-DSA-65 and libp2p seeds are first sealed to its boot PCRs and agent PCR directly.
 * Once enrolled, the device can have them re-sealed to the fleet owner: from then on they are
 * released under any PCR state the owner has approved, so a legitimate kernel or agent update
 * needs an owner's approval, not a new identity.
 *
 *   device  fleet release request   quote (AK) of the sealing PCRs + the boot event log + the
 *                                   agent's measurement                    → request.json
 *   owner   fleet release approve   verifies the quote against the enrolled AK, replays the log,
 *                                   judges it by the fleet's boot policy, signs the PCR policy
 *                                   (P-256, what the TPM checks) inside a hybrid-signed approval,
 *                                   records device.approve_release in its feed → approval.json
 *   device  fleet release install   checks the owner's signatures and stores the approval; the
 *                                   first one re-seals the seeds to the owner (or, booted in
 *                                   another state than at fleet init, takes them from the owner
 *                                   copy fleet join made: device/owner-copy.ts)
 *
 * The TPM itself checks the owner's P-256 signature (PolicyAuthorize); the hybrid envelope is
 * checked when the approval is installed, so a forged approval is refused twice.
 *
 * Approvals can be withdrawn. Each device has an approval-epoch counter in its TPM (a monotonic NV
 * counter, approvalEpochIndex); the policy the owner signs is PolicyPCR(boot and agent PCRs) then
 * PolicyNV(counter ≤ epoch), so the owner's signature covers the epoch. An approval made with
 * `withdrawPrevious` is for the epoch after the device's current one: installing it raises the
 * counter, and from then on no approval of an earlier epoch releases the keys, even when the
 * machine boots the state it approved (the counter never goes back). The agent measurement the
 * owner approves must be on the owner's allowlist, not merely the one the device reports.
 *
 * Version 1 approvals (PolicyPCR only, policyRef fleet-release-v1) cannot be withdrawn. The owner
 * signs version 2 only, with another policyRef, so a version-1 signature never satisfies a seal
 * made for version 2; a device whose keys are sealed for version 1 re-seals them at its first
 * version-2 approval.
 */
export { RELEASE_LIMITS } from './limits.js'
export { ReleaseApprovalError, ReleaseRequestRefusedError } from './errors.js'
export {
  AGENT_ALLOWLIST_FILE,
  encodeReleaseRequest,
  makeReleaseRequest,
  parseAgentAllowlist,
  parseReleaseRequest,
  releaseQuoteData,
  verifyReleaseRequest,
  type ReleaseRequest,
  type ReleaseRequester,
  type VerifiedReleaseRequest
} from './request.js'
export {
  approvalEpoch,
  approvalEpochIndex,
  approvalSelection,
  approvalValues,
  decodeReleaseApproval,
  encodeSignedApproval,
  parseSignedApproval,
  releasePolicyRef,
  signReleaseApproval,
  toPcrApproval,
  verifyReleaseApproval,
  type ReleaseApproval,
  type SignedReleaseApproval
} from './approval.js'
