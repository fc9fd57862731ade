/**
 * A read-only look at a ledger a running agent holds: LevelDB lets one process open a database,
 * so a command that only reads takes a snapshot instead, as a crash would leave the files then.
 *
 * The files are copied, never linked: opening the copy recovers it (its write-ahead log replayed
 * into new table files), and a link would let that recovery write into the agent's own files. The
 * copy goes to a private directory of the caller's (not the agent's state directory, which the
 * agent's user may rearrange under a reader running as root); only regular files are copied, and
 * CURRENT is written from the manifest name it was checked to hold. The manifest CURRENT names is
 * copied first, then the logs and tables; if the agent recorded a flush or compaction meanwhile
 * (CURRENT or that manifest changed), files the copied manifest names may be gone or logs already
 * folded into tables it does not name: the snapshot is taken again, a few times.
 */
import { constants } from 'node:fs'
import { copyFile, lstat, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { FleetError } from '../common/index.js'
import { LevelLedgerStore } from '../ledger/index.js'

const ATTEMPTS = 5
const TABLE = /^\d+\.(ldb|sst)$/
const LOG = /^\d+\.log$/

/** Snapshots not yet removed: removed on exit too (Ctrl-C, a closed pipe). */
const open = new Set<string>()
let exitHook = false

/** A snapshot of the ledger at `location`, in a private temporary directory, removed when the store closes. */
export async function openLedgerSnapshot(location: string): Promise<LevelLedgerStore> {
  if (!exitHook) {
    exitHook = true
    process.once('exit', () => {
      for (const dir of open) rmSync(dir, { recursive: true, force: true })
    })
  }
  let last: unknown
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    let copy: string | undefined
    try {
      copy = await mkdtemp(path.join(os.tmpdir(), 'fleet-ledger-snapshot-'))
      open.add(copy)
      await takeSnapshot(location, copy)
      const store = new SnapshotStore(copy)
      await store.open()
      return store
    } catch (err) {
      last = err
      if (copy !== undefined) {
        open.delete(copy)
        await rm(copy, { recursive: true, force: true })
      }
    }
  }
  throw new FleetError(`cannot take a snapshot of the ledger at ${location}: ${(last as Error).message}`, {
    code: 'ERR_LEDGER_SNAPSHOT',
    cause: last
  })
}

async function takeSnapshot(from: string, to: string): Promise<void> {
  const current = await readCurrent(from)
  const manifest = path.join(from, current)
  const before = await regularFile(manifest)
  await copyFile(manifest, path.join(to, current), constants.COPYFILE_EXCL)
  for (const name of await readdir(from)) {
    if (!LOG.test(name) && !TABLE.test(name)) continue
    await regularFile(path.join(from, name))
    await copyFile(path.join(from, name), path.join(to, name), constants.COPYFILE_EXCL)
  }
  // Nothing recorded meanwhile: the copied manifest names exactly the files copied with it.
  const after = await regularFile(manifest)
  if ((await readCurrent(from)) !== current || after.size !== before.size || after.mtimeMs !== before.mtimeMs)
    throw new Error('the agent recorded a flush or compaction while the snapshot was taken')
  // Last: a copy without CURRENT is no database.
  await writeFile(path.join(to, 'CURRENT'), `${current}\n`, { flag: 'wx' })
}

async function readCurrent(dir: string): Promise<string> {
  await regularFile(path.join(dir, 'CURRENT'))
  const current = (await readFile(path.join(dir, 'CURRENT'), 'utf8')).trim()
  if (!/^MANIFEST-\d+$/.test(current)) throw new Error(`CURRENT names ${current.slice(0, 64)}`)
  return current
}

/** A regular file, not a link, a pipe or a device. */
async function regularFile(file: string): Promise<{ size: number; mtimeMs: number }> {
  const info = await lstat(file)
  if (!info.isFile()) throw new Error(`${path.basename(file)} is not a regular file`)
  return info
}

/** A snapshot's store: closing it removes the snapshot. */
class SnapshotStore extends LevelLedgerStore {
  override async close(): Promise<void> {
    try {
      await super.close()
    } finally {
      open.delete(this.location)
      await rm(this.location, { recursive: true, force: true })
    }
  }
}
