/**
 * Digests of files already measured, keyed by the file's identity. A program that calls the agent
 * often is hashed once, not on every connection; the table is bounded so that callers running many
 * distinct files cannot grow the agent.
 */
import type { FileIdentity } from './process-files.js'

/** The key: one version of one file. The same bytes copied elsewhere are another key. */
function keyOf(file: FileIdentity): string {
  return `${file.dev}:${file.ino}:${file.size}:${file.mtimeNs}:${file.ctimeNs}`
}

export class DigestCache {
  readonly #entries = new Map<string, Promise<Uint8Array>>()

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('a digest cache holds at least one entry')
  }

  get size(): number {
    return this.#entries.size
  }

  /**
   * The digest of this version of the file: the one recorded, else `compute()`'s, recorded. Callers
   * asking while it is computed share the computation; a failed one is not recorded.
   */
  async digest(file: FileIdentity, compute: () => Promise<Uint8Array>): Promise<Uint8Array> {
    const key = keyOf(file)
    let entry = this.#entries.get(key)
    if (entry !== undefined) {
      // Most recently used last: Map keeps insertion order, so the first key is the one to evict.
      this.#entries.delete(key)
    } else {
      entry = compute()
      entry.catch(() => {
        if (this.#entries.get(key) === entry) this.#entries.delete(key)
      })
    }
    this.#entries.set(key, entry)
    while (this.#entries.size > this.capacity) this.#entries.delete(this.#entries.keys().next().value!)
    return new Uint8Array(await entry)
  }
}
