/** Who cosigns each feed (its witness set), and how often a witness cosigns a growing feed. */
import { createHash } from 'node:crypto'

/**
 * A witness cosigns a feed once it has been quiet this many cosign intervals, or after this many
 * while it keeps growing. Each cosignature is one more signature pair and one more announce to a
 * few peers; while many devices join, every feed grows every few seconds, and cosigning each step
 * made up about two fifths of the announces and pushes sent at 30 devices.
 */
export const COSIGN_QUIET_INTERVALS = 5
export const COSIGN_MAX_WAIT_INTERVALS = 30

/** How many fleet devices cosign each feed by default (its witness set; see `witnessSet`). */
export const DEFAULT_WITNESSES_PER_FEED = 4

/**
 * The devices that cosign `feed`: the first `count` of `candidates` (the feed's own device left
 * out) ranked by SHA-256(feed ‖ deviceId). Every agent that knows the same members computes the
 * same set, each feed gets its own, and the work of cosigning spreads evenly over the fleet. Every
 * agent still checks every announced checkpoint against its own copy (equivocation); the set only
 * bounds who signs, so that witnessing costs O(N) signatures per checkpoint, not O(N²) traffic.
 */
export function witnessSet(feed: string, candidates: readonly string[], count: number): string[] {
  const rank = (deviceId: string): string => createHash('sha256').update(feed).update(deviceId).digest('hex')
  return candidates
    .filter((d) => d !== feed)
    .map((d) => ({ d, r: rank(d) }))
    .sort((a, b) => (a.r < b.r ? -1 : a.r > b.r ? 1 : 0))
    .slice(0, Math.max(0, count))
    .map(({ d }) => d)
}
