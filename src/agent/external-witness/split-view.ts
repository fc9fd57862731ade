/**
 * When a witness's refusal shows a split view, and how often one may be recorded.
 *
 * A 409 only means "the old size you sent is not my latest": the log retries once from the size
 * the witness names. The refusal shows a SPLIT VIEW — the witness holds a checkpoint of this
 * device's feed that the device's own signed history contradicts — in exactly two cases:
 *
 * - 409 naming a size larger than the newest checkpoint this device ever signed: the witness
 *   verified this feed's signature on a tree this device never sealed (its key signed another
 *   history, e.g. a clone, or a restored older copy of the device went on from an earlier point);
 * - 422 to a consistency proof from a size at or below what this device signed (not 0): the device's
 *   signed checkpoint fixes the root of every prefix of its tree, the proof is computed from that
 *   tree, and a spec-following witness refuses it only when the root it holds for that size
 *   differs (or, at equal sizes, the root differs).
 *
 * Everything else (400, 403, 404, a second 409, a timeout, a malformed or oversized answer, a
 * cosignature that does not verify) is a failing witness: logged, retried with backoff, never
 * counted, never an alert. A 409 or 422 is the witness's word, not a signature by this feed's key:
 * the alert records it as the witness's claim, with its answer as evidence, for an operator to
 * pursue (e.g. ask the witness for the checkpoint it holds); it quarantines nothing.
 */
import { EXTERNAL_WITNESS_LIMITS } from './limits.js'

export type WitnessVerdict =
  | { kind: 'retry'; from: number }
  | { kind: 'split-view'; detail: string; witnessSize?: number }
  | { kind: 'failed'; detail: string }

/**
 * What a 409 or 422 means. `sent`: the old size the request named; `signed`: the size of the newest
 * checkpoint this device signed; `retried`: whether this request was already the retry of a 409.
 */
export function judgeRefusal(
  refusal: { status: 409; witnessSize: number } | { status: 422 },
  request: { sent: number; signed: number; retried: boolean }
): WitnessVerdict {
  if (refusal.status === 422) {
    // The empty tree is consistent with every tree: a 422 from size 0 shows nothing but a witness off the spec.
    if (request.sent === 0 || request.sent > request.signed)
      return { kind: 'failed', detail: `422 to a submission from size ${request.sent}, which no view contradicts` }
    return {
      kind: 'split-view',
      detail: `the witness refused a consistency proof from size ${request.sent}, whose root this device's signed history fixes: it holds another root for this feed`
    }
  }
  if (refusal.witnessSize > request.signed)
    return {
      kind: 'split-view',
      witnessSize: refusal.witnessSize,
      detail: `the witness holds a checkpoint of ${refusal.witnessSize} entries of this feed; this device never signed more than ${request.signed}`
    }
  if (request.retried)
    return { kind: 'failed', detail: `409 again (the witness's size moved to ${refusal.witnessSize} meanwhile)` }
  return { kind: 'retry', from: refusal.witnessSize }
}

/**
 * Split-view alerts recorded: at most one per witness per alertIntervalMs, and maxAlertsPerWindow
 * over all witnesses per alertWindowMs. Held in memory (a restart may record one more).
 */
export class AlertLimiter {
  private readonly lastByWitness = new Map<string, number>()
  private recent: number[] = []

  /** Whether an alert about `witness` may be recorded at `now`; if so, it is counted. */
  take(witness: string, now: number): boolean {
    const limits = EXTERNAL_WITNESS_LIMITS
    const last = this.lastByWitness.get(witness)
    if (last !== undefined && now - last < limits.alertIntervalMs) return false
    this.recent = this.recent.filter((at) => now - at < limits.alertWindowMs)
    if (this.recent.length >= limits.maxAlertsPerWindow) return false
    this.recent.push(now)
    this.lastByWitness.set(witness, now)
    return true
  }
}
