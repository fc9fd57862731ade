import { hash } from 'node:crypto'
import type { Hasher } from './hasher.js'

/** Hasher.hashEntries (hasher.ts): chains, hashes and appends a run of entries to a frontier. */
export type HashEntries = Hasher['hashEntries']

/** Room for the frontier of any tree whose size is a safe integer. */
export const ROOTS_CAPACITY = 64

const nodeInput = new Uint8Array(65)
nodeInput[0] = 1

/** Hasher.hashEntries with node:crypto: three crypto.hash calls per entry. */
export const jsHashEntries: HashEntries = (buf, spans, count, head, size, roots, out, leaves) => {
  if (
    spans.length < 3 * count ||
    out.length < 32 * count ||
    head.length !== 32 ||
    roots.length < ROOTS_CAPACITY * 32 ||
    (leaves !== undefined && leaves.length < 32 * count)
  )
    throw new RangeError('hashEntries: buffers too short')
  for (let i = 0; i < count; i++) {
    const start = spans[3 * i]!
    const end = spans[3 * i + 1]!
    const prev = spans[3 * i + 2]!
    if (!(start < end && end <= buf.length && prev > start && prev + 32 <= end))
      throw new RangeError('hashEntries: a span is outside the buffer')
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
export function popCount(size: number): number {
  let bits = 0
  for (let s = size; s > 0; s = Math.floor(s / 2)) bits += s % 2
  return bits
}

/** Hasher.hashPairs with node:crypto. */
export const jsHashPairs: Hasher['hashPairs'] = (input, count, out) => {
  if (input.length < 64 * count || out.length < 32 * count) throw new RangeError('hashPairs: buffers too short')
  for (let i = 0; i < count; i++) {
    nodeInput.set(input.subarray(64 * i, 64 * i + 64), 1)
    out.set(hash('sha256', nodeInput, 'buffer'), 32 * i)
  }
}
