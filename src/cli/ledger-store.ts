/**
 * The ledger of a state directory as commands that only read it open it: DIR/ledger, or, while a
 * running agent holds its lock, a snapshot of it taken now (ledger-snapshot.ts); and the owner's
 * feed in it.
 */
import { existsSync } from 'node:fs'
import path from 'node:path'
import { LEDGER_DIR, type FeedIdentity } from '../agent/index.js'
import { FleetError } from '../common/index.js'
import { openLedgerSnapshot } from './ledger-snapshot.js'
import {
  EntryRuns,
  LedgerStoreLockedError,
  LevelLedgerStore,
  decodeEntry,
  feedSublevels,
  ownerFeedId,
  replicaSpace,
  type Entry,
  type LedgerStore
} from '../ledger/index.js'

/**
 * Opens DIR/ledger to read it; while a running agent holds it, a snapshot of it (said on stderr).
 * Only for commands that do not write: what they would write to a snapshot is lost.
 */
export async function openStore(dir: string): Promise<LedgerStore> {
  const location = path.join(dir, LEDGER_DIR)
  if (!existsSync(location))
    throw new FleetError(`${dir} has no ledger yet (nothing appended)`, { code: 'ERR_NO_LEDGER' })
  const store = new LevelLedgerStore(location)
  try {
    await store.open()
  } catch (err) {
    if (err instanceof LedgerStoreLockedError) {
      const snapshot = await openLedgerSnapshot(location)
      process.stderr.write(`fleet: an agent is running on ${dir}: reading a snapshot of its ledger taken now\n`)
      return snapshot
    }
    throw new FleetError(`cannot open the ledger in ${dir}: ${(err as Error).message}`, {
      code: 'ERR_LEDGER_OPEN',
      cause: err
    })
  }
  return store
}

/**
 * The entries of the owner's feed that the state directory `dir` holds, in feed order: its own
 * feed for the owner, the replica of the owner's feed for a device (only verified entries are
 * stored there). A directory with no ledger yet holds none.
 */
export async function storedOwnerEntries(dir: string, identity: FeedIdentity): Promise<Entry[]> {
  if (!existsSync(path.join(dir, LEDGER_DIR))) return []
  const store = await openStore(dir)
  try {
    const space = identity.kind === 'owner' ? store : replicaSpace(store, ownerFeedId(identity.fleetId))
    const entries: Entry[] = []
    for await (const { bytes } of new EntryRuns(feedSublevels(space).entries).entries())
      entries.push(decodeEntry(bytes).entry)
    return entries
  } finally {
    await store.close()
  }
}
