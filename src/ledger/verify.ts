import { bytesEqual, toHex } from '../common/index.js'
import type { HybridPublicKey } from '../identity/index.js'
import { decodeEntry, type Entry } from './entry.js'
import { isoTime } from './export-view.js'
import { ActorProofRun, type ActorDirectory } from './actor-proof.js'
import { checkEntryAgainstOntology, type Ontology } from './ontology.js'
import { leafHash, MerkleFrontier } from './merkle.js'
import { parseCheckpoint, verifyCheckpoint } from './checkpoint.js'
import { FeedVerificationError } from './errors.js'
import { EntryRuns, MalformedRunError, type Run } from './entry-runs.js'
import { EpochSequence, type EpochAuthorisation } from './epochs.js'
import { feedSublevels, type LedgerSpace } from './store/index.js'

/** An entry as a report names it; times as in the derived view (export-view.ts): ISO 8601, and as held. */
export interface EntrySummary {
  seq: number
  type: string
  actor: { id: string; role: string }
  time: string | null
  timeMs: number
}

export interface FeedReport {
  entries: number
  checkpoints: number
  sealed: number
  root: string
  /** Distinct witnesses (among those given) whose cosignature on some checkpoint verifies. */
  cosigners: number
  /** The largest checkpoint size with at least one verified cosignature (0: none). */
  cosignedUpTo: number
  /**
   * The earliest and latest entry time (null for an empty feed). Entry times are the appending
   * agent's clock, so the earliest is not always the first entry's: a clock set back shows here.
   */
  timeSpan: { from: string | null; to: string | null; fromMs: number; toMs: number } | null
  /** The first and the last entry in feed order (null for an empty feed). */
  first: EntrySummary | null
  last: EntrySummary | null
}

/** Tallies what a report says of a feed's verified entries: the time span, the first and last. */
export class EntrySpan {
  private first: Entry | undefined
  private last: Entry | undefined
  private earliest = Number.POSITIVE_INFINITY
  private latest = Number.NEGATIVE_INFINITY
  add(entry: Entry): void {
    this.first ??= entry
    this.last = entry
    if (entry.time < this.earliest) this.earliest = entry.time
    if (entry.time > this.latest) this.latest = entry.time
  }

  get report(): Pick<FeedReport, 'timeSpan' | 'first' | 'last'> {
    if (this.first === undefined || this.last === undefined) return { timeSpan: null, first: null, last: null }
    const summary = (entry: Entry): EntrySummary => ({
      seq: entry.seq,
      type: entry.type,
      actor: { id: entry.actor.id, role: entry.actor.role },
      time: isoTime(entry.time),
      timeMs: entry.time
    })
    return {
      timeSpan: { from: isoTime(this.earliest), to: isoTime(this.latest), fromMs: this.earliest, toMs: this.latest },
      first: summary(this.first),
      last: summary(this.last)
    }
  }
}

/** Tallies verified cosignatures over a feed's checkpoints. */
export class CosignatureTally {
  private readonly names = new Set<string>()
  private upTo = 0
  add(size: number, cosigners: readonly string[]): void {
    for (const name of cosigners) this.names.add(name)
    if (cosigners.length > 0) this.upTo = Math.max(this.upTo, size)
  }

  get report(): { cosigners: number; cosignedUpTo: number } {
    return { cosigners: this.names.size, cosignedUpTo: this.upTo }
  }
}

/**
 * Re-verifies a feed as stored at `space` (the layout FeedLedger writes) from scratch, for
 * auditors: every entry decodes strictly, belongs to this fleet and feed, has the right seq and
 * prev, passes the ontology, and an operator's or auditor's carries a proof their enrolled key
 * made (`actors`); every stored checkpoint
 * has a valid hybrid signature by the feed key and matches the tree at its size; the stored head
 * state matches the entries. Any altered byte in the store makes it throw.
 */
export async function verifyStoredFeed(
  space: LedgerSpace,
  feed: {
    fleetId: Uint8Array
    feedId: string
    key: HybridPublicKey
    ontology: Ontology
    witnesses?: ReadonlyMap<string, HybridPublicKey>
    epochs?: ReadonlyMap<number, EpochAuthorisation>
    /** The fleet's enrolled actors: operators' and auditors' proofs are checked against them (refused without). */
    actors?: ActorDirectory
  },
  options: { onProgress?: (entries: number) => void } = {}
): Promise<FeedReport> {
  const tally = new CosignatureTally()
  const span = new EntrySpan()
  const signed = new ActorProofRun(feed.actors)
  const { entries, checkpoints } = feedSublevels(space)
  const rootsBySize = new Map<number, Uint8Array>()
  let tree = new MerkleFrontier()
  let prev: Uint8Array = new Uint8Array(32)
  const runs = new EntryRuns(entries).runs()
  for (;;) {
    let run: Run
    try {
      const next = await runs.next()
      if (next.done === true) break
      run = next.value
    } catch (err) {
      if (err instanceof MalformedRunError) throw new FeedVerificationError(err.message, { seq: tree.size })
      throw err
    }
    if (run.first !== tree.size)
      throw new FeedVerificationError(
        `entries ${run.first}–${run.last} stored under ${run.key} are out of sequence: entry ${tree.size} is next`,
        { seq: tree.size }
      )
    for (const bytes of run.entries) {
      const seq = tree.size
      let decoded: ReturnType<typeof decodeEntry>
      try {
        decoded = decodeEntry(bytes)
        checkEntryAgainstOntology(decoded.entry, feed.ontology)
      } catch (err) {
        throw new FeedVerificationError(`entry ${seq}: ${(err as Error).message}`, { seq, cause: err })
      }
      const entry = decoded.entry
      if (entry.seq !== seq || entry.feed !== feed.feedId || !bytesEqual(entry.fleet, feed.fleetId))
        throw new FeedVerificationError(`entry ${seq} is not entry ${seq} of this feed`, { seq })
      if (!bytesEqual(entry.prev, prev))
        throw new FeedVerificationError(`entry ${seq} does not chain to entry ${seq - 1}`, { seq })
      prev = decoded.hash
      tree = tree.append(leafHash(bytes))
      rootsBySize.set(tree.size, tree.root())
      span.add(entry)
      await signed.add(entry)
    }
    options.onProgress?.(tree.size)
  }
  await signed.flush()
  let count = 0
  let sealed = 0
  const epochs = new EpochSequence(feed.feedId, feed.epochs)
  for await (const [key, note] of checkpoints.iterator()) {
    let verified: ReturnType<typeof verifyCheckpoint>
    try {
      verified = verifyCheckpoint(
        parseCheckpoint(Buffer.from(note).toString('utf8')),
        { name: feed.feedId, key: feed.key },
        feed.witnesses
      )
    } catch (err) {
      throw new FeedVerificationError(`checkpoint ${key}: ${(err as Error).message}`, {
        checkpointSize: Number.parseInt(key, 16)
      })
    }
    const size = verified.body.size
    if (key !== size.toString(16).padStart(16, '0'))
      throw new FeedVerificationError(`checkpoint stored under the wrong size ${key}`, { checkpointSize: size })
    const root = rootsBySize.get(size)
    if (root === undefined)
      throw new FeedVerificationError(`checkpoint of ${size} entries, but the feed holds ${tree.size}`, {
        checkpointSize: size
      })
    if (!bytesEqual(root, verified.body.root))
      throw new FeedVerificationError(
        `checkpoint of ${size} entries signs root ${toHex(verified.body.root)}, the entries give ${toHex(root)}`,
        { checkpointSize: size }
      )
    try {
      epochs.check(verified.body.epoch, size, (at) => rootsBySize.get(at))
    } catch (err) {
      throw new FeedVerificationError((err as Error).message, { checkpointSize: size, cause: err })
    }
    count++
    sealed = Math.max(sealed, size)
    tally.add(size, verified.cosigners)
  }
  return {
    entries: tree.size,
    checkpoints: count,
    sealed,
    root: toHex(tree.root()),
    ...tally.report,
    ...span.report
  }
}
