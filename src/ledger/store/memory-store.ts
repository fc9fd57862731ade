import {
  checkSublevelName,
  sublevelHandle,
  type LedgerBatch,
  type LedgerIterator,
  type LedgerRange,
  type LedgerStore,
  type LedgerSublevel,
  type LedgerWrite,
  type WriteOptions
} from './ledger-store.js'
import {
  ForeignSublevelError,
  LedgerBatchClosedError,
  LedgerIteratorClosedError,
  LedgerStoreClosedError
} from './errors.js'

/** One stored pair: the full key (the sublevel's prefix, then the key) in UTF-8, as LevelDB holds it. */
interface Row {
  key: Buffer
  value: Uint8Array
}

/**
 * A copy of `bytes` as a plain Uint8Array (never `bytes.slice()`: on a Buffer that is a view, and
 * the caller may reuse its buffer, as BatchEncoder does).
 */
const copy = (bytes: Uint8Array): Uint8Array => new Uint8Array(bytes)

/** A bound of a range on full keys. */
interface Bound {
  key: Buffer
  inclusive: boolean
}

/** The first index whose key is at or above `key` (above, when `strictly`). */
function search(rows: readonly Row[], key: Buffer, strictly: boolean): number {
  let low = 0
  let high = rows.length
  while (low < high) {
    const mid = (low + high) >>> 1
    const order = Buffer.compare(rows[mid]!.key, key)
    if (order < 0 || (strictly && order === 0)) low = mid + 1
    else high = mid
  }
  return low
}

class MemoryIterator implements LedgerIterator {
  private readonly store: MemoryLedgerStore
  private readonly rows: readonly Row[]
  private readonly prefixBytes: number
  private readonly reverse: boolean
  /** Rows [at, end) forward, or [end, at] backward, are still to be read. */
  private at: number
  private readonly end: number
  private left: number
  private closed = false

  constructor(
    store: MemoryLedgerStore,
    rows: readonly Row[],
    from: number,
    to: number,
    prefixBytes: number,
    range: LedgerRange
  ) {
    this.store = store
    this.rows = rows
    this.prefixBytes = prefixBytes
    this.reverse = range.reverse === true
    this.at = this.reverse ? to - 1 : from
    this.end = this.reverse ? from : to
    // As abstract-level: a limit that is not a non-negative integer is no limit.
    this.left = Number.isInteger(range.limit) && range.limit! >= 0 ? range.limit! : Number.POSITIVE_INFINITY
  }

  async next(): Promise<[string, Uint8Array] | undefined> {
    return this.read()
  }

  async nextv(size: number): Promise<Array<[string, Uint8Array]>> {
    const out: Array<[string, Uint8Array]> = []
    while (out.length < size) {
      const entry = this.read()
      if (entry === undefined) break
      out.push(entry)
    }
    return out
  }

  async close(): Promise<void> {
    this.closed = true
    this.store.forget(this)
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<[string, Uint8Array]> {
    try {
      for (let entry = await this.next(); entry !== undefined; entry = await this.next()) yield entry
    } finally {
      await this.close()
    }
  }

  private read(): [string, Uint8Array] | undefined {
    if (this.closed) throw new LedgerIteratorClosedError()
    const more = this.reverse ? this.at >= this.end : this.at < this.end
    if (!more || this.left <= 0) return undefined
    const row = this.rows[this.at]!
    this.at += this.reverse ? -1 : 1
    this.left--
    return [row.key.toString('utf8', this.prefixBytes), copy(row.value)]
  }
}

class MemorySublevel implements LedgerSublevel {
  readonly path: readonly string[]
  readonly store: MemoryLedgerStore
  /** '!a!!b!' for the path a/b: the prefix abstract-level gives a nested sublevel. */
  private readonly prefix: string
  private readonly lowest: Buffer
  /** The prefix with its last '!' made '"': above every key of this sublevel and its own sublevels. */
  private readonly highest: Buffer
  private readonly children = new Map<string, MemorySublevel>()

  constructor(store: MemoryLedgerStore, parent: MemorySublevel | undefined, name: string) {
    checkSublevelName(name)
    this.store = store
    this.path = [...(parent?.path ?? []), name]
    this.prefix = this.path.map((part) => `!${part}!`).join('')
    this.lowest = Buffer.from(this.prefix, 'utf8')
    this.highest = Buffer.from(`${this.prefix.slice(0, -1)}"`, 'utf8')
  }

  sublevel(name: string): LedgerSublevel {
    return sublevelHandle(this.children, name, () => new MemorySublevel(this.store, this, name))
  }

  /** @internal The full key of `key` in this sublevel. */
  full(key: string): Buffer {
    return Buffer.from(this.prefix + key, 'utf8')
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return this.store.read(this.full(key))
  }

  async getMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    return keys.map((key) => this.store.read(this.full(key)))
  }

  iterator(range: LedgerRange = {}): LedgerIterator {
    // The bounds abstract-level's sublevels give LevelDB: gte, else gt, else the prefix;
    // lte, else lt, else the upper bound.
    const lower: Bound =
      range.gte !== undefined
        ? { key: this.full(range.gte), inclusive: true }
        : range.gt !== undefined
          ? { key: this.full(range.gt), inclusive: false }
          : { key: this.lowest, inclusive: true }
    const upper: Bound =
      range.lte !== undefined
        ? { key: this.full(range.lte), inclusive: true }
        : range.lt !== undefined
          ? { key: this.full(range.lt), inclusive: false }
          : { key: this.highest, inclusive: true }
    return this.store.iterate(lower, upper, this.lowest.length, range)
  }

  async *keys(range: LedgerRange = {}): AsyncGenerator<string> {
    for await (const [key] of this.iterator(range)) yield key
  }

  async *values(range: LedgerRange = {}): AsyncGenerator<Uint8Array> {
    for await (const [, value] of this.iterator(range)) yield value
  }
}

class MemoryBatch implements LedgerBatch {
  private readonly store: MemoryLedgerStore
  private writes: LedgerWrite[] = []
  private done = false

  constructor(store: MemoryLedgerStore) {
    this.store = store
  }

  put(sublevel: LedgerSublevel, key: string, value: Uint8Array): void {
    if (this.done) throw new LedgerBatchClosedError()
    this.writes.push({ type: 'put', sublevel: this.store.own(sublevel), key, value: copy(value) })
  }

  del(sublevel: LedgerSublevel, key: string): void {
    if (this.done) throw new LedgerBatchClosedError()
    this.writes.push({ type: 'del', sublevel: this.store.own(sublevel), key })
  }

  async write(options: WriteOptions): Promise<void> {
    if (this.done) throw new LedgerBatchClosedError()
    this.done = true
    const writes = this.writes
    this.writes = []
    await this.store.write(writes, options)
  }

  async close(): Promise<void> {
    this.done = true
    this.writes = []
  }
}

/**
 * A ledger store in memory, for tests and simulations: one sorted list of full keys, as LevelDB
 * keeps them (each sublevel's keys under its prefix, in UTF-8 byte order), so ranges, reverse
 * reads, limits and sublevel bounds come out as they do on disk. Writes are atomic; an iterator
 * reads the snapshot of when it was made. Its contents outlive close() and open() (as a disk's
 * do), not the object. A write costs O(keys held): fine for the stores of tests.
 */
export class MemoryLedgerStore implements LedgerStore {
  private state: LedgerStore['status'] = 'closed'
  private rows: Row[] = []
  /** An iterator reads `rows`: the next write copies it first, so that the iterator's snapshot stays as it was. */
  private shared = false
  private readonly iterators = new Set<MemoryIterator>()
  private readonly children = new Map<string, MemorySublevel>()

  get status(): LedgerStore['status'] {
    return this.state
  }

  async open(): Promise<void> {
    this.state = 'open'
  }

  async close(): Promise<void> {
    for (const iterator of [...this.iterators]) await iterator.close()
    this.state = 'closed'
  }

  sublevel(name: string): LedgerSublevel {
    return sublevelHandle(this.children, name, () => new MemorySublevel(this, undefined, name))
  }

  async write(writes: readonly LedgerWrite[], _options: WriteOptions): Promise<void> {
    this.checkOpen()
    // Checked whole before any is applied: a bad write applies nothing.
    const staged = writes.map((op) => ({ op, key: this.own(op.sublevel).full(op.key) }))
    if (this.shared) {
      this.rows = this.rows.slice()
      this.shared = false
    }
    const rows = this.rows
    for (const { op, key } of staged) {
      const at = search(rows, key, false)
      const found = at < rows.length && Buffer.compare(rows[at]!.key, key) === 0
      if (op.type === 'put') {
        const row = { key, value: copy(op.value) }
        if (found) rows[at] = row
        else rows.splice(at, 0, row)
      } else if (found) {
        rows.splice(at, 1)
      }
    }
  }

  batch(): LedgerBatch {
    this.checkOpen()
    return new MemoryBatch(this)
  }

  /** @internal The value under a full key (a copy), or undefined. */
  read(key: Buffer): Uint8Array | undefined {
    this.checkOpen()
    const at = search(this.rows, key, false)
    const row = this.rows[at]
    return row !== undefined && Buffer.compare(row.key, key) === 0 ? copy(row.value) : undefined
  }

  /** @internal An iterator over the full keys between two bounds, on a snapshot of now. */
  iterate(lower: Bound, upper: Bound, prefixBytes: number, range: LedgerRange): LedgerIterator {
    this.checkOpen()
    const rows = this.rows
    this.shared = true
    const from = search(rows, lower.key, !lower.inclusive)
    const to = Math.max(from, search(rows, upper.key, upper.inclusive))
    const iterator = new MemoryIterator(this, rows, from, to, prefixBytes, range)
    this.iterators.add(iterator)
    return iterator
  }

  /** @internal An iterator is closed. */
  forget(iterator: MemoryIterator): void {
    this.iterators.delete(iterator)
  }

  /** @internal `sublevel` as one of this store's, or ForeignSublevelError. */
  own(sublevel: LedgerSublevel): MemorySublevel {
    if (!(sublevel instanceof MemorySublevel) || sublevel.store !== this) throw new ForeignSublevelError(sublevel.path)
    return sublevel
  }

  private checkOpen(): void {
    if (this.state !== 'open') throw new LedgerStoreClosedError(this.state)
  }
}
