/**
 * Every bound of the identity module in one place.
 */

/** Caps of a batch of P-256 signature checks (p256-batch.ts) and of what its verifiers keep. */
export const P256_BATCH_LIMITS = {
  /**
   * Items in one batch (a sync batch holds at most 2,000 entries, one actor signature each; the
   * native binding refuses more than 65,536 whatever this says).
   */
  maxItems: 4_096,
  /** The batch's messages together, bytes (a sync batch is at most 1 MiB of entries). */
  maxMessageBytes: 16 * 1024 * 1024,
  /** Public keys a verifier keeps parsed between batches; the least recently used goes first. */
  maxCachedKeys: 1_024,
  /**
   * Keys the native verifier keeps a table of precomputed multiples for (about 150 KB each),
   * making each of their verifications about 3x cheaper.
   */
  maxTables: 16,
  /**
   * Verifications under one key after which the native verifier builds its table: building costs
   * about as much as 1,000 verifications save (docs/benchmarks.md, p256-verify), so a key pays for
   * it at most once over.
   */
  tableAfterUses: 1_024
} as const
