import { hash } from 'node:crypto'
import type { Level } from 'level'
import { AbortedError, FleetError } from '../common/errors.js'
import type { HybridSigner } from '../identity/index.js'
import { decodeCanonical, encodeCanonical } from './cbor.js'
import { checkActionShape, checkEntryShape, type Entry } from './entry.js'
import { CborWriter } from './entry-encoder.js'
import { LEDGER_LIMITS } from './limits.js'
import { MalformedEntryError } from './errors.js'
import { checkEntryAgainstOntology, type Ontology } from './ontology.js'
import { MerkleFrontier } from './merkle.js'
import { parseCheckpoint, signCheckpoint } from './checkpoint.js'
import { toHex } from '../common/bytes.js'
import { RollbackDetectedError, LedgerWriteError } from './errors.js'

export interface TpmClockSource {
  readTpmClock (): Promise<{ clock: bigint, resetCount: number, restartCount: number }>
}

/** A monotonic counter the store is bound to (a TPM NV counter): it never goes back with the disk. */
export interface RollbackCounter {
  read (): Promise<bigint>
  /** Adds one; returns the new value. */
  increment (): Promise<bigint>
}

export interface FeedLedgerComponents {
  db: Level<string, Uint8Array>
  signer: HybridSigner
  clock: { now: () => number }
  tpmClock: TpmClockSource
  ontology: Ontology
  /** When given, every start binds the store to the counter's next value and advances it. */
  rollbackCounter?: RollbackCounter
}

export interface FeedLedgerInit {
  fleetId: Uint8Array
  /** This device's deviceId: the feed it writes, and the device its actions happen on. */
  feedId: string
  /** Checkpoint at least this often while entries arrive (default 250 ms)… */
  batchMs?: number
  /** …or as soon as this many entries wait (default 10,000). */
  batchEntries?: number
}

export interface AppendInput {
  type: string
  actor: { id: string, role: string }
  attest: Uint8Array | null
  body: Record<string, unknown>
}



interface Meta { size: number, head: Uint8Array, frontier: Uint8Array[], checkpointSize: number, checkpointTpm: { clock: bigint, resetCount: number, restartCount: number } | null, epoch: number }
function openSublevel (db: Level<string, Uint8Array>, name: string) {
  return db.sublevel<string, Uint8Array>(name, { valueEncoding: 'view' })
}
type Store = ReturnType<typeof openSublevel>

const seqKey = (seq: number): string => seq.toString(16).padStart(16, '0')

const ZERO_HASH = new Uint8Array(32)

/** SHA-256 into a fresh 32-byte array (a one-byte digest string is cheaper to produce than a Buffer). */
function sha256 (data: Uint8Array): Uint8Array {
  const digest = hash('sha256', data, 'binary')
  const out = new Uint8Array(32)
  for (let i = 0; i < 32; i++) out[i] = digest.charCodeAt(i)
  return out
}

/** 0x01 ‖ left ‖ right, reused for every node hash (RFC 9162 §2.1.1, as merkle.ts nodeHash). */
const nodeInput = new Uint8Array(65)
nodeInput[0] = 1

/** Appends a leaf hash to a frontier's roots in place (as MerkleFrontier.append, without copies). */
function appendLeaf (roots: Uint8Array[], size: number, leaf: Uint8Array): void {
  roots.push(leaf)
  for (let s = size; s % 2 === 1; s = Math.floor(s / 2)) {
    const right = roots.pop()!
    const left = roots.pop()!
    nodeInput.set(left, 1)
    nodeInput.set(right, 33)
    roots.push(sha256(nodeInput))
  }
}

/**
 * This device's own feed: entries appended durably, checkpoints signed in batches.
 *
 * append() MUST resolve only after the LevelDB batch holding the entry is written with sync; all
 * appends waiting at that moment share one batch (group commit). An entry is sealed when a signed
 * checkpoint covers it (whenSealed). The device never signs a checkpoint that does not extend the
 * last one it signed: the tree only grows, and size and TPM clock are checked against the last
 * checkpoint on start.
 */
export class FeedLedger {
  private readonly components: FeedLedgerComponents
  private readonly init: Required<FeedLedgerInit>
  private readonly entries: Store
  private readonly metaStore: Store
  private readonly checkpoints: Store
  private readonly entriesOption: { sublevel: Store }
  private readonly metaOption: { sublevel: Store }
  private meta: Meta = { size: 0, head: new Uint8Array(32), frontier: [], checkpointSize: 0, checkpointTpm: null, epoch: 1 }
  private frontier = new MerkleFrontier()
  private pending: Array<{ entry: Entry, resolve: (r: { seq: number, hash: Uint8Array }) => void, reject: (e: Error) => void }> = []
  private flushing: Promise<void> | undefined
  private checkpointing: Promise<void> | undefined
  private timer: NodeJS.Timeout | undefined
  private sealedWaiters: Array<{ seq: number, resolve: () => void }> = []
  private started = false
  /** Bytes per encoded entry in the last batch: sizes the next batch's buffer. */
  private entryBytesHint = 512
  private envelopeChecked = false

  constructor (components: FeedLedgerComponents, init: FeedLedgerInit) {
    this.components = components
    this.init = { batchMs: 250, batchEntries: 10_000, ...init }
    this.entries = openSublevel(components.db, 'entries')
    this.metaStore = openSublevel(components.db, 'meta')
    this.checkpoints = openSublevel(components.db, 'checkpoints')
    this.entriesOption = { sublevel: this.entries }
    this.metaOption = { sublevel: this.metaStore }
  }

  get size (): number { return this.meta.size }
  get feedId (): string { return this.init.feedId }
  /** Checks later appends against another ontology (an owner's update: it only adds actions). */
  useOntology (ontology: Ontology): void { this.components.ontology = ontology }
  get sealedSize (): number { return this.meta.checkpointSize }

  async start (): Promise<void> {
    if (this.started) return
    // Two records, each with one writer: 'state' (appends) and 'checkpoint' (the checkpointer).
    const state = await this.metaStore.get('state')
    if (state !== undefined) {
      const m = decodeCanonical(state, { maxBytes: 1 << 20 }) as { size: number, head: Uint8Array, frontier: Uint8Array[] }
      this.meta = { ...this.meta, size: m.size, head: m.head, frontier: m.frontier }
      this.frontier = new MerkleFrontier(this.meta.size, this.meta.frontier)
    }
    const signed = await this.metaStore.get('checkpoint')
    if (signed !== undefined) {
      const c = decodeCanonical(signed) as { size: number, tpm: [string, number, number], epoch: number }
      this.meta = { ...this.meta, checkpointSize: c.size, checkpointTpm: { clock: BigInt(c.tpm[0]), resetCount: c.tpm[1], restartCount: c.tpm[2] }, epoch: c.epoch }
      if (c.size > this.meta.size) throw new RollbackDetectedError(`this device signed a checkpoint of ${c.size} entries but the store holds ${this.meta.size}`)
    }
    // The newest checkpoint on disk must not be ahead of the tree, and the TPM must not have gone back.
    for await (const [, note] of this.checkpoints.iterator({ reverse: true, limit: 1 })) {
      const checkpoint = parseCheckpoint(Buffer.from(note).toString('utf8'))
      if (checkpoint.body.size > this.meta.size) throw new RollbackDetectedError(`a checkpoint covers ${checkpoint.body.size} entries but the store holds ${this.meta.size}`)
    }
    if (this.meta.checkpointTpm !== null) {
      const now = await this.components.tpmClock.readTpmClock()
      const last = this.meta.checkpointTpm
      if (now.resetCount < last.resetCount || (now.resetCount === last.resetCount && (now.restartCount < last.restartCount || (now.restartCount === last.restartCount && now.clock < last.clock)))) {
        throw new RollbackDetectedError(`TPM counters went back (resetCount ${last.resetCount} → ${now.resetCount}, clock ${last.clock} → ${now.clock})`)
      }
    }
    if (this.components.rollbackCounter !== undefined) await this.bindToCounter(this.components.rollbackCounter)
    this.started = true
    this.timer = setInterval(() => { void this.checkpoint().catch(() => undefined) }, this.init.batchMs)
  }

  /**
   * Whole-store rollback: the store keeps the counter value it was bound to at its last start.
   * Lower than the counter: this is an older copy of the store (a restored backup or disk image).
   * On each start the store is bound to the next value first, then the counter is advanced, so a
   * crash in between leaves the store exactly one ahead, which is accepted.
   */
  private async bindToCounter (counter: RollbackCounter): Promise<void> {
    const stored = await this.metaStore.get('rollback')
    const value = await counter.read()
    let bound: bigint | undefined
    if (stored !== undefined) {
      if (stored.length !== 8) throw new RollbackDetectedError('the store\'s counter binding is malformed')
      bound = Buffer.from(stored).readBigUInt64BE(0)
      if (bound < value) throw new RollbackDetectedError(`the store was bound to TPM counter value ${bound} but the counter is at ${value}: this is an older copy of the store`)
      if (bound > value + 1n) throw new RollbackDetectedError(`the store is bound to TPM counter value ${bound}, ahead of the counter (${value}): it was not made with this TPM`)
    } else if (this.meta.size > 0) {
      throw new RollbackDetectedError(`the store holds ${this.meta.size} entries but no TPM counter binding: it was not made here, or its binding was removed`)
    }
    const next = value + 1n
    if (bound !== next) await this.writeBinding(next)
    const advanced = await counter.increment()
    if (advanced !== next) await this.writeBinding(advanced)
  }

  private async writeBinding (value: bigint): Promise<void> {
    const bytes = Buffer.alloc(8)
    bytes.writeBigUInt64BE(value)
    await this.components.db.batch([{ type: 'put', key: 'rollback', value: new Uint8Array(bytes), sublevel: this.metaStore }], { sync: true })
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    clearInterval(this.timer)
    while (this.flushing !== undefined) await this.flushing
    await this.checkpoint()
  }

  /** Appends an action to this device's feed; resolves once it is durable. */
  append (input: AppendInput, options: { signal?: AbortSignal } = {}): Promise<{ seq: number, hash: Uint8Array }> {
    let draft: Entry
    try {
      if (!this.started) throw new FleetError('the ledger is not started', { code: 'ERR_LEDGER_STOPPED' })
      options.signal?.throwIfAborted()
      // Check shape and ontology now, so a bad action is refused before it is queued (encoding,
      // and with it the size cap, happens once, in the flush).
      // The checked draft is the entry itself: the flush fills in seq, prev and time.
      draft = this.entryFor(input, 0, ZERO_HASH, 0)
      // The fields from the ledger itself (fleet, feed, device) cannot change: once one entry
      // passed the whole shape check, only the action's own fields need checking.
      if (this.envelopeChecked) checkActionShape(draft)
      else {
        checkEntryShape(draft)
        this.envelopeChecked = true
      }
      checkEntryAgainstOntology(draft, this.components.ontology)
    } catch (err) {
      return Promise.reject(err)
    }
    return new Promise((resolve, reject) => {
      this.pending.push({ entry: draft, resolve, reject })
      this.flushing ??= this.flush()
    })
  }

  /** Resolves when a signed checkpoint covers entry `seq`. */
  async whenSealed (seq: number, options: { signal?: AbortSignal } = {}): Promise<void> {
    if (seq < this.meta.checkpointSize) return
    options.signal?.throwIfAborted()
    await new Promise<void>((resolve, reject) => {
      const waiter = { seq, resolve: () => { options.signal?.removeEventListener('abort', onAbort); resolve() } }
      const onAbort = (): void => {
        this.sealedWaiters = this.sealedWaiters.filter((w) => w !== waiter)
        reject(new AbortedError())
      }
      options.signal?.addEventListener('abort', onAbort, { once: true })
      this.sealedWaiters.push(waiter)
    })
  }

  async getEntry (seq: number): Promise<Uint8Array | undefined> {
    return await this.entries.get(seqKey(seq))
  }

  async latestCheckpoint (): Promise<string | undefined> {
    for await (const [, note] of this.checkpoints.iterator({ reverse: true, limit: 1 })) return Buffer.from(note).toString('utf8')
    return undefined
  }

  private entryFor (input: AppendInput, seq: number, prev: Uint8Array, time: number): Entry {
    return { v: 1, fleet: this.init.fleetId, feed: this.init.feedId, seq, prev, time, type: input.type, actor: input.actor, device: this.init.feedId, attest: input.attest, body: input.body }
  }

  private stateBytes (meta: Meta): Uint8Array {
    return encodeCanonical({ size: meta.size, head: meta.head, frontier: meta.frontier })
  }

  /**
   * Writes batches while appends wait. `flushing` is cleared in the same synchronous step that
   * finds the queue empty, so an append queued after that starts a new flush.
   */
  private async flush (): Promise<void> {
    // Start after the current task's synchronous appends have queued, so they share the batch.
    await Promise.resolve()
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.length <= this.init.batchEntries ? this.pending : this.pending.splice(0, this.init.batchEntries)
        if (batch === this.pending) this.pending = []
        try {
          await this.writeBatch(batch)
        } catch (err) {
          // Settles whatever the batch left open (settling a settled append does nothing).
          for (const item of batch) item.reject(err as Error)
        }
      }
    } finally {
      this.flushing = undefined
    }
  }

  /** Encodes, hashes and durably writes one batch (group commit), then settles its appends. */
  private async writeBatch (batch: FeedLedger['pending']): Promise<void> {
    const keys: string[] = []
    const values: Uint8Array[] = []
    const results: Array<{ seq: number, hash: Uint8Array }> = []
    const accepted: typeof batch = []
    const time = this.components.clock.now()
    const roots = this.frontier.roots.slice()
    let size = this.frontier.size
    let head = this.meta.head
    // All entries of the batch go into one buffer, each after a 0x00 byte so that the leaf hash
    // input (0x00 ‖ entry) is a view too; the views stay valid when the buffer grows.
    const writer = new CborWriter(batch.length * (this.entryBytesHint + 1) + 1024)
    for (const item of batch) {
      const start = writer.pos
      try {
        writer.byte(0)
        const entry = item.entry
        entry.seq = size
        entry.prev = head
        entry.time = time
        writer.entry(entry)
        if (writer.pos - start - 1 > LEDGER_LIMITS.maxEntryBytes) throw new MalformedEntryError(`encodes to ${writer.pos - start - 1} bytes, over ${LEDGER_LIMITS.maxEntryBytes}`)
      } catch (err) {
        writer.pos = start
        item.reject(err as Error)
        continue
      }
      const leafInput = writer.subarray(start, writer.pos)
      const bytes = leafInput.subarray(1)
      const digest = sha256(bytes)
      keys.push(seqKey(size))
      values.push(bytes)
      results.push({ seq: size, hash: digest })
      accepted.push(item)
      appendLeaf(roots, size, sha256(leafInput))
      size++
      head = digest
    }
    if (accepted.length === 0) return
    this.entryBytesHint = Math.ceil(writer.pos / accepted.length)
    const frontier = new MerkleFrontier(size, roots)
    const meta: Meta = { ...this.meta, size, head, frontier: roots }
    // A chained batch hands each operation to LevelDB directly (no per-operation objects).
    let write: ReturnType<Level<string, Uint8Array>['batch']> | undefined
    try {
      write = this.components.db.batch()
      for (let i = 0; i < keys.length; i++) write.put(keys[i]!, values[i]!, this.entriesOption)
      write.put('state', this.stateBytes(meta), this.metaOption)
      await write.write({ sync: true })
    } catch (err) {
      await write?.close().catch(() => undefined)
      for (const item of accepted) item.reject(new LedgerWriteError(err))
      return
    }
    this.frontier = frontier
    this.meta = meta
    for (let i = 0; i < accepted.length; i++) accepted[i]!.resolve(results[i]!)
    if (this.meta.size - this.meta.checkpointSize >= this.init.batchEntries) void this.checkpoint().catch(() => undefined)
  }

  /** Signs one checkpoint over everything appended since the last one. */
  async checkpoint (): Promise<void> {
    // One already running may have started before the latest appends: wait for it, then cover
    // the rest, so a caller's entries are sealed when this resolves.
    while (this.checkpointing !== undefined) await this.checkpointing
    if (this.frontier.size <= this.meta.checkpointSize) return
    this.checkpointing = (async () => {
      const size = this.frontier.size
      if (size === 0 || size <= this.meta.checkpointSize) return
      const root = this.frontier.root()
      const tpm = await this.components.tpmClock.readTpmClock()
      const note = await signCheckpoint({
        origin: `fleet/${toHex(this.init.fleetId)}/${this.init.feedId}`, size, root, epoch: this.meta.epoch, tpm, peers: []
      }, this.components.signer, this.init.feedId)
      const record = encodeCanonical({ size, tpm: [tpm.clock.toString(), tpm.resetCount, tpm.restartCount], epoch: this.meta.epoch })
      await this.components.db.batch([
        { type: 'put', key: seqKey(size), value: new Uint8Array(Buffer.from(note)), sublevel: this.checkpoints },
        { type: 'put', key: 'checkpoint', value: record, sublevel: this.metaStore }
      ], { sync: true })
      this.meta = { ...this.meta, checkpointSize: size, checkpointTpm: tpm }
      const ready = this.sealedWaiters.filter((w) => w.seq < size)
      this.sealedWaiters = this.sealedWaiters.filter((w) => w.seq >= size)
      for (const waiter of ready) waiter.resolve()
    })().finally(() => { this.checkpointing = undefined })
    return await this.checkpointing
  }
}
