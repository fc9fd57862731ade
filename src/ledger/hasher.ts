import { jsHashEntries, jsHashPairs } from './batch-hash.js'

/**
 * The SHA-256 work of the ledger's batch paths, injected: FeedLedger's group commit and a
 * replica's verification hash whole batches of entries in one call, and a feed source hashes one
 * Merkle level of many new leaves in one call. Every implementation MUST give the bytes the
 * node:crypto one gives (entryHash, leafHash, nodeHash and MerkleFrontier.append over the same
 * input) and MUST throw RangeError, writing nothing, on spans or buffers that do not fit.
 *
 * The default is `nodeCryptoHasher`. The composition code (the agent, simnet) may give the native
 * binding's (src/attest: `nativeHasher`), which does the same in one native call per batch.
 */
export interface Hasher {
  /**
   * For entry i of a run in `buf` (bytes buf[spans[3i] + 1, spans[3i + 1]), after a 0x00 byte at
   * spans[3i] that makes buf[spans[3i], spans[3i + 1]) the RFC 9162 leaf input): writes the
   * previous entry's hash (`head` for the first) into its `prev` value at spans[3i + 2], puts
   * SHA-256(entry) into out[32i, 32i + 32), and appends SHA-256(0x00 ‖ entry) to the Merkle
   * frontier held in `roots` (popcount(size) hashes, largest subtree first, as
   * MerkleFrontier.roots; updated in place, room for ROOTS_CAPACITY). With `leaves`, also puts
   * each leaf hash into leaves[32i, 32i + 32).
   */
  hashEntries: (
    buf: Uint8Array,
    spans: Uint32Array,
    count: number,
    head: Uint8Array,
    size: number,
    roots: Uint8Array,
    out: Uint8Array,
    leaves?: Uint8Array
  ) => void
  /** Node hashes of `count` pairs of 32-byte hashes in `input` (left, right, left, right…) into `out`. */
  hashPairs: (input: Uint8Array, count: number, out: Uint8Array) => void
}

/** The hasher on node:crypto: one crypto.hash call per digest. */
export const nodeCryptoHasher: Hasher = { hashEntries: jsHashEntries, hashPairs: jsHashPairs }
