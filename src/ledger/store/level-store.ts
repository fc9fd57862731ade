import { Level } from 'level'
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
  LedgerStoreClosedError,
  LedgerStoreLockedError,
  LedgerStoreWriteFailedError
} from './errors.js'
import { STORE_LIMITS } from '../limits.js'

/**
 * How a ledger's LevelDB is opened. A 16 MiB write buffer (LevelDB's default is 4 MiB) means a
 * quarter as many level-0 tables under a burst of appends, so synced writes are seldom held up
 * by compaction: ledger-append measured about 10% more appends/s. The memory is taken only while
 * the buffer fills; an idle agent's buffer is nearly empty.
 */
export const LEVEL_OPTIONS = { valueEncoding: 'view', writeBufferSize: 16 * 1024 * 1024 } as const

/** Each sublevel as the ledger has always opened it: utf8 keys, byte values. */
const SUBLEVEL_OPTIONS = { valueEncoding: 'view' } as const

/** What this store uses of a LevelDB database or sublevel (abstract-level's API). */
interface LevelNode {
  sublevel(name: string, options: typeof SUBLEVEL_OPTIONS): LevelNode
  get(key: string): Promise<Uint8Array | undefined>
  getMany(keys: string[]): Promise<Array<Uint8Array | undefined>>
  iterator(range: LedgerRange): LedgerIterator
  keys(range: LedgerRange): AsyncIterable<string>
  values(range: LedgerRange): AsyncIterable<Uint8Array>
}

interface LevelChainedBatch {
  put(key: string, value: Uint8Array, options: { sublevel: LevelNode }): void
  del(key: string, options: { sublevel: LevelNode }): void
  write(options: WriteOptions): Promise<void>
  close(): Promise<void>
}

/**
 * The range as abstract-level should see it: only the bounds that are set (it would read an
 * explicit `gte: undefined` as the key 'undefined').
 */
function levelRange(range: LedgerRange): LedgerRange {
  const out: LedgerRange = {}
  if (range.gt !== undefined) out.gt = range.gt
  if (range.gte !== undefined) out.gte = range.gte
  if (range.lt !== undefined) out.lt = range.lt
  if (range.lte !== undefined) out.lte = range.lte
  if (range.limit !== undefined) out.limit = range.limit
  if (range.reverse !== undefined) out.reverse = range.reverse
  return out
}

class LevelSublevel implements LedgerSublevel {
  readonly path: readonly string[]
  readonly store: LevelLedgerStore
  private readonly parent: LevelSublevel | undefined
  private readonly children = new Map<string, LevelSublevel>()
  /** The abstract-level sublevel and its batch option, of the database `generation` of the store. */
  private node: { generation: number; level: LevelNode; option: { sublevel: LevelNode } } | undefined

  constructor(store: LevelLedgerStore, parent: LevelSublevel | undefined, name: string) {
    checkSublevelName(name)
    this.store = store
    this.parent = parent
    this.path = [...(parent?.path ?? []), name]
  }

  /**
   * The abstract-level sublevel, made when first used after the store opened (a handle may be
   * taken before, and a sublevel of a database closed since does not reopen with it).
   */
  level(): LevelNode {
    return this.made().level
  }

  /** The option that puts an operation of a root batch in this sublevel (made once: the append path is hot). */
  batchOption(): { sublevel: LevelNode } {
    return this.made().option
  }

  private made(): { level: LevelNode; option: { sublevel: LevelNode } } {
    const generation = this.store.generation
    if (this.node?.generation !== generation) {
      const parent = this.parent?.level() ?? this.store.root()
      const level = parent.sublevel(this.path[this.path.length - 1]!, SUBLEVEL_OPTIONS)
      this.node = { generation, level, option: { sublevel: level } }
    }
    return this.node
  }

  sublevel(name: string): LedgerSublevel {
    return sublevelHandle(this.children, name, () => new LevelSublevel(this.store, this, name))
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    this.store.checkOpen()
    return await this.level().get(key)
  }

  async getMany(keys: readonly string[]): Promise<Array<Uint8Array | undefined>> {
    this.store.checkOpen()
    return await this.level().getMany([...keys])
  }

  iterator(range: LedgerRange = {}): LedgerIterator {
    this.store.checkOpen()
    return this.level().iterator(levelRange(range))
  }

  keys(range: LedgerRange = {}): AsyncIterable<string> {
    this.store.checkOpen()
    return this.level().keys(levelRange(range))
  }

  values(range: LedgerRange = {}): AsyncIterable<Uint8Array> {
    this.store.checkOpen()
    return this.level().values(levelRange(range))
  }
}

class LevelBatch implements LedgerBatch {
  private readonly store: LevelLedgerStore
  private readonly inner: LevelChainedBatch
  private done = false

  constructor(store: LevelLedgerStore, inner: LevelChainedBatch) {
    this.store = store
    this.inner = inner
  }

  put(sublevel: LedgerSublevel, key: string, value: Uint8Array): void {
    if (this.done) throw new LedgerBatchClosedError()
    // LevelDB copies the key and value into its write batch here.
    this.inner.put(key, value, this.store.own(sublevel).batchOption())
  }

  del(sublevel: LedgerSublevel, key: string): void {
    if (this.done) throw new LedgerBatchClosedError()
    this.inner.del(key, this.store.own(sublevel).batchOption())
  }

  async write(options: WriteOptions): Promise<void> {
    if (this.done) throw new LedgerBatchClosedError()
    this.done = true
    this.store.checkWritable()
    const started = performance.now()
    await this.inner.write({ sync: options.sync }).catch((err: unknown) => this.store.writeFailed(err))
    if (options.sync) this.store.synced(performance.now() - started)
  }

  async close(): Promise<void> {
    if (this.done) return
    this.done = true
    await this.inner.close()
  }
}

/**
 * A ledger store in LevelDB at `location` (the default store): opened with LEVEL_OPTIONS, each
 * sublevel with utf8 keys and byte values, the layout every store on disk was written in.
 */
export class LevelLedgerStore implements LedgerStore {
  readonly location: string
  private db: Level<string, Uint8Array> | undefined
  /** @internal Counts the databases opened: a sublevel handle remakes its abstract-level sublevel for each. */
  generation = 0
  private readonly children = new Map<string, LevelSublevel>()

  constructor(location: string) {
    this.location = location
  }

  get status(): LedgerStore['status'] {
    return this.db?.status ?? 'closed'
  }

  async open(): Promise<void> {
    // Made here, not in the constructor: abstract-level opens a database as soon as it is made.
    if (this.db?.status === 'closing') await this.db.close()
    if (this.db === undefined || this.db.status === 'closed') {
      this.db = new Level<string, Uint8Array>(this.location, LEVEL_OPTIONS)
      this.generation++
      // A new database replays the log up to its last whole record and writes a new one.
      this.failedWith = undefined
    }
    try {
      await this.db.open()
    } catch (err) {
      const code = (err as { cause?: { code?: string } }).cause?.code
      if (code === 'LEVEL_LOCKED') throw new LedgerStoreLockedError(this.location, err)
      throw err
    }
  }

  async close(): Promise<void> {
    await this.db?.close()
  }

  sublevel(name: string): LedgerSublevel {
    return sublevelHandle(this.children, name, () => new LevelSublevel(this, undefined, name))
  }

  async write(writes: readonly LedgerWrite[], options: WriteOptions): Promise<void> {
    this.checkOpen()
    // Every sublevel is checked before anything is handed to LevelDB: a bad write applies nothing.
    const ops = writes.map((op) =>
      op.type === 'put'
        ? { type: 'put' as const, key: op.key, value: op.value, sublevel: this.own(op.sublevel).level() }
        : { type: 'del' as const, key: op.key, sublevel: this.own(op.sublevel).level() }
    )
    this.checkWritable()
    const started = performance.now()
    await this.db!.batch(ops as never, { sync: options.sync }).catch((err: unknown) => this.writeFailed(err))
    if (options.sync) this.synced(performance.now() - started)
  }

  /**
   * Told of each synced write that took STORE_LIMITS.slowSyncMs or longer, with how long (ms): a
   * disk this slow holds every append up for as long, and the operator should hear of it.
   */
  onSlowSync: ((ms: number) => void) | undefined

  /** @internal A synced write took `ms`. */
  synced(ms: number): void {
    if (ms >= STORE_LIMITS.slowSyncMs) this.onSlowSync?.(ms)
  }

  /**
   * Told once, with the failed write's error, when a write fails: from then on every write throws
   * LedgerStoreWriteFailedError until the store is closed and opened again (see there for why).
   */
  onWriteFailed: ((err: unknown) => void) | undefined
  private failedWith: unknown

  /** @internal Throws LedgerStoreWriteFailedError after a failed write. */
  checkWritable(): void {
    if (this.failedWith !== undefined) throw new LedgerStoreWriteFailedError(this.location, this.failedWith)
  }

  /** @internal Records a failed write (the first one is told to onWriteFailed) and rethrows its error. */
  writeFailed(err: unknown): never {
    // An I/O error (ENOSPC, EIO) leaves the log in doubt; a refusal before writing (a closed database) does not.
    const code = (err as { code?: unknown })?.code
    if (this.failedWith === undefined && (code === 'LEVEL_IO_ERROR' || code === 'LEVEL_CORRUPTION')) {
      this.failedWith = err
      this.onWriteFailed?.(err)
    }
    throw err
  }

  batch(): LedgerBatch {
    this.checkOpen()
    return new LevelBatch(this, this.db!.batch() as unknown as LevelChainedBatch)
  }

  /** @internal The database, as the root of its sublevels. */
  root(): LevelNode {
    if (this.db === undefined) throw new LedgerStoreClosedError('closed')
    return this.db as unknown as LevelNode
  }

  /** @internal Throws unless the store is open. */
  checkOpen(): void {
    const status = this.status
    if (status !== 'open') throw new LedgerStoreClosedError(status)
  }

  /** @internal `sublevel` as one of this store's, or ForeignSublevelError. */
  own(sublevel: LedgerSublevel): LevelSublevel {
    if (!(sublevel instanceof LevelSublevel) || sublevel.store !== this) throw new ForeignSublevelError(sublevel.path)
    return sublevel
  }
}
