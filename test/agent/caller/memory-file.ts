/** An OpenFile over bytes in memory, whose status and bytes a test can change mid-read. */
import type { FileStatus, OpenFile } from '../../../src/agent/caller/index.js'

export class MemoryFile implements OpenFile {
  reads = 0
  closed = false
  /** Called after each read, with the number of reads so far: a test rewrites the file here. */
  afterRead: (reads: number) => void = () => undefined

  constructor(
    public bytes: Uint8Array,
    public fileStatus: Partial<FileStatus> = {}
  ) {}

  async status(): Promise<FileStatus> {
    return {
      dev: 1n,
      ino: 2n,
      mtimeNs: 3n,
      ctimeNs: 4n,
      links: 1,
      regular: true,
      ...this.fileStatus,
      size: this.fileStatus.size ?? BigInt(this.bytes.length)
    }
  }

  async read(buffer: Uint8Array, position: number): Promise<number> {
    const part = this.bytes.subarray(position, position + buffer.length)
    buffer.set(part)
    this.reads += 1
    this.afterRead(this.reads)
    return part.length
  }

  async close(): Promise<void> {
    this.closed = true
  }
}
