/**
 * Peers' alerts (alert.equivocation, alert.revocation) are acted on at least once. A replica batch
 * is stored first and its alerts are acted on after: a crash or a kill in between must not leave an
 * alert stored and never acted on (the agent would never quarantine the equivocating device, the
 * fleet having told it once). So each peer feed has an alert cursor in the store: the seq up to
 * which every alert was acted on, and the hash of the entry before it. It moves only over batches
 * whose alerts were all acted on, and only over a run of them with no gap (batches of one feed may
 * be handed over out of order); an alert whose acting failed stops it until the next start. On
 * start, the alerts past each cursor are acted on; a cursor whose entry is no longer there (the
 * replica moved to a new epoch the owner authorised) starts the feed over.
 *
 * An alert about a device this agent does not know yet (the owner's enrolment of it has not
 * arrived) cannot be verified: it waits, kept across restarts, and is tried again each time the
 * owner's feed grows. A few wait per reporting feed, and a bounded number in all.
 */
import { toHex } from '../../common/index.js'
import {
  decodeEntry,
  encodeEntry,
  entryHash,
  LEDGER_SUBLEVELS,
  seqKey,
  type Entry,
  type LedgerStore
} from '../../ledger/index.js'
import type { ReplicaStore } from '../../ledger/index.js'
import type { Logger } from '../ops/index.js'
import { ALERT_LIMITS } from './limits.js'

/** What acting on one alert came to: done (acted on, or refused for good), or waiting for the device's enrolment. */
export type AlertOutcome = 'done' | 'unknown-device'

const ALERT_TYPES = new Set(['alert.equivocation', 'alert.revocation'])

/** Whether an entry of a peer's feed is an alert an agent acts on. */
export const isPeerAlert = (entry: Entry): boolean => ALERT_TYPES.has(entry.type)

/** How far a feed's alerts were acted on: up to `cursor` (the entry before it hashes to `hash`). */
interface Progress {
  cursor: number
  hash: string
  /** Batches acted on past a gap, by their first seq (bounded: the cursor waits for the gap). */
  ahead: Map<number, { end: number; hash: string }>
  /** An alert of this feed could not be acted on: the cursor stays until the next start. */
  failed: boolean
}

const NO_HASH = ''

export class PeerAlerts {
  private readonly cursors
  private readonly waitingSub
  /** Alerts waiting, per reporting feed (read from the store on recover()). */
  private readonly waitingPer = new Map<string, number>()
  private waitingTotal = 0
  private readonly progress = new Map<string, Progress>()
  /** Retries of the waiting alerts, one at a time. */
  private retries: Promise<void> = Promise.resolve()

  constructor(
    private readonly store: LedgerStore,
    private readonly act: (entry: Entry, feed: string) => Promise<AlertOutcome>,
    private readonly logger?: Logger
  ) {
    this.cursors = store.sublevel(LEDGER_SUBLEVELS.alertCursors)
    this.waitingSub = store.sublevel(LEDGER_SUBLEVELS.alertsWaiting)
  }

  /** Alerts waiting for their device's enrolment. */
  get waiting(): number {
    return this.waitingTotal
  }

  /**
   * Acts on the alerts among `entries` (consecutive, just stored in `feed`'s replica), then moves
   * the feed's cursor past them when nothing before them is left undone. Throws what acting threw.
   */
  async afterBatch(feed: string, entries: readonly Entry[]): Promise<void> {
    if (entries.length === 0) return
    const progress = await this.progressOf(feed)
    try {
      for (const entry of entries) if (ALERT_TYPES.has(entry.type)) await this.actOn(entry, feed)
    } catch (err) {
      progress.failed = true
      throw err
    }
    if (progress.failed) return
    const last = entries[entries.length - 1]!
    const from = entries[0]!.seq
    const end = last.seq + 1
    const hash = toHex(entryHash(encodeEntry(last)))
    if (from > progress.cursor) {
      if (progress.ahead.size < ALERT_LIMITS.maxBatchesAhead) progress.ahead.set(from, { end, hash })
      return
    }
    if (end <= progress.cursor) return
    progress.cursor = end
    progress.hash = hash
    // Batches acted on past the gap this one closed.
    for (let moved = true; moved; ) {
      moved = false
      for (const [start, batch] of progress.ahead) {
        if (start > progress.cursor) continue
        progress.ahead.delete(start)
        if (batch.end > progress.cursor) {
          progress.cursor = batch.end
          progress.hash = batch.hash
          moved = true
        }
      }
    }
    await this.store.write(
      [{ type: 'put', sublevel: this.cursors, key: feed, value: encodeCursor(progress.cursor, progress.hash) }],
      // Not synced: a cursor lost with the power only means acting on some alerts again on start,
      // which changes nothing (each is acted on once in effect).
      { sync: false }
    )
  }

  /**
   * On start (before replication): acts on the alerts each replica holds past its cursor (a feed
   * with no cursor, or whose cursor's entry changed, is read whole), then on those waiting.
   * `skip`: feeds whose entries are no alerts of peers (the owner's).
   */
  async recover(replicas: ReplicaStore, skip: ReadonlySet<string>): Promise<void> {
    for await (const [key] of this.waitingSub.iterator()) this.count(key.slice(0, key.indexOf('!')), 1)
    let recovered = 0
    for (const [feed, size] of await replicas.feeds()) {
      if (skip.has(feed)) continue
      let { cursor, hash } = decodeCursor(await this.cursors.get(feed))
      if (cursor > size || (cursor > 0 && (await hashAt(replicas, feed, cursor - 1)) !== hash)) {
        cursor = 0
        hash = NO_HASH
      }
      let lastHash = hash
      for await (const bytes of replicas.entries(feed, cursor)) {
        const { entry, hash: entryHashed } = decodeEntry(bytes)
        lastHash = toHex(entryHashed)
        if (!ALERT_TYPES.has(entry.type)) continue
        await this.actOn(entry, feed)
        recovered++
      }
      this.progress.set(feed, { cursor: size, hash: lastHash, ahead: new Map(), failed: false })
      if (size !== cursor)
        await this.store.write(
          [{ type: 'put', sublevel: this.cursors, key: feed, value: encodeCursor(size, lastHash) }],
          { sync: false }
        )
    }
    if (recovered > 0) this.logger?.info({ alerts: recovered }, "peers' alerts stored before a stop acted on now")
    await this.retryWaiting()
  }

  /** Tries the waiting alerts again (after the owner's feed grew: it may have enrolled their device). */
  async retryWaiting(): Promise<void> {
    const run = this.retries.catch(() => undefined).then(async () => await this.retryOnce())
    this.retries = run
    await run
  }

  private async retryOnce(): Promise<void> {
    if (this.waitingTotal === 0) return
    for await (const [key, bytes] of this.waitingSub.iterator()) {
      const feed = key.slice(0, key.indexOf('!'))
      if ((await this.act(decodeEntry(bytes).entry, feed)) === 'unknown-device') continue
      if ((await this.waitingSub.get(key)) === undefined) continue
      await this.store.write([{ type: 'del', sublevel: this.waitingSub, key }], { sync: false })
      this.count(feed, -1)
    }
  }

  private async progressOf(feed: string): Promise<Progress> {
    let progress = this.progress.get(feed)
    if (progress === undefined) {
      const { cursor, hash } = decodeCursor(await this.cursors.get(feed))
      progress = this.progress.get(feed) ?? { cursor, hash, ahead: new Map(), failed: false }
      this.progress.set(feed, progress)
    }
    return progress
  }

  private async actOn(entry: Entry, feed: string): Promise<void> {
    if ((await this.act(entry, feed)) !== 'unknown-device') return
    const key = `${feed}!${seqKey(entry.seq)}`
    if ((await this.waitingSub.get(key)) !== undefined) return
    if (
      (this.waitingPer.get(feed) ?? 0) >= ALERT_LIMITS.maxWaitingPerFeed ||
      this.waitingTotal >= ALERT_LIMITS.maxWaiting
    ) {
      this.logger?.warn(
        { reporter: feed, seq: entry.seq, about: entry.body.feed },
        'an alert about a device not known here is dropped: too many alerts wait already'
      )
      return
    }
    // Kept before the cursor moves past it (synced: the cursor write after it is not).
    await this.store.write([{ type: 'put', sublevel: this.waitingSub, key, value: encodeEntry(entry) }], {
      sync: true
    })
    this.count(feed, 1)
    this.logger?.info(
      { reporter: feed, seq: entry.seq, about: entry.body.feed },
      'an alert about a device not known here waits for its enrolment'
    )
  }

  private count(feed: string, by: number): void {
    const n = (this.waitingPer.get(feed) ?? 0) + by
    if (n <= 0) this.waitingPer.delete(feed)
    else this.waitingPer.set(feed, n)
    this.waitingTotal += by
  }
}

/** A cursor as stored: '<seq, 16 hex digits>:<hash of the entry before it, hex>'. */
function encodeCursor(cursor: number, hash: string): Uint8Array {
  return new Uint8Array(Buffer.from(`${seqKey(cursor)}:${hash}`, 'latin1'))
}

/** A stored cursor; none, or one not in this form, is the start of the feed. */
function decodeCursor(bytes: Uint8Array | undefined): { cursor: number; hash: string } {
  const match = /^([0-9a-f]{16}):([0-9a-f]{64})?$/.exec(
    bytes === undefined ? '' : Buffer.from(bytes).toString('latin1')
  )
  if (match === null) return { cursor: 0, hash: NO_HASH }
  const cursor = Number.parseInt(match[1]!, 16)
  return Number.isSafeInteger(cursor) && match[2] !== undefined
    ? { cursor, hash: match[2] }
    : { cursor: 0, hash: NO_HASH }
}

/** The hash of entry `seq` of a replica, hex ('' when it is not held). */
async function hashAt(replicas: ReplicaStore, feed: string, seq: number): Promise<string> {
  for await (const bytes of replicas.entries(feed, seq)) return toHex(entryHash(bytes))
  return NO_HASH
}
