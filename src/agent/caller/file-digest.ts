/**
 * SHA-256 of an open file, read in bounded chunks. The file is named by its descriptor, so a path
 * that comes to name another file meanwhile changes nothing; a file rewritten while it is read is
 * refused rather than given the digest of a mix of two versions.
 */
import { createHash } from 'node:crypto'
import { FileChangedError } from './errors.js'
import type { FileStatus, OpenFile } from './process-files.js'

function sameVersion(a: FileStatus, b: FileStatus): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs
}

/** The digest of `file`'s bytes, which `status` (read before) says are `status.size` long. The caller bounds the size. */
export async function digestOpenFile(
  file: OpenFile,
  status: FileStatus,
  name: string,
  chunkBytes: number
): Promise<Uint8Array> {
  const size = Number(status.size)
  const hash = createHash('sha256')
  const buffer = new Uint8Array(Math.min(chunkBytes, Math.max(size, 1)))
  let position = 0
  while (position < size) {
    const read = await file.read(buffer.subarray(0, Math.min(buffer.length, size - position)), position)
    if (read === 0) throw new FileChangedError(name, `it ended at byte ${position} of ${size}`)
    hash.update(buffer.subarray(0, read))
    position += read
  }
  if ((await file.read(buffer.subarray(0, 1), position)) !== 0)
    throw new FileChangedError(name, `it grew past ${size} bytes`)
  if (!sameVersion(status, await file.status())) throw new FileChangedError(name, 'its size or times changed')
  return new Uint8Array(hash.digest())
}
