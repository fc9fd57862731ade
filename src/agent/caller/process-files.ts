/**
 * What identification reads about a process, from Linux's /proc. An interface so that tests can
 * play what real processes cannot do on demand (a pid taken by another process mid-measurement).
 */
import { constants } from 'node:fs'
import { open, readFile, readlink, type FileHandle } from 'node:fs/promises'
import path from 'node:path'

/** What names one version of a file: a file rewritten in place changes its size, mtime or ctime. */
export interface FileIdentity {
  dev: bigint
  ino: bigint
  size: bigint
  mtimeNs: bigint
  /** Changed by every write and by every utimes() too: a restored mtime does not hide a rewrite. */
  ctimeNs: bigint
}

export interface FileStatus extends FileIdentity {
  /** Names left in the filesystem: 0 once the file was unlinked or replaced by a rename. */
  links: number
  regular: boolean
}

/** A file opened for measurement. */
export interface OpenFile {
  status(): Promise<FileStatus>
  /** Reads into `buffer` from `position`; the number of bytes read, 0 at the end. */
  read(buffer: Uint8Array, position: number): Promise<number>
  close(): Promise<void>
}

export interface ProcessFiles {
  /** /proc/uptime. */
  uptime(): Promise<string>
  /** /proc/PID/stat. */
  stat(pid: number): Promise<string>
  /** The path /proc/PID/exe shows: where the executable was when it started, " (deleted)" if no longer. */
  executablePath(pid: number): Promise<string>
  /** Opens /proc/PID/exe: the very file the process was started from, whatever its path names now. */
  openExecutable(pid: number): Promise<OpenFile>
  /** /proc/PID/cmdline, at most `maxBytes` of it. */
  commandLine(pid: number, maxBytes: number): Promise<Uint8Array>
  /**
   * Opens a path as the process sees it: an absolute one under its root, a relative one under its
   * working directory. Does not block on a FIFO.
   */
  openInProcess(pid: number, file: string): Promise<OpenFile>
}

function openFile(handle: FileHandle): OpenFile {
  return {
    status: async () => {
      const stats = await handle.stat({ bigint: true })
      return {
        dev: stats.dev,
        ino: stats.ino,
        size: stats.size,
        mtimeNs: stats.mtimeNs,
        ctimeNs: stats.ctimeNs,
        links: Number(stats.nlink),
        regular: stats.isFile()
      }
    },
    read: async (buffer, position) => (await handle.read(buffer, 0, buffer.length, position)).bytesRead,
    close: async () => {
      await handle.close()
    }
  }
}

/** The host's /proc. */
export const linuxProcessFiles: ProcessFiles = {
  uptime: async () => await readFile('/proc/uptime', 'utf8'),
  stat: async (pid) => await readFile(`/proc/${pid}/stat`, 'utf8'),
  executablePath: async (pid) => await readlink(`/proc/${pid}/exe`),
  openExecutable: async (pid) => openFile(await open(`/proc/${pid}/exe`, 'r')),
  commandLine: async (pid, maxBytes) => {
    const handle = await open(`/proc/${pid}/cmdline`, 'r')
    try {
      const buffer = new Uint8Array(maxBytes)
      const { bytesRead } = await handle.read(buffer, 0, maxBytes, 0)
      return buffer.subarray(0, bytesRead)
    } finally {
      await handle.close()
    }
  },
  openInProcess: async (pid, file) => {
    const where = path.isAbsolute(file) ? `/proc/${pid}/root${file}` : `/proc/${pid}/cwd/${file}`
    return openFile(await open(where, constants.O_RDONLY | constants.O_NONBLOCK))
  }
}
