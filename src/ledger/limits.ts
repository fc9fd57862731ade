/** Every cap of the ledger module. */
export const LEDGER_LIMITS = {
  /** Encoded entry size. */
  maxEntryBytes: 64 * 1024,
  /** CBOR nesting depth (an entry needs 3; bodies may nest a little). */
  maxDepth: 8,
  /** CBOR data items in one entry. */
  maxItems: 4096,
  /** Any text string in an entry. */
  maxStringBytes: 4096,
  /** Feed length, so sizes and indexes stay exact numbers. */
  maxFeedSize: Number.MAX_SAFE_INTEGER,
  /** Proof length (a tree of 2^64 leaves needs at most 64 hashes per side). */
  maxProofHashes: 128
} as const
