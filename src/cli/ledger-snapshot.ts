/**
 * A read-only look at a ledger a running agent holds: LevelDB lets one process open a database,
 * so a command that only reads takes a snapshot instead, as a crash would leave the files now.
 * The table files (.ldb, .sst) never change once written: they are hard-linked (copied across
 * filesystems); the manifest its CURRENT names and the write-ahead logs are copied, the manifest
 * first. Opening the copy recovers it as after a crash: every write the agent had synced is in it.
 * A table file compacted away while the snapshot was taken makes the copy fail to open: it is
 * taken again, a few times.
 */
import { copyFile, link, mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import path from 'node:path'
import { FleetError } from '../common/index.js'
import { LevelLedgerStore } from '../ledger/index.js'

const ATTEMPTS = 5
const TABLE = /\.(ldb|sst)$/
const LOG = /^\d+\.log$/

/** A snapshot of the ledger at `location`, in a directory beside it, removed when the store closes. */
export async function openLedgerSnapshot(location: string): Promise<LevelLedgerStore> {
  let last: unknown
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const copy = await mkdtemp(path.join(path.dirname(location), '.ledger-snapshot-'))
    try {
      await takeSnapshot(location, copy)
      const store = new SnapshotStore(copy)
      await store.open()
      return store
    } catch (err) {
      last = err
      await rm(copy, { recursive: true, force: true })
    }
  }
  throw new FleetError(`cannot take a snapshot of the ledger at ${location}: ${(last as Error).message}`, {
    code: 'ERR_LEDGER_SNAPSHOT',
    cause: last
  })
}

async function takeSnapshot(from: string, to: string): Promise<void> {
  const current = (await readFile(path.join(from, 'CURRENT'), 'utf8')).trim()
  if (!/^MANIFEST-\d+$/.test(current)) throw new Error(`CURRENT names ${current.slice(0, 64)}`)
  await copyFile(path.join(from, current), path.join(to, current))
  for (const name of await readdir(from)) {
    if (LOG.test(name)) await copyFile(path.join(from, name), path.join(to, name))
    else if (TABLE.test(name)) await linkOrCopy(path.join(from, name), path.join(to, name))
  }
  // Last: a copy without CURRENT is no database.
  await copyFile(path.join(from, 'CURRENT'), path.join(to, 'CURRENT'))
}

async function linkOrCopy(from: string, to: string): Promise<void> {
  try {
    await link(from, to)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code !== 'EXDEV' && code !== 'EPERM') throw err
    await copyFile(from, to)
  }
}

/** A snapshot's store: closing it removes the snapshot. */
class SnapshotStore extends LevelLedgerStore {
  override async close(): Promise<void> {
    try {
      await super.close()
    } finally {
      await rm(this.location, { recursive: true, force: true })
    }
  }
}
