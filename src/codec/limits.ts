/**
 * Every cap of the codec module. The CBOR caps hold for every strict decode (ledger entries, wire
 * messages, signed records): a caller may lower the size cap per call, never the others.
 */
export const CBOR_LIMITS = {
  /** Encoded input size when the caller names none (a ledger entry's cap). */
  maxBytes: 64 * 1024,
  /** Nesting depth of arrays and maps (an entry needs 3; bodies may nest a little). */
  maxDepth: 8,
  /** Data items in one input (a sync batch of 2,000 entries fits). */
  maxItems: 4096,
  /** Any text string, UTF-8 bytes. */
  maxStringBytes: 4096
} as const

/** Caps of schema refusals. */
export const SCHEMA_LIMITS = {
  /** A field name or map key as quoted in an error's path, characters. */
  maxPathKey: 64
} as const
