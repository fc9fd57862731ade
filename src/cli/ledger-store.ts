/**
 * The ledger of a state directory as commands that only read it open it: DIR/ledger, whose lock a
 * running agent holds (reported as such, not as a failure to open), and the owner's feed in it.
 */
import { existsSync } from 'node:fs'
import path from 'node:path'
import { LEDGER_DIR, type FeedIdentity } from '../agent/index.js'
import { FleetError } from '../common/index.js'
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

/** Opens DIR/ledger; a running agent holds its lock, which is reported as such. */
export async function openStore(dir: string): Promise<LedgerStore> {
  const location = path.join(dir, LEDGER_DIR)
  if (!existsSync(location))
    throw new FleetError(`${dir} has no ledger yet (nothing appended)`, { code: 'ERR_NO_LEDGER' })
  const store = new LevelLedgerStore(location)
  try {
    await store.open()
  } catch (err) {
    if (err instanceof LedgerStoreLockedError) {
      const message = `the ledger in ${dir} is in use by a running agent; stop it or ask it (fleet status)`
      throw new FleetError(message, { code: 'ERR_LEDGER_LOCKED', cause: err })
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
