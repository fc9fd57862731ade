import { createHash } from 'node:crypto'
import path from 'node:path'
import type { Tpm } from '../../attest/index.js'
import type { HybridSigner } from '../../identity/index.js'
import {
  FeedLedger,
  BASE_ONTOLOGY,
  LevelLedgerStore,
  type Hasher,
  type LedgerStore,
  type Ontology
} from '../../ledger/index.js'
import { systemClock, type Clock } from '../../common/index.js'

export const LEDGER_DIR = 'ledger'

export interface OpenedLedger {
  store: LedgerStore
  ledger: FeedLedger
  close: () => Promise<void>
}

/**
 * The NV index of a feed's rollback counter: in the owner range (0x01000000-0x013FFFFF), from the
 * feed id, so a device's and the owner's feeds on one machine have their own.
 */
export function rollbackCounterIndex(feedId: string): number {
  return (
    0x01000000 +
    (createHash('sha256').update('fleet-rollback-counter-v1').update(feedId).digest().readUInt32BE(0) & 0x3fffff)
  )
}

/**
 * Opens the feed this identity writes (a device's, or the owner's): its store (`store`, or by
 * default LevelDB in DIR/ledger; opened here, closed by close()), the TPM-backed hybrid signer for
 * checkpoints, the TPM clock, and a TPM NV counter the store is bound to, for rollback checks.
 */
export async function openOwnFeed(options: {
  dir: string
  tpm: Tpm
  signer: HybridSigner
  fleetId: Uint8Array
  feedId: string
  ontology?: Ontology
  batchMs?: number
  batchEntries?: number
  routineBatchMs?: number
  store?: LedgerStore
  clock?: Clock
  hasher?: Hasher
}): Promise<OpenedLedger> {
  const store = options.store ?? new LevelLedgerStore(path.join(options.dir, LEDGER_DIR))
  await store.open()
  const ledger = new FeedLedger(
    {
      store,
      signer: options.signer,
      clock: options.clock ?? systemClock,
      tpmClock: { readTpmClock: async () => await options.tpm.readClock() },
      ontology: options.ontology ?? BASE_ONTOLOGY,
      hasher: options.hasher,
      rollbackCounter: {
        read: async () => await options.tpm.readCounter(rollbackCounterIndex(options.feedId)),
        increment: async () => await options.tpm.incrementCounter(rollbackCounterIndex(options.feedId))
      }
    },
    {
      fleetId: options.fleetId,
      feedId: options.feedId,
      batchMs: options.batchMs,
      batchEntries: options.batchEntries,
      routineBatchMs: options.routineBatchMs
    }
  )
  try {
    await ledger.start()
  } catch (err) {
    await store.close()
    throw err
  }
  return {
    store,
    ledger,
    close: async () => {
      await ledger.stop()
      await store.close()
    }
  }
}
