/**
 * Where a ledger keeps its bytes: the LedgerStore contract (named sublevels, reads in key order,
 * atomic batches that are durable when written with sync), LevelDB behind it by default
 * (LevelLedgerStore) and a sorted in-memory one for tests and simulations (MemoryLedgerStore),
 * and the frozen names of the ledger's sublevels (LEDGER_SUBLEVELS).
 *
 * @example
 * const store = new LevelLedgerStore(path.join(dir, 'ledger'))      // or new MemoryLedgerStore()
 * await store.open()
 * const { entries, meta } = feedSublevels(store)
 * await store.write([{ type: 'put', sublevel: meta, key: 'state', value }], { sync: true })
 * for await (const [key, run] of entries.iterator({ gte: seqKey(0), limit: 10 })) { … }
 * await store.close()
 */
export { checkSublevelName } from './ledger-store.js'
export type {
  LedgerStore,
  LedgerSpace,
  LedgerSublevel,
  LedgerRange,
  LedgerIterator,
  LedgerWrite,
  LedgerBatch,
  WriteOptions
} from './ledger-store.js'
export { LEDGER_SUBLEVELS, feedSublevels, replicaSpace } from './sublevels.js'
export type { FeedSublevels } from './sublevels.js'
export { LevelLedgerStore, LEVEL_OPTIONS } from './level-store.js'
export { MemoryLedgerStore } from './memory-store.js'
export {
  LedgerStoreClosedError,
  LedgerStoreLockedError,
  LedgerStoreWriteFailedError,
  InvalidSublevelNameError,
  ForeignSublevelError,
  LedgerBatchClosedError,
  LedgerIteratorClosedError
} from './errors.js'
