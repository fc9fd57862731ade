import path from 'node:path'
import { LevelLedgerStore, MemoryLedgerStore, type LedgerStore } from '../../../src/ledger/index.js'
import { tempDir } from '../../helpers/devices.js'

/** One implementation of LedgerStore, as the shared suites run it. */
export interface StoreKind {
  name: string
  /** A new, empty store, opened. */
  make: () => Promise<LedgerStore>
}

/** Both stores: every suite over STORE_KINDS runs once on LevelDB and once in memory. */
export const STORE_KINDS: readonly StoreKind[] = [
  {
    name: 'LevelLedgerStore',
    make: async () => {
      const store = new LevelLedgerStore(path.join(await tempDir('fleet-store-'), 'ledger'))
      await store.open()
      return store
    }
  },
  {
    name: 'MemoryLedgerStore',
    make: async () => {
      const store = new MemoryLedgerStore()
      await store.open()
      return store
    }
  }
]
