import { randomBytes } from 'node:crypto'
import { open, rename } from 'node:fs/promises'
import { makeDirectory } from './directory.js'
import path from 'node:path'

/**
 * Writes `text` to `file` (mode 0600, its folder made 0700 if missing) durably: to a temporary
 * file of its own name, synced, renamed over `file`, then the folder synced. A crash leaves the
 * old file or the new one, never half of one, and once this resolves the new one survives a power cut.
 */
export async function writeFileDurably(file: string, text: string): Promise<void> {
  await makeDirectory(path.dirname(file), { mode: 0o700 })
  // A name of its own (concurrent writers never share one), created new ('wx').
  const temp = `${file}.tmp-${randomBytes(8).toString('hex')}`
  const handle = await open(temp, 'wx', 0o600)
  try {
    await handle.writeFile(text)
    await handle.sync()
  } finally {
    await handle.close()
  }
  await rename(temp, file)
  await syncFolder(path.dirname(file))
}

/**
 * Syncs `folder` itself: the names in it (a file created, renamed or removed there) survive a
 * power cut once this resolves.
 */
export async function syncFolder(folder: string): Promise<void> {
  const directory = await open(folder, 'r')
  try {
    await directory.sync()
  } finally {
    await directory.close()
  }
}
