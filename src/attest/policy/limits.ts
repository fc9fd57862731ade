/** Caps for policy files: they come from operators and over the wire. */
export const POLICY_LIMITS = {
  maxBytes: 1024 * 1024,
  maxDigestsPerEventType: 4096,
  maxEventTypesPerPcr: 64
} as const
