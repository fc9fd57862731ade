import { createHash } from 'node:crypto'
import path from 'node:path'
import { Level } from 'level'
import type { Tpm } from '../../attest/index.js'
import type { HybridSigner } from '../../identity/index.js'
import { FeedLedger, BASE_ONTOLOGY, LEVEL_OPTIONS, type Hasher, type Ontology } from '../../ledger/index.js'

export const LEDGER_DIR = 'ledger'

export interface OpenedLedger {
  db: Level<string, Uint8Array>
  ledger: FeedLedger
  close: () => Promise<void>
}

/**
 * The NV index of a feed's rollback counter: in the owner range (0x01000000-0x013FFFFF), from the
 * feed id, so a device's and the owner's feeds on one machine have their own.
 */
export function rollbackCounterIndex (feedId: string): number {
  return 0x01000000 + (createHash('sha256').update('fleet-rollback-counter-v1').update(feedId).digest().readUInt32BE(0) & 0x3fffff)
}

/**
 * Opens the feed this identity writes (a device's, or the owner's) in DIR/ledger: LevelDB, the
 * TPM-backed hybrid signer for checkpoints, the TPM clock, and a TPM NV counter the store is
 * bound to, for rollback checks.
 */
export async function openOwnFeed (options: { dir: string, tpm: Tpm, signer: HybridSigner, fleetId: Uint8Array, feedId: string, ontology?: Ontology, batchMs?: number, batchEntries?: number, routineBatchMs?: number, hasher?: Hasher }): Promise<OpenedLedger> {
  const db = new Level<string, Uint8Array>(path.join(options.dir, LEDGER_DIR), LEVEL_OPTIONS)
  await db.open()
  const ledger = new FeedLedger({
    db,
    signer: options.signer,
    clock: { now: () => Date.now() },
    tpmClock: { readTpmClock: async () => await options.tpm.readClock() },
    ontology: options.ontology ?? BASE_ONTOLOGY,
    hasher: options.hasher,
    rollbackCounter: {
      read: async () => await options.tpm.readCounter(rollbackCounterIndex(options.feedId)),
      increment: async () => await options.tpm.incrementCounter(rollbackCounterIndex(options.feedId))
    }
  }, { fleetId: options.fleetId, feedId: options.feedId, ...(options.batchMs === undefined ? {} : { batchMs: options.batchMs }), ...(options.batchEntries === undefined ? {} : { batchEntries: options.batchEntries }), ...(options.routineBatchMs === undefined ? {} : { routineBatchMs: options.routineBatchMs }) })
  try {
    await ledger.start()
  } catch (err) {
    await db.close()
    throw err
  }
  return {
    db,
    ledger,
    close: async () => {
      await ledger.stop()
      await db.close()
    }
  }
}
