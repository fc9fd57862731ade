import { hash } from 'node:crypto'
import { loadNative } from '../attest/tpm/native.js'

/**
 * Hashes a run of encoded entries in one buffer, as FeedLedger's group commit needs them: for
 * entry i (bytes buf[spans[3i] + 1, spans[3i + 1]), after a 0x00 byte at spans[3i] that makes
 * buf[spans[3i], spans[3i + 1]) the RFC 9162 leaf input), writes the previous entry's hash into
 * its `prev` value at spans[3i + 2], puts SHA-256(entry) into out[32i, 32i + 32), and appends
 * SHA-256(0x00 ‖ entry) to the Merkle frontier held in `roots` (popcount(size) hashes, largest
 * subtree first, as MerkleFrontier.roots; updated in place, room for 64). With `leaves`, also puts
 * each leaf hash into leaves[32i, 32i + 32).
 *
 * The entries chain, so the work is sequential; doing all of it in one native call saves three
 * crypto.hash calls and three 32-byte allocations per entry.
 */
export type HashEntries = (buf: Uint8Array, spans: Uint32Array, count: number, head: Uint8Array, size: number, roots: Uint8Array, out: Uint8Array, leaves?: Uint8Array) => void

/** Room for the frontier of any tree whose size is a safe integer. */
export const ROOTS_CAPACITY = 64

const nodeInput = new Uint8Array(65)
nodeInput[0] = 1

/** The same computation with node:crypto, where the native binding is not built. */
export const jsHashEntries: HashEntries = (buf, spans, count, head, size, roots, out, leaves) => {
  if (spans.length < 3 * count || out.length < 32 * count || head.length !== 32 || roots.length < ROOTS_CAPACITY * 32 || (leaves !== undefined && leaves.length < 32 * count)) throw new RangeError('hashEntries: buffers too short')
  for (let i = 0; i < count; i++) {
    const start = spans[3 * i]!
    const end = spans[3 * i + 1]!
    const prev = spans[3 * i + 2]!
    if (!(start < end && end <= buf.length && prev > start && prev + 32 <= end)) throw new RangeError('hashEntries: a span is outside the buffer')
    if (buf[start] !== 0) throw new RangeError('hashEntries: a leaf prefix byte is not 0x00')
  }
  let top = popCount(size)
  let chain = head
  for (let i = 0; i < count; i++) {
    const start = spans[3 * i]!
    const end = spans[3 * i + 1]!
    buf.set(chain, spans[3 * i + 2]!)
    out.set(hash('sha256', buf.subarray(start + 1, end), 'buffer'), 32 * i)
    chain = out.subarray(32 * i, 32 * i + 32)
    const leaf = hash('sha256', buf.subarray(start, end), 'buffer')
    leaves?.set(leaf, 32 * i)
    roots.set(leaf, 32 * top++)
    for (let s = size; s % 2 === 1; s = Math.floor(s / 2)) {
      nodeInput.set(roots.subarray(32 * (top - 2), 32 * top), 1)
      top -= 2
      roots.set(hash('sha256', nodeInput, 'buffer'), 32 * top++)
    }
    size++
  }
}

/** Set bits of a safe integer (the number of frontier roots of a tree of that size). */
export function popCount (size: number): number {
  let bits = 0
  for (let s = size; s > 0; s = Math.floor(s / 2)) bits += s % 2
  return bits
}

/** A function of the agent's native binding when it loads and has it, else `fallback` (same results). */
function nativeOr<F> (name: 'hashEntries' | 'hashPairs', fallback: F): () => F {
  let chosen: F | undefined
  return () => {
    if (chosen !== undefined) return chosen
    try {
      const native = loadNative()[name]
      chosen = typeof native === 'function' ? native as F : fallback
    } catch {
      chosen = fallback
    }
    return chosen
  }
}

/**
 * The native batch hasher from the agent's binding (native/src/ledger_hash.cc) when it loads,
 * else the node:crypto one: both give the same bytes (test/ledger/batch-hash.test.ts).
 */
export const batchHasher: () => HashEntries = nativeOr('hashEntries', jsHashEntries)

/** Node hashes of `count` pairs of 32-byte hashes in `input` (left, right, left, right…) into `out`. */
export type HashPairs = (input: Uint8Array, count: number, out: Uint8Array) => void

export const jsHashPairs: HashPairs = (input, count, out) => {
  if (input.length < 64 * count || out.length < 32 * count) throw new RangeError('hashPairs: buffers too short')
  for (let i = 0; i < count; i++) {
    nodeInput.set(input.subarray(64 * i, 64 * i + 64), 1)
    out.set(hash('sha256', nodeInput, 'buffer'), 32 * i)
  }
}

/** The native pair hasher when the binding loads, else the node:crypto one (same bytes). */
export const pairHasher: () => HashPairs = nativeOr('hashPairs', jsHashPairs)
