/**
 * Durable delivery cursors: per sink and feed, the seq of the next entry to look at, and the hash
 * of the entry before it (the last one the sink has, which the next entry's `prev` names while the
 * history below the cursor stands). A cursor moves only after the sink acknowledged everything
 * below it, and the move is a synced write: after a crash or restart delivery resumes there, so
 * nothing acknowledged is lost and nothing unacknowledged is skipped (what was sent but not yet
 * recorded is sent again: at least once).
 *
 * Value (frozen): 8 bytes, the next seq big-endian, then the 32-byte hash of entry next - 1 when
 * next > 0. A value of 8 bytes alone (as first written) names no hash.
 */
import { LEDGER_SUBLEVELS, type LedgerStore, type LedgerSublevel } from '../../ledger/index.js'
import { SinkCursorError } from './errors.js'

/** Key of a cursor: `<sink>/<feed>` (sink names hold no '/'). */
const keyOf = (sink: string, feed: string): string => `${sink}/${feed}`

/** Where a sink is in a feed: the next seq to look at, and the hash of the entry before it (when known). */
export interface SinkCursor {
  next: number
  last?: Uint8Array
}

export class CursorStore {
  private readonly store: LedgerStore
  private readonly sublevel: LedgerSublevel

  /** `store`: the agent's ledger store, opened and closed by its owner. */
  constructor(store: LedgerStore) {
    this.store = store
    this.sublevel = store.sublevel(LEDGER_SUBLEVELS.sinkCursors)
  }

  /** Where `sink` is in `feed` (next 0 when it never delivered any). */
  async get(sink: string, feed: string, options: { signal?: AbortSignal } = {}): Promise<SinkCursor> {
    options.signal?.throwIfAborted()
    const key = keyOf(sink, feed)
    const value = await this.sublevel.get(key)
    if (value === undefined) return { next: 0 }
    if (value.length !== 8 && value.length !== 40) throw new SinkCursorError(key)
    const next = Number(Buffer.from(value).readBigUInt64BE(0))
    if (!Number.isSafeInteger(next) || (value.length === 40 && next === 0)) throw new SinkCursorError(key)
    return value.length === 40 ? { next, last: new Uint8Array(value.subarray(8)) } : { next }
  }

  /** Records that `sink` has everything of `feed` below `cursor.next`; durable when it resolves. */
  async set(sink: string, feed: string, cursor: SinkCursor, options: { signal?: AbortSignal } = {}): Promise<void> {
    options.signal?.throwIfAborted()
    const value = Buffer.alloc(cursor.last === undefined || cursor.next === 0 ? 8 : 40)
    value.writeBigUInt64BE(BigInt(cursor.next))
    if (value.length === 40) value.set(cursor.last!, 8)
    await this.store.write([{ type: 'put', sublevel: this.sublevel, key: keyOf(sink, feed), value }], { sync: true })
  }
}
