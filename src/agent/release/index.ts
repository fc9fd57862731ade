/**
 * Key release: a device's request to have a new boot state approved, and the owner's signed
 * approvals (PolicyAuthorize) that let the device's sealed keys be released on that state.
 */
export {
  AGENT_ALLOWLIST_FILE, RELEASE_LIMITS, ReleaseApprovalError, ReleaseRequestRefusedError, approvalEpoch,
  approvalEpochIndex, approvalSelection, approvalValues, decodeReleaseApproval, encodeReleaseRequest,
  encodeSignedApproval, makeReleaseRequest, parseAgentAllowlist, parseReleaseRequest, parseSignedApproval,
  releasePolicyRef, signReleaseApproval, toPcrApproval, verifyReleaseApproval, verifyReleaseRequest,
  type ReleaseApproval, type ReleaseRequest, type SignedReleaseApproval
} from './approval.js'
