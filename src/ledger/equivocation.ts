import { createHash } from 'node:crypto'
import { bytesEqual } from '../common/index.js'
import type { HybridPublicKey } from '../identity/index.js'
import { decodeCanonical, encodeCanonical } from '../codec/index.js'
import { CHECKPOINT_LIMITS, parseCheckpoint, verifyCheckpoint, type VerifiedCheckpoint } from './checkpoint.js'
import { LEDGER_LIMITS, EVIDENCE_LIMITS } from './limits.js'
import { verifyConsistency } from './merkle.js'
import { EvidenceRejectedError } from './errors.js'

/**
 * Proof that a feed's key signed two views of its history that cannot both be true, checkable
 * offline by anyone with the feed's public key:
 *
 * - two checkpoints of one origin with the same size and different roots; or
 * - a smaller and a larger one, with `prefixRoot` and a consistency `proof` from the smaller size
 *   to the larger checkpoint that verify against the LARGER root: the larger tree's first entries
 *   then hash to `prefixRoot`, which differs from the smaller checkpoint's root.
 *
 * A proof that merely fails to verify proves nothing (anyone can make one), so it is never evidence.
 *
 * The epoch line does not matter: a device cannot excuse a second history by stating another
 * epoch. Only the owner can (a device.new_epoch statement; see epochs.ts), and it is the caller
 * that asks whether evidence shows a fork the owner authorised (`forkOf`).
 */
export interface EquivocationEvidence {
  v: 1
  feed: string
  /** The two signed notes, smaller tree first, with the feed's own signature lines only. */
  first: string
  second: string
  /** For different sizes: the root of the larger tree's first `first.size` entries, and the consistency proof to the larger root. */
  prefixRoot: Uint8Array
  proof: Uint8Array[]
}

function feedOf(checkpoint: VerifiedCheckpoint): string {
  return checkpoint.body.origin.slice(checkpoint.body.origin.lastIndexOf('/') + 1)
}

/** The note with only the signature lines of the keys named (in the note's order). */
export function withSignaturesOf(note: string, names: readonly string[]): string {
  const split = note.lastIndexOf('\n\n')
  if (split < 0) return note
  const keep = new Set(names)
  const lines = note
    .slice(split + 2, -1)
    .split('\n')
    .filter((line) => keep.has(line.slice(2, line.indexOf(' ', 2))))
  return `${note.slice(0, split + 2)}${lines.map((line) => `${line}\n`).join('')}`
}

/** The note with only the signature lines of `name` (the feed's own pair): cosignatures dropped. */
export function withoutCosignatures(note: string, name: string): string {
  return withSignaturesOf(note, [name])
}

/**
 * Checks two verified checkpoints of one feed. For different sizes the caller holds the larger
 * tree and passes the root of its first `small.size` entries and a consistency proof from there
 * to the larger root. Returns evidence when they conflict, undefined when they do not (or when
 * the conflict cannot be shown).
 */
export function detectEquivocation(
  a: VerifiedCheckpoint,
  b: VerifiedCheckpoint,
  prefix?: { root: Uint8Array; proof: Uint8Array[] }
): EquivocationEvidence | undefined {
  if (a.body.origin !== b.body.origin) return undefined
  // Smaller first; of the same size, the smaller text first, so that evidence of one pair is one evidence.
  const [small, large] =
    a.body.size < b.body.size || (a.body.size === b.body.size && a.text <= b.text) ? [a, b] : [b, a]
  const feed = feedOf(small)
  const make = (prefixRoot: Uint8Array, proof: Uint8Array[]): EquivocationEvidence => ({
    v: 1,
    feed,
    first: withoutCosignatures(small.note, feed),
    second: withoutCosignatures(large.note, feed),
    prefixRoot,
    proof
  })
  if (small.body.size === large.body.size)
    return bytesEqual(small.body.root, large.body.root) ? undefined : make(new Uint8Array(0), [])
  if (small.body.size === 0 || prefix === undefined || bytesEqual(prefix.root, small.body.root)) return undefined
  try {
    verifyConsistency(small.body.size, large.body.size, prefix.root, large.body.root, prefix.proof)
  } catch {
    return undefined
  }
  return make(prefix.root, prefix.proof)
}

/** What verified evidence shows: the two checkpoints' sizes and epochs (smaller tree first). */
export interface EquivocationFork {
  first: { size: number; epoch: number }
  second: { size: number; epoch: number }
}

/**
 * Verifies evidence offline: both notes carry valid signatures by the feed key, share the origin,
 * and are shown inconsistent, whatever epochs they state. Throws EvidenceRejectedError otherwise.
 * `epoch` is the larger of the two (what an alert.equivocation records).
 */
export function verifyEquivocationEvidence(
  evidence: EquivocationEvidence,
  key: HybridPublicKey
): { epoch: number; fork: EquivocationFork } {
  let first: VerifiedCheckpoint
  let second: VerifiedCheckpoint
  try {
    first = verifyCheckpoint(parseCheckpoint(evidence.first), { name: evidence.feed, key })
    second = verifyCheckpoint(parseCheckpoint(evidence.second), { name: evidence.feed, key })
  } catch (err) {
    throw new EvidenceRejectedError(`a checkpoint is not validly signed by ${evidence.feed}: ${(err as Error).message}`)
  }
  if (feedOf(first) !== evidence.feed || first.body.origin !== second.body.origin) {
    throw new EvidenceRejectedError('the checkpoints are of different feeds')
  }
  if (first.body.size > second.body.size) throw new EvidenceRejectedError('the smaller checkpoint must come first')
  const prefix = first.body.size === second.body.size ? undefined : { root: evidence.prefixRoot, proof: evidence.proof }
  if (detectEquivocation(first, second, prefix) === undefined)
    throw new EvidenceRejectedError('the checkpoints are not shown to be inconsistent')
  return {
    epoch: Math.max(first.body.epoch, second.body.epoch),
    fork: {
      first: { size: first.body.size, epoch: first.body.epoch },
      second: { size: second.body.size, epoch: second.body.epoch }
    }
  }
}

/**
 * The sizes and epochs of evidence's two checkpoints, read without verifying (for evidence
 * verified before, e.g. when it was stored); undefined when a note does not parse.
 */
export function forkOf(evidence: EquivocationEvidence): EquivocationFork | undefined {
  try {
    const first = parseCheckpoint(evidence.first).body
    const second = parseCheckpoint(evidence.second).body
    return { first: { size: first.size, epoch: first.epoch }, second: { size: second.size, epoch: second.epoch } }
  } catch {
    return undefined
  }
}

/**
 * The identity of a piece of evidence, which an owner's device.clear_quarantine names: SHA-256
 * over a domain tag, the feed and the two checkpoints' signed texts (not their signature lines,
 * so a re-encoded or re-signed copy of the same two checkpoints is the same evidence). Frozen.
 */
export function evidenceId(evidence: EquivocationEvidence): Uint8Array {
  const text = (note: string): Buffer => {
    const split = note.indexOf('\n\n')
    return Buffer.from(split < 0 ? note : note.slice(0, split + 1))
  }
  const first = text(evidence.first)
  const second = text(evidence.second)
  const length = (bytes: Buffer): Buffer => {
    const b = Buffer.alloc(4)
    b.writeUInt32BE(bytes.length)
    return b
  }
  return new Uint8Array(
    createHash('sha256')
      .update('fleet-equivocation-evidence-v1\n')
      .update(evidence.feed)
      .update('\n')
      .update(length(first))
      .update(first)
      .update(length(second))
      .update(second)
      .digest()
  )
}

export function encodeEvidence(evidence: EquivocationEvidence): Uint8Array {
  // Notes travel as bytes (UTF-8): CBOR text strings are capped well below a note's size.
  return encodeCanonical({
    v: evidence.v,
    feed: evidence.feed,
    first: Buffer.from(evidence.first),
    second: Buffer.from(evidence.second),
    prefixRoot: evidence.prefixRoot,
    proof: evidence.proof
  })
}

/** Strict decoding of evidence bytes (an alert.equivocation body's `evidence`). */
export function decodeEvidence(bytes: Uint8Array): EquivocationEvidence {
  const fail = (reason: string): never => {
    throw new EvidenceRejectedError(`malformed evidence: ${reason}`)
  }
  if (bytes.length > EVIDENCE_LIMITS.maxBytes) fail('too large')
  let value: Record<string, unknown>
  try {
    value = decodeCanonical(bytes, { maxBytes: EVIDENCE_LIMITS.maxBytes }) as Record<string, unknown>
  } catch (err) {
    return fail((err as Error).message)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array)
    fail('not a map')
  const keys = Object.keys(value).sort().join(',')
  if (keys !== 'feed,first,prefixRoot,proof,second,v') fail(`fields ${keys}`)
  const { v, feed, first, second, prefixRoot, proof } = value
  if (v !== 1) fail('unknown version')
  if (typeof feed !== 'string' || !/^[a-z2-7]{52}$/.test(feed)) fail('feed')
  const text = (note: unknown): string => {
    if (!(note instanceof Uint8Array) || note.length > CHECKPOINT_LIMITS.maxNoteBytes) return fail('note')
    const decoded = Buffer.from(note).toString('utf8')
    if (!Buffer.from(decoded).equals(note)) fail('a note is not UTF-8')
    return decoded
  }
  if (!(prefixRoot instanceof Uint8Array) || (prefixRoot.length !== 0 && prefixRoot.length !== 32)) fail('prefixRoot')
  if (
    !Array.isArray(proof) ||
    proof.length > LEDGER_LIMITS.maxProofHashes ||
    proof.some((p) => !(p instanceof Uint8Array) || p.length !== 32)
  )
    fail('proof')
  return {
    v: 1,
    feed: feed as string,
    first: text(first),
    second: text(second),
    prefixRoot: prefixRoot as Uint8Array,
    proof: proof as Uint8Array[]
  }
}

export { EVIDENCE_LIMITS }
