import { EVENTLOG_LIMITS } from '../../attest/index.js'

export const RELEASE_LIMITS = {
  /** A request file: the event log (base64) and a few hundred bytes more. */
  maxRequestBytes: Math.ceil((EVENTLOG_LIMITS.maxLogBytes * 4) / 3) + 16 * 1024,
  maxApprovalBytes: 16 * 1024,
  /** Approvals a device keeps: the newest ones, so a device can boot the previous state too. */
  maxApprovals: 8,
  /**
   * How far one installed approval may raise the approval-epoch counter: each step is an NV
   * write, which hardware TPMs rate-limit and wear.
   */
  maxEpochStep: 16n,
  /** Agent measurements in an owner's allowlist file. */
  maxAllowedAgents: 1024
} as const
