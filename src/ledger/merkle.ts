import { createHash, hash } from 'node:crypto'
import { bytesEqual, toHex } from '../common/index.js'
import { LEDGER_LIMITS } from './limits.js'
import { ProofError, ProofHashLengthError } from './errors.js'

/** RFC 9162 §2.1.1: leaf hash SHA-256(0x00 ‖ data), node hash SHA-256(0x01 ‖ left ‖ right). */
export function leafHash(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(Uint8Array.of(0)).update(data).digest())
}

const nodeInput = new Uint8Array(65)
nodeInput[0] = 1

export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  if (left.length !== 32 || right.length !== 32)
    return new Uint8Array(createHash('sha256').update(Uint8Array.of(1)).update(left).update(right).digest())
  // One call on one buffer (0x01 ‖ left ‖ right) is about twice as fast as an incremental hash.
  nodeInput.set(left, 1)
  nodeInput.set(right, 33)
  return new Uint8Array(hash('sha256', nodeInput, 'buffer'))
}

export const EMPTY_ROOT = new Uint8Array(createHash('sha256').digest())

/** Largest power of two strictly smaller than n (n > 1). */
function split(n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

/** MTH over leaf hashes [start, end). */
export function subtreeRoot(leaves: readonly Uint8Array[], start = 0, end = leaves.length): Uint8Array {
  const n = end - start
  if (n === 0) return EMPTY_ROOT
  if (n === 1) return leaves[start]!
  const k = split(n)
  return nodeHash(subtreeRoot(leaves, start, start + k), subtreeRoot(leaves, start + k, end))
}

/**
 * MTH over leaves [start, end) from cached levels (levels[j][i] is the root of the perfect subtree
 * of leaves [i·2^j, (i+1)·2^j); levels[0] are the leaf hashes): O(log n) hashes instead of O(n).
 */
export function levelsRoot(levels: ReadonlyArray<readonly Uint8Array[]>, start: number, end: number): Uint8Array {
  const n = end - start
  if (n === 0) return EMPTY_ROOT
  if ((n & (n - 1)) === 0 && start % n === 0) {
    const cached = levels[Math.log2(n)]?.[start / n]
    if (cached !== undefined) return cached
  }
  if (n === 1) return levels[0]![start]!
  const k = split(n)
  return nodeHash(levelsRoot(levels, start, start + k), levelsRoot(levels, start + k, end))
}

/**
 * The compact append state of a tree: the roots of its perfect subtrees, largest first (one per
 * set bit of the size). Appending is O(log n) and needs no reads.
 */
export class MerkleFrontier {
  readonly size: number
  readonly roots: readonly Uint8Array[]

  constructor(size = 0, roots: readonly Uint8Array[] = []) {
    if (!Number.isSafeInteger(size) || size < 0) throw new RangeError('tree size must be a non-negative integer')
    let bits = 0
    for (let s = size; s > 0; s = Math.floor(s / 2)) bits += s % 2
    if (roots.length !== bits)
      throw new RangeError(`a tree of ${size} leaves has ${bits} frontier roots, not ${roots.length}`)
    this.size = size
    this.roots = roots
  }

  append(leaf: Uint8Array): MerkleFrontier {
    const roots = this.roots.slice()
    roots.push(leaf)
    // Merge equal-sized subtrees: as many as the trailing one-bits of the old size.
    for (let s = this.size; s % 2 === 1; s = Math.floor(s / 2)) {
      const right = roots.pop()!
      const left = roots.pop()!
      roots.push(nodeHash(left, right))
    }
    return new MerkleFrontier(this.size + 1, roots)
  }

  root(): Uint8Array {
    if (this.roots.length === 0) return EMPTY_ROOT
    let acc = this.roots[this.roots.length - 1]!
    for (let i = this.roots.length - 2; i >= 0; i--) acc = nodeHash(this.roots[i]!, acc)
    return acc
  }
}

/** RFC 9162 §2.1.3.1 PATH(m, D[0:n]): audit path for leaf `index` in a tree of `size` leaves. */
export function inclusionProof(
  leaves: readonly Uint8Array[],
  index: number,
  size: number = leaves.length
): Uint8Array[] {
  if (!(index >= 0 && index < size && size <= leaves.length))
    throw new ProofError('inclusion', `leaf ${index} is not in a tree of ${size}`)
  const path = (m: number, start: number, end: number): Uint8Array[] => {
    const n = end - start
    if (n === 1) return []
    const k = split(n)
    return m < k
      ? [...path(m, start, start + k), subtreeRoot(leaves, start + k, end)]
      : [...path(m - k, start + k, end), subtreeRoot(leaves, start, start + k)]
  }
  return path(index, 0, size)
}

const HASH_BYTES = 32

/** Throws ProofHashLengthError unless every hash is 32 bytes (checked before any is hashed). */
function requireHashes(
  kind: 'inclusion' | 'consistency',
  named: ReadonlyArray<[string, Uint8Array]>,
  proof: readonly Uint8Array[]
): void {
  for (const [which, value] of named)
    if (value.length !== HASH_BYTES) throw new ProofHashLengthError(kind, which, value.length)
  proof.forEach((value, i) => {
    if (value.length !== HASH_BYTES) throw new ProofHashLengthError(kind, `proof[${i}]`, value.length)
  })
}

/**
 * RFC 9162 §2.1.3.2: verifies that `leaf` is at `index` in the tree of `size` with `root`.
 * The leaf hash, the root and every proof element MUST be 32 bytes (ProofHashLengthError).
 */
export function verifyInclusion(
  leaf: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array
): void {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size)
    throw new ProofError('inclusion', `index ${index} is not below size ${size}`)
  if (proof.length > LEDGER_LIMITS.maxProofHashes) throw new ProofError('inclusion', 'proof too long')
  requireHashes(
    'inclusion',
    [
      ['leaf', leaf],
      ['root', root]
    ],
    proof
  )
  let fn = index
  let sn = size - 1
  let r = leaf
  for (const p of proof) {
    if (sn === 0) throw new ProofError('inclusion', 'proof longer than the tree is deep')
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r)
      if (fn % 2 === 0)
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2)
          sn = Math.floor(sn / 2)
        }
    } else {
      r = nodeHash(r, p)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  if (sn !== 0) throw new ProofError('inclusion', 'proof shorter than the tree is deep')
  if (!bytesEqual(r, root)) throw new ProofError('inclusion', `computes root ${toHex(r)}, expected ${toHex(root)}`)
}

/** RFC 9162 §2.1.4.1 PROOF(m, D[0:n]): consistency proof from size m to size n. */
export function consistencyProof(
  leaves: readonly Uint8Array[],
  m: number,
  n: number = leaves.length,
  rootOf: (start: number, end: number) => Uint8Array = (start, end) => subtreeRoot(leaves, start, end)
): Uint8Array[] {
  if (!(m > 0 && m <= n && n <= leaves.length)) throw new ProofError('consistency', `no proof from ${m} to ${n}`)
  const subproof = (mm: number, start: number, end: number, complete: boolean): Uint8Array[] => {
    const size = end - start
    if (mm === size) return complete ? [] : [rootOf(start, end)]
    const k = split(size)
    return mm <= k
      ? [...subproof(mm, start, start + k, complete), rootOf(start + k, end)]
      : [...subproof(mm - k, start + k, end, false), rootOf(start, start + k)]
  }
  return subproof(m, 0, n, true)
}

/**
 * RFC 9162 §2.1.4.2: verifies that the tree (n, newRoot) extends the tree (m, oldRoot).
 * Both roots and every proof element MUST be 32 bytes (ProofHashLengthError).
 */
export function verifyConsistency(
  m: number,
  n: number,
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
  proof: readonly Uint8Array[]
): void {
  if (!Number.isSafeInteger(m) || !Number.isSafeInteger(n) || m < 1 || m > n)
    throw new ProofError('consistency', `sizes ${m} → ${n} are not a growth`)
  if (proof.length > LEDGER_LIMITS.maxProofHashes) throw new ProofError('consistency', 'proof too long')
  requireHashes(
    'consistency',
    [
      ['old root', oldRoot],
      ['new root', newRoot]
    ],
    proof
  )
  if (m === n) {
    if (proof.length !== 0) throw new ProofError('consistency', 'proof between equal sizes must be empty')
    if (!bytesEqual(oldRoot, newRoot)) throw new ProofError('consistency', 'equal sizes with different roots')
    return
  }
  const path = [...proof]
  // If m is a power of two, the old root is the first node of the path.
  if ((m & (m - 1)) === 0) path.unshift(oldRoot)
  if (path.length === 0) throw new ProofError('consistency', 'empty proof')
  let fn = m - 1
  let sn = n - 1
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  let fr = path[0]!
  let sr = path[0]!
  for (const c of path.slice(1)) {
    if (sn === 0) throw new ProofError('consistency', 'proof longer than needed')
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr)
      sr = nodeHash(c, sr)
      if (fn % 2 === 0)
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2)
          sn = Math.floor(sn / 2)
        }
    } else {
      sr = nodeHash(sr, c)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  if (sn !== 0) throw new ProofError('consistency', 'proof shorter than needed')
  if (!bytesEqual(fr, oldRoot))
    throw new ProofError('consistency', `the old root does not match (computed ${toHex(fr)})`)
  if (!bytesEqual(sr, newRoot))
    throw new ProofError('consistency', `the new root does not match (computed ${toHex(sr)})`)
}
