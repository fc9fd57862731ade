import { bytesEqual } from '../common/bytes.js'
import type { HybridPublicKey } from '../identity/index.js'
import { parseCheckpoint, verifyCheckpoint, type VerifiedCheckpoint } from './checkpoint.js'
import { verifyConsistency } from './merkle.js'
import { EvidenceRejectedError } from './errors.js'

/**
 * Proof that a feed's key signed two views of its history that cannot both be true: two
 * checkpoints of one origin and epoch with the same size and different roots, or a larger one
 * whose consistency proof from the smaller fails. Anyone with the feed's public key can check it
 * offline; it is what an `alert.equivocation` entry carries.
 */
export interface EquivocationEvidence {
  v: 1
  feed: string
  /** The two signed notes, smaller tree first. */
  first: string
  second: string
  /** For different sizes: the consistency proof the accused supplied (or [] when it supplied none). */
  proof: Uint8Array[]
}


function feedOf (checkpoint: VerifiedCheckpoint): string {
  return checkpoint.body.origin.slice(checkpoint.body.origin.lastIndexOf('/') + 1)
}

/**
 * Checks two verified checkpoints of one feed. Returns evidence when they conflict, undefined
 * when they are consistent (given the proof for different sizes).
 */
export function detectEquivocation (a: VerifiedCheckpoint, b: VerifiedCheckpoint, proof: Uint8Array[] = []): EquivocationEvidence | undefined {
  if (a.body.origin !== b.body.origin || a.body.epoch !== b.body.epoch) return undefined
  const [small, large] = a.body.size <= b.body.size ? [a, b] : [b, a]
  const evidence = { v: 1 as const, feed: feedOf(small), first: noteOf(small), second: noteOf(large), proof }
  if (small.body.size === large.body.size) return bytesEqual(small.body.root, large.body.root) ? undefined : evidence
  if (small.body.size === 0) return undefined
  try {
    verifyConsistency(small.body.size, large.body.size, small.body.root, large.body.root, proof)
    return undefined
  } catch {
    return evidence
  }
}

/**
 * Verifies evidence offline: both notes carry valid signatures by the feed key, share origin and
 * epoch, and are inconsistent. Throws EvidenceRejectedError otherwise.
 */
export function verifyEquivocationEvidence (evidence: EquivocationEvidence, key: HybridPublicKey): void {
  let first: VerifiedCheckpoint
  let second: VerifiedCheckpoint
  try {
    first = verifyCheckpoint(parseCheckpoint(evidence.first), { name: evidence.feed, key })
    second = verifyCheckpoint(parseCheckpoint(evidence.second), { name: evidence.feed, key })
  } catch (err) {
    throw new EvidenceRejectedError(`a checkpoint is not validly signed by ${evidence.feed}: ${(err as Error).message}`)
  }
  if (feedOf(first) !== evidence.feed || first.body.origin !== second.body.origin || first.body.epoch !== second.body.epoch) {
    throw new EvidenceRejectedError('the checkpoints are of different feeds or epochs')
  }
  if (detectEquivocation(first, second, evidence.proof) === undefined) throw new EvidenceRejectedError('the checkpoints are consistent')
}

function noteOf (checkpoint: VerifiedCheckpoint): string {
  return checkpoint.note
}
