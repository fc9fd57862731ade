/** Every cap of the enrolment ceremony. */
export const ENROL_LIMITS = {
  /** An event log sent during enrolment (real logs are tens to hundreds of KiB). */
  maxEventLogBytes: 2 * 1024 * 1024,
  maxFrameBytes: 2 * 1024 * 1024 + 16 * 1024,
  /** Per protocol step, for machines. */
  stepTimeoutMs: 15_000,
  /** While a person compares the digits. */
  confirmTimeoutMs: 300_000
} as const
