import type { Level } from 'level'
import { AbortedError, FleetError } from '../common/errors.js'
import type { HybridSigner } from '../identity/index.js'
import { decodeCanonical, encodeCanonical } from './cbor.js'
import { checkEntryShape, entryHash, type Entry } from './entry.js'
import { LEDGER_LIMITS } from './limits.js'
import { MalformedEntryError } from './errors.js'
import { checkEntryAgainstOntology, type Ontology } from './ontology.js'
import { leafHash, MerkleFrontier } from './merkle.js'
import { parseCheckpoint, signCheckpoint } from './checkpoint.js'
import { toHex } from '../common/bytes.js'
import { RollbackDetectedError, LedgerWriteError } from './errors.js'

export interface TpmClockSource {
  readTpmClock (): Promise<{ clock: bigint, resetCount: number, restartCount: number }>
}

export interface FeedLedgerComponents {
  db: Level<string, Uint8Array>
  signer: HybridSigner
  clock: { now: () => number }
  tpmClock: TpmClockSource
  ontology: Ontology
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
  private meta: Meta = { size: 0, head: new Uint8Array(32), frontier: [], checkpointSize: 0, checkpointTpm: null, epoch: 1 }
  private frontier = new MerkleFrontier()
  private pending: Array<{ input: AppendInput, resolve: (r: { seq: number, hash: Uint8Array }) => void, reject: (e: Error) => void }> = []
  private flushing: Promise<void> | undefined
  private checkpointing: Promise<void> | undefined
  private timer: NodeJS.Timeout | undefined
  private sealedWaiters: Array<{ seq: number, resolve: () => void }> = []
  private started = false

  constructor (components: FeedLedgerComponents, init: FeedLedgerInit) {
    this.components = components
    this.init = { batchMs: 250, batchEntries: 10_000, ...init }
    this.entries = openSublevel(components.db, 'entries')
    this.metaStore = openSublevel(components.db, 'meta')
    this.checkpoints = openSublevel(components.db, 'checkpoints')
  }

  get size (): number { return this.meta.size }
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
    this.started = true
    this.timer = setInterval(() => { void this.checkpoint().catch(() => undefined) }, this.init.batchMs)
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    clearInterval(this.timer)
    await this.flushing
    await this.checkpoint()
  }

  /** Appends an action to this device's feed; resolves once it is durable. */
  async append (input: AppendInput, options: { signal?: AbortSignal } = {}): Promise<{ seq: number, hash: Uint8Array }> {
    if (!this.started) throw new FleetError('the ledger is not started', { code: 'ERR_LEDGER_STOPPED' })
    options.signal?.throwIfAborted()
    // Check shape and ontology now, so a bad action is refused before it is queued (encoding,
    // and with it the size cap, happens once, in the flush).
    const draft = this.entryFor(input, 0, new Uint8Array(32), 0)
    checkEntryShape(draft)
    checkEntryAgainstOntology(draft, this.components.ontology)
    return await new Promise((resolve, reject) => {
      this.pending.push({ input, resolve, reject })
      this.flushing ??= this.flush().finally(() => { this.flushing = undefined })
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

  private async flush (): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.init.batchEntries)
      let frontier = this.frontier
      let head = this.meta.head
      const ops: Array<{ type: 'put', key: string, value: Uint8Array, sublevel: Store }> = []
      const results: Array<{ seq: number, hash: Uint8Array }> = []
      const time = this.components.clock.now()
      const accepted: typeof batch = []
      for (const item of batch) {
        let bytes: Uint8Array
        try {
          bytes = encodeCanonical(this.entryFor(item.input, frontier.size, head, time))
          if (bytes.length > LEDGER_LIMITS.maxEntryBytes) throw new MalformedEntryError(`encodes to ${bytes.length} bytes, over ${LEDGER_LIMITS.maxEntryBytes}`)
        } catch (err) {
          item.reject(err as Error)
          continue
        }
        const hash = entryHash(bytes)
        ops.push({ type: 'put', key: seqKey(frontier.size), value: bytes, sublevel: this.entries })
        results.push({ seq: frontier.size, hash })
        accepted.push(item)
        frontier = frontier.append(leafHash(bytes))
        head = hash
      }
      if (accepted.length === 0) continue
      const meta: Meta = { ...this.meta, size: frontier.size, head, frontier: [...frontier.roots] }
      try {
        await this.components.db.batch([...ops, { type: 'put', key: 'state', value: this.stateBytes(meta), sublevel: this.metaStore }], { sync: true })
      } catch (err) {
        for (const item of accepted) item.reject(new LedgerWriteError(err))
        continue
      }
      this.frontier = frontier
      this.meta = meta
      accepted.forEach((item, i) => item.resolve(results[i]!))
      if (this.meta.size - this.meta.checkpointSize >= this.init.batchEntries) void this.checkpoint().catch(() => undefined)
    }
  }

  /** Signs one checkpoint over everything appended since the last one. */
  async checkpoint (): Promise<void> {
    if (this.checkpointing !== undefined) return await this.checkpointing
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
