/** Caps for event-log decoding. Real logs: tens of KB, a few hundred events. */
export const EVENTLOG_LIMITS = {
  maxLogBytes: 8 * 1024 * 1024,
  maxEvents: 20_000,
  maxEventDataBytes: 1024 * 1024,
  maxAlgorithms: 8,
  maxVendorInfoBytes: 255
} as const
