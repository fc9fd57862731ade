/**
 * Every cap of event-log decoding and encoding. Real logs are tens of KB with a few hundred events
 * (the largest event is usually dbx, ~25 KB); the caps leave two orders of magnitude of headroom
 * while keeping a hostile log from costing more than one pass over at most `maxLogBytes`.
 */
export const EVENTLOG_LIMITS = {
  /** Whole log, in bytes. */
  maxLogBytes: 8 * 1024 * 1024,
  /** Events in one log, the header event included. */
  maxEvents: 20_000,
  /** Data of one event, in bytes. */
  maxEventDataBytes: 1024 * 1024,
  /** Algorithms declared by the Spec ID event, and digests carried by one event. */
  maxDigestsPerEvent: 8,
  /** Digest size the Spec ID event may declare for an algorithm (SHA-512 and SHA3-512 are 64). */
  maxDigestBytes: 64,
  /** vendorInfo of the Spec ID event (its size field is one byte). */
  maxVendorInfoBytes: 255,
  /** UnicodeNameLength of a UEFI_VARIABLE_DATA, in UTF-16 code units. */
  maxVariableNameChars: 1024,
  /** Nodes of one UEFI device path that are decoded to text. */
  maxDevicePathNodes: 64
} as const
