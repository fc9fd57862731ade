import { FleetError } from '../common/index.js'
import type { EquivocationEvidence } from './equivocation.js'

/** Where in a refused batch the fault lies: the batch's span and checkpoint, and the entry at fault, if one is. */
export interface RejectedBatch {
  from: number
  entries: number
  /** The batch's signed checkpoint, as sent (cut to 4 KiB). */
  checkpoint: string
  /** The position of the entry that failed its check. */
  seq?: number
}

/**
 * Thrown when a batch from a peer does not verify; nothing of it is stored. `cause`: the typed
 * error of the failed check, when there is one; `batch`: what was refused, as evidence.
 */
export class ReplicaRejectedError extends FleetError {
  readonly feed: string
  readonly batch: RejectedBatch | undefined
  constructor(feed: string, reason: string, cause?: unknown, batch?: RejectedBatch) {
    super(`feed ${feed}: refused a batch: ${reason}`, { code: 'ERR_REPLICA_REJECTED', cause })
    this.feed = feed
    this.batch = batch
  }
}

/** Two signed checkpoints of one feed that cannot both be true: the feed's device equivocated. */
export class EquivocationDetectedError extends ReplicaRejectedError {
  readonly evidence: EquivocationEvidence
  readonly epoch: number
  constructor(feed: string, evidence: EquivocationEvidence, epoch: number) {
    super(feed, 'its signed checkpoint is not consistent with one already held: the device equivocated')
    this.evidence = evidence
    this.epoch = epoch
  }
}
