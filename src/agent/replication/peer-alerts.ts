/**
 * Peers' alerts (alert.equivocation, alert.revocation) are acted on at least once. A replica batch
 * is stored first and its alerts are acted on after: a crash or a kill in between must not leave an
 * alert stored and never acted on (the agent would never quarantine the equivocating device, the
 * fleet having told it once). So each peer feed has an alert cursor in the store, moved after the
 * alerts before it were acted on; on start, the alerts past each cursor are acted on then.
 *
 * An alert about a device this agent does not know yet (the owner's enrolment of it has not
 * arrived) cannot be verified: it waits, kept across restarts, and is tried again each time the
 * owner's feed grows. A few wait per reporting feed, and a bounded number in all.
 */
import { decodeEntry, encodeEntry, LEDGER_SUBLEVELS, seqKey, type Entry, type LedgerStore } from '../../ledger/index.js'
import type { ReplicaStore } from '../../ledger/index.js'
import type { Logger } from '../ops/index.js'
import { ALERT_LIMITS } from './limits.js'

/** What acting on one alert came to: done (acted on, or refused for good), or waiting for the device's enrolment. */
export type AlertOutcome = 'done' | 'unknown-device'

const ALERT_TYPES = new Set(['alert.equivocation', 'alert.revocation'])

/** Whether an entry of a peer's feed is an alert an agent acts on. */
export const isPeerAlert = (entry: Entry): boolean => ALERT_TYPES.has(entry.type)

export class PeerAlerts {
  private readonly cursors
  private readonly waitingSub
  /** Alerts waiting, per reporting feed (read from the store on recover()). */
  private readonly waitingPer = new Map<string, number>()
  private waitingTotal = 0
  /** Alerts of one feed are acted on in the order their batches were stored. */
  private readonly chains = new Map<string, Promise<unknown>>()

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
   * Acts on the alerts among `entries`, just stored in `feed`'s replica (consecutive), then moves
   * the feed's cursor past them. Call it as soon as the batch is stored (batches of one feed are
   * taken in that order).
   */
  async afterBatch(feed: string, entries: readonly Entry[]): Promise<void> {
    if (entries.length === 0) return
    const end = entries[entries.length - 1]!.seq + 1
    const previous = this.chains.get(feed) ?? Promise.resolve()
    const run = previous
      .catch(() => undefined)
      .then(async () => {
        for (const entry of entries) if (ALERT_TYPES.has(entry.type)) await this.actOn(entry, feed)
        await this.moveCursor(feed, end)
      })
    this.chains.set(feed, run)
    try {
      await run
    } finally {
      if (this.chains.get(feed) === run) this.chains.delete(feed)
    }
  }

  /**
   * On start (before replication): acts on the alerts each replica holds past its cursor (a feed
   * with no cursor is read whole, once), then on those waiting. `skip`: feeds whose entries are no
   * alerts of peers (the owner's).
   */
  async recover(replicas: ReplicaStore, skip: ReadonlySet<string>): Promise<void> {
    for await (const [key] of this.waitingSub.iterator()) this.count(key.slice(0, key.indexOf('!')), 1)
    let recovered = 0
    for (const [feed, size] of await replicas.feeds()) {
      if (skip.has(feed)) continue
      const stored = await this.cursors.get(feed)
      const cursor = stored === undefined ? 0 : Number.parseInt(Buffer.from(stored).toString('latin1'), 16)
      if (!(cursor < size)) continue
      for await (const bytes of replicas.entries(feed, cursor)) {
        const { entry } = decodeEntry(bytes)
        if (!ALERT_TYPES.has(entry.type)) continue
        await this.actOn(entry, feed)
        recovered++
      }
      await this.moveCursor(feed, size)
    }
    if (recovered > 0) this.logger?.info({ alerts: recovered }, "peers' alerts stored before a stop acted on now")
    await this.retryWaiting()
  }

  /** Tries the waiting alerts again (after the owner's feed grew: it may have enrolled their device). */
  async retryWaiting(): Promise<void> {
    if (this.waitingTotal === 0) return
    for await (const [key, bytes] of this.waitingSub.iterator()) {
      const feed = key.slice(0, key.indexOf('!'))
      if ((await this.act(decodeEntry(bytes).entry, feed)) === 'unknown-device') continue
      await this.store.write([{ type: 'del', sublevel: this.waitingSub, key }], { sync: false })
      this.count(feed, -1)
    }
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

  /**
   * Not synced: a cursor lost with the power only means acting on some alerts again on start,
   * which changes nothing (each is acted on once in effect).
   */
  private async moveCursor(feed: string, to: number): Promise<void> {
    await this.store.write(
      [{ type: 'put', sublevel: this.cursors, key: feed, value: Buffer.from(seqKey(to), 'latin1') }],
      { sync: false }
    )
  }

  private count(feed: string, by: number): void {
    const n = (this.waitingPer.get(feed) ?? 0) + by
    if (n <= 0) this.waitingPer.delete(feed)
    else this.waitingPer.set(feed, n)
    this.waitingTotal += by
  }
}
