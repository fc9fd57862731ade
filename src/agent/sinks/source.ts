/**
 * What sinks read: the feeds whose entries are events (this device's own feed and the owner's
 * feed as held here), each up to what is durable, read in bounded pages from the ledger store.
 */
import { EntryRuns, feedSublevels, replicaSpace, type LedgerStore } from '../../ledger/index.js'

export interface SinkSource {
  /** The feeds events are read from, each with how many of its entries are durable now. */
  feeds(options?: { signal?: AbortSignal }): Promise<Array<{ feed: string; size: number }>>
  /** Up to `limit` consecutive entries of `feed` from `from` (fewer at its end). */
  read(feed: string, from: number, limit: number, options?: { signal?: AbortSignal }): Promise<Uint8Array[]>
}

/**
 * The own feed (written by the FeedLedger at the store's root: its entries are durable once
 * `ownSize()` counts them) and the owner's replica (stored only after it verified; its size
 * from `replicaSize`).
 */
export function ledgerSinkSource(
  store: LedgerStore,
  parts: {
    ownFeed: string
    ownSize: () => number
    ownerFeed: string
    replicaSize: (feed: string) => Promise<number>
  }
): SinkSource {
  const own = new EntryRuns(feedSublevels(store).entries)
  const owner = new EntryRuns(feedSublevels(replicaSpace(store, parts.ownerFeed)).entries)
  return {
    feeds: async () => [
      { feed: parts.ownFeed, size: parts.ownSize() },
      { feed: parts.ownerFeed, size: await parts.replicaSize(parts.ownerFeed) }
    ],
    read: async (feed, from, limit, options = {}) => {
      options.signal?.throwIfAborted()
      if (feed === parts.ownFeed) return await own.read(from, parts.ownSize(), limit)
      if (feed === parts.ownerFeed) return await owner.read(from, await parts.replicaSize(feed), limit)
      return []
    }
  }
}
