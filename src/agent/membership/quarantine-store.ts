/** The store of quarantine evidence an agent keeps, re-verified on start. */
import { LEDGER_SUBLEVELS, type LedgerStore } from '../../ledger/index.js'

/** Where an agent keeps the evidence of each quarantine (re-verified on start), by deviceId. */
export function quarantineSublevel(store: LedgerStore) {
  const sublevel = store.sublevel(LEDGER_SUBLEVELS.quarantine)
  return {
    iterator: () => sublevel.iterator(),
    put: async (deviceId: string, evidence: Uint8Array): Promise<void> => {
      await store.write([{ type: 'put', sublevel, key: deviceId, value: evidence }], { sync: true })
    },
    /** Not synced: a clearing lost with the power is made again on start, from the owner's feed. */
    del: async (deviceId: string): Promise<void> => {
      await store.write([{ type: 'del', sublevel, key: deviceId }], { sync: false })
    }
  }
}
