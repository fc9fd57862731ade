import { constants } from 'node:fs'
import { open } from 'node:fs/promises'

/** Why a small state file could not be read: not a regular file, or larger than its cap. */
export type BoundedReadProblem = 'symlink' | 'not-regular' | 'too-large'

/**
 * Reads a small state file (a secret, the gate's grants) of at most `max` bytes: not through a
 * symbolic link, without blocking on a FIFO, a regular file only, never more than `max` + 1 bytes
 * read whatever the file claims its size is. Returns the text, or the problem; undefined when
 * there is no such file. Other errors (EACCES, EIO) are thrown as they are.
 */
export async function readBoundedFile(
  file: string,
  max: number
): Promise<{ text: string } | { problem: BoundedReadProblem } | undefined> {
  let handle: Awaited<ReturnType<typeof open>>
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return undefined
    if (code === 'ELOOP') return { problem: 'symlink' }
    throw err
  }
  try {
    const stats = await handle.stat()
    if (!stats.isFile()) return { problem: 'not-regular' }
    if (stats.size > max) return { problem: 'too-large' }
    const buffer = Buffer.alloc(max + 1)
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0)
    if (bytesRead > max) return { problem: 'too-large' }
    return { text: buffer.subarray(0, bytesRead).toString('utf8') }
  } finally {
    await handle.close()
  }
}
