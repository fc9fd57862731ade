/**
 * Durable delivery cursors: per sink and feed, the seq of the next entry to look at. A cursor
 * moves only after the sink acknowledged everything below it, and the move is a synced write:
 * after a crash or restart delivery resumes there, so nothing acknowledged is lost and nothing
 * unacknowledged is skipped (what was sent but not yet recorded is sent again: at least once).
 */
import { LEDGER_SUBLEVELS, type LedgerStore, type LedgerSublevel } from '../../ledger/index.js'
import { SinkCursorError } from './errors.js'

/** Key of a cursor: `<sink>/<feed>` (sink names hold no '/'). */
const keyOf = (sink: string, feed: string): string => `${sink}/${feed}`

export class CursorStore {
  private readonly store: LedgerStore
  private readonly sublevel: LedgerSublevel

  /** `store`: the agent's ledger store, opened and closed by its owner. */
  constructor(store: LedgerStore) {
    this.store = store
    this.sublevel = store.sublevel(LEDGER_SUBLEVELS.sinkCursors)
  }

  /** The next seq of `feed` to deliver to `sink` (0 when it never delivered any). */
  async get(sink: string, feed: string, options: { signal?: AbortSignal } = {}): Promise<number> {
    options.signal?.throwIfAborted()
    const key = keyOf(sink, feed)
    const value = await this.sublevel.get(key)
    if (value === undefined) return 0
    if (value.length !== 8) throw new SinkCursorError(key)
    const next = Number(Buffer.from(value).readBigUInt64BE(0))
    if (!Number.isSafeInteger(next)) throw new SinkCursorError(key)
    return next
  }

  /** Records that `sink` has everything of `feed` below `next`; durable when it resolves. */
  async set(sink: string, feed: string, next: number, options: { signal?: AbortSignal } = {}): Promise<void> {
    options.signal?.throwIfAborted()
    const value = Buffer.alloc(8)
    value.writeBigUInt64BE(BigInt(next))
    await this.store.write([{ type: 'put', sublevel: this.sublevel, key: keyOf(sink, feed), value }], { sync: true })
  }
}
