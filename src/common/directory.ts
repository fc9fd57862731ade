import { mkdir, stat } from 'node:fs/promises'
import path from 'node:path'
import { FleetError } from './errors.js'

/** How many missing folders makeDirectory creates above the one asked for, at most. */
const MAX_MISSING_LEVELS = 32

/**
 * Thrown when a folder cannot be made or used: the path is a file, or the file system refuses to
 * make it (a read-only or virtual one such as /proc, a permission). Exit code 2: the path given
 * is what has to change.
 */
export class DirectoryError extends FleetError {
  readonly path: string
  constructor(dir: string, reason: string) {
    super(`${dir}: ${reason}`, { code: 'ERR_DIRECTORY', exitCode: 2 })
    this.path = dir
  }
}

function reasonOf(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied'
  if (code === 'EROFS') return 'the file system is read-only'
  if (code === 'ENOTDIR') return 'a part of the path is a file, not a folder'
  if (code === 'ENOENT') return 'the file system refuses to make it (a virtual file system?)'
  return `cannot make it (${code ?? String(err)})`
}

/**
 * Makes `dir` and its missing parents (each with `mode`), or checks that it is a folder. Unlike
 * fs.mkdir's `recursive`, which retries forever where a file system answers ENOENT to making a
 * folder under an existing one (procfs, sysfs), every refusal here ends in one DirectoryError.
 */
export async function makeDirectory(dir: string, options: { mode?: number } = {}): Promise<void> {
  const target = path.resolve(dir)
  const missing: string[] = []
  for (let at = target; ; at = path.dirname(at)) {
    try {
      if (!(await stat(at)).isDirectory())
        throw new DirectoryError(dir, at === target ? 'is a file, not a folder' : `${at} is a file, not a folder`)
      break
    } catch (err) {
      if (err instanceof DirectoryError) throw err
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new DirectoryError(dir, reasonOf(err))
      if (missing.length > MAX_MISSING_LEVELS) throw new DirectoryError(dir, 'too many missing folders above it')
      missing.push(at)
      if (path.dirname(at) === at) break
    }
  }
  for (const folder of missing.reverse()) {
    try {
      await mkdir(folder, { mode: options.mode ?? 0o700 })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && (await stat(folder)).isDirectory()) continue
      throw new DirectoryError(dir, reasonOf(err))
    }
  }
}
