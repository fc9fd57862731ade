import { InvalidSublevelNameError } from './errors.js'

/**
 * What a ledger keeps its bytes in: named sublevels of string keys and byte values, read in key
 * order, written in atomic batches. LevelLedgerStore (LevelDB on disk, the default) and
 * MemoryLedgerStore implement it alike, down to key order and encodings, so that the ledger runs,
 * and is tested, on either.
 *
 * Keys are strings ordered by their UTF-8 bytes (LevelDB's bytewise comparator over utf8 keys);
 * values are bytes, returned as fresh copies. A sublevel's keys lie under its prefix ('!name!',
 * nested '!a!!b!'), so a range read of one sublevel never reaches another one beside it (a
 * sublevel's range does hold the keys of the sublevels nested in it, as in LevelDB).
 */
export interface LedgerStore extends LedgerSpace {
  readonly status: 'opening' | 'open' | 'closing' | 'closed'
  /** Opens the store (idempotent). Reads and writes before it resolves throw LedgerStoreClosedError. */
  open(): Promise<void>
  /** Closes the store (idempotent); its open iterators are closed with it. */
  close(): Promise<void>
  /**
   * Applies `writes` in order, atomically: all of them or none. With `sync: true` it MUST resolve
   * only after the writes are durable (LevelDB's synced write: they survive a power loss); with
   * `sync: false` they survive a crash of the process, not of the machine.
   */
  write(writes: readonly LedgerWrite[], options: WriteOptions): Promise<void>
  /** A batch to fill now and write later (as FeedLedger stages the next append batch). */
  batch(): LedgerBatch
}

/** The store itself, or one of its sublevels: a place that holds sublevels. */
export interface LedgerSpace {
  /** The sublevel `name` here (printable ASCII above '"', see checkSublevelName): the same handle each time. */
  sublevel(name: string): LedgerSublevel
}

/** One sublevel: reads of its keys (writes go through LedgerStore.write or a LedgerBatch). */
export interface LedgerSublevel extends LedgerSpace {
  /** The names from the store down to this sublevel. */
  readonly path: readonly string[]
  get(key: string): Promise<Uint8Array | undefined>
  getMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>>
  /** Entries in key order (reverse: from the end), from a snapshot taken when it is made. */
  iterator(range?: LedgerRange): LedgerIterator
  keys(range?: LedgerRange): AsyncIterable<string>
  values(range?: LedgerRange): AsyncIterable<Uint8Array>
}

/**
 * A key range. A lower bound is `gte` or else `gt`, an upper bound `lte` or else `lt`; `limit`
 * caps the entries read (absent: all); `reverse` reads from the upper end down.
 */
export interface LedgerRange {
  gt?: string
  gte?: string
  lt?: string
  lte?: string
  limit?: number
  reverse?: boolean
}

export interface LedgerIterator extends AsyncIterable<[string, Uint8Array]> {
  /** The next entry, or undefined at the end of the range. */
  next(): Promise<[string, Uint8Array] | undefined>
  /** Up to `size` next entries (none at the end of the range). */
  nextv(size: number): Promise<Array<[string, Uint8Array]>>
  close(): Promise<void>
}

export type LedgerWrite =
  | { type: 'put'; sublevel: LedgerSublevel; key: string; value: Uint8Array }
  | { type: 'del'; sublevel: LedgerSublevel; key: string }

export interface WriteOptions {
  /** Whether the write must be durable before it resolves (see LedgerStore.write). */
  sync: boolean
}

/**
 * Writes gathered to be applied at once (LedgerStore.write's semantics). put() copies the key and
 * value there and then, so the caller may reuse its buffers as soon as it returns.
 */
export interface LedgerBatch {
  put(sublevel: LedgerSublevel, key: string, value: Uint8Array): void
  del(sublevel: LedgerSublevel, key: string): void
  /** Applies the batch (once) and closes it. */
  write(options: WriteOptions): Promise<void>
  /** Drops the batch unwritten (nothing after a write). */
  close(): Promise<void>
}

/** The handle of sublevel `name` among `children`, made by `make` the first time: one handle per name. */
export function sublevelHandle<T extends LedgerSublevel>(children: Map<string, T>, name: string, make: () => T): T {
  let child = children.get(name)
  if (child === undefined) {
    child = make()
    children.set(name, child)
  }
  return child
}

/**
 * Refuses a sublevel name LevelDB's sublevels refuse: each byte above '"' (the character after
 * the separator '!', which bounds a sublevel's range) and below DEL.
 */
export function checkSublevelName(name: string): void {
  if (typeof name !== 'string' || name.length === 0) throw new InvalidSublevelNameError(String(name))
  for (let i = 0; i < name.length; i++) {
    const code = name.charCodeAt(i)
    if (code <= 0x22 || code >= 0x7f) throw new InvalidSublevelNameError(name)
  }
}
