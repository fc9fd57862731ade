import type { FeedSource, SyncBatch } from '../../ledger/index.js'

/**
 * How this agent serves and announces its own feed. The agent's own server serves what its ledger
 * holds and pushes entries with its announces. simnet's hostile agents stand in with servers of
 * their own (a forked history for some peers, forged or stale batches); such a server does not push.
 */
export interface OwnFeedServer {
  /** The batch of the own feed served to `peerId` from `from` (undefined: nothing past `from`). */
  batch: (peerId: string, from: number) => Promise<SyncBatch | undefined>
  /** What is announced of the own feed to `peerId` instead of the held size and checkpoint. */
  announced?: (peerId: string) => { size: number; checkpoint: string } | undefined
  /** Whether entries of the own feed go along with its announces. */
  readonly pushes: boolean
}

/** The own feed served as the ledger holds it. */
export function ledgerFeedServer(source: FeedSource): OwnFeedServer {
  return { batch: async (_peerId, from) => await source.batch(from), pushes: true }
}
