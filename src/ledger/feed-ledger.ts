import { AbortedError, FleetError, toHex } from '../common/index.js'
import type { HybridSigner } from '../identity/index.js'
import { decodeCanonical, encodeCanonical } from '../codec/index.js'
import { checkActionShape, checkEntryShape, type Entry } from './entry.js'
import { checkEntryAgainstOntology, type Ontology } from './ontology.js'
import { requiresActorProof, verifyActorProofs, type ActorDirectory } from './actor-proof.js'
import { MerkleFrontier } from './merkle.js'
import { BatchEncoder, type FeedTip, type PendingAppend, type PreparedBatch } from './append-batch.js'
import { parseCheckpoint, requireCurrentFormat, signCheckpoint } from './checkpoint.js'
import { RollbackDetectedError, ledgerWriteError } from './errors.js'
import { EntryRuns, seqKey } from './entry-runs.js'
import { feedSublevels, type LedgerStore, type LedgerSublevel } from './store/index.js'
import { nodeCryptoHasher, type Hasher } from './hasher.js'

export interface TpmClockSource {
  readTpmClock(): Promise<{ clock: bigint; resetCount: number; restartCount: number }>
}

/** A monotonic counter the store is bound to (a TPM NV counter): it never goes back with the disk. */
export interface RollbackCounter {
  read(): Promise<bigint>
  /** Adds one; returns the new value. */
  increment(): Promise<bigint>
}

export interface FeedLedgerComponents {
  /** Where the feed lies (its sublevels at the store's root: feedSublevels); opened and closed by the caller. */
  store: LedgerStore
  signer: HybridSigner
  clock: { now: () => number }
  tpmClock: TpmClockSource
  ontology: Ontology
  /** When given, every start binds the store to the counter's next value and advances it. */
  rollbackCounter?: RollbackCounter
  /** The batch hashing of the append path (hasher.ts); default nodeCryptoHasher. */
  hasher?: Hasher
  /**
   * The fleet's enrolled actors: an operator's or auditor's action is appended only with a proof
   * their enrolled key made (actor-proof.ts). Without it, such actions are refused.
   */
  actors?: ActorDirectory
}

export interface FeedLedgerInit {
  fleetId: Uint8Array
  /** This device's deviceId: the feed it writes, and the device its actions happen on. */
  feedId: string
  /** Checkpoint at least this often while entries arrive (default 250 ms)… */
  batchMs?: number
  /** …or as soon as this many entries wait (default 10,000). */
  batchEntries?: number
  /**
   * Entries appended as routine wait this long at most for a checkpoint (default 30 s), unless
   * another entry or a caller of whenSealed or checkpoint() has one signed sooner.
   */
  routineBatchMs?: number
}

export interface AppendInput {
  type: string
  actor: { id: string; role: string }
  attest: Uint8Array | null
  body: Record<string, unknown>
  /**
   * The actor's own hardware signature of this action (an encoded ActorProof, actor-proof.ts):
   * with it the entry is written as version 2. Whoever appends checks it first (verifyActorProof).
   */
  proof?: Uint8Array
}

interface Meta {
  size: number
  head: Uint8Array
  frontier: Uint8Array[]
  checkpointSize: number
  checkpointTpm: { clock: bigint; resetCount: number; restartCount: number } | null
  epoch: number
}

const ZERO_HASH = new Uint8Array(32)

/**
 * Appends per store batch. Smaller batches let the encoding of one overlap the write of the
 * one before (see flush), but each costs one more sync: on the ledger-append bench (waves of
 * 2000) 1000 was as fast as 2000 or faster, and 500 slower.
 */
const WRITE_CHUNK = 1000

/**
 * This device's own feed: entries appended durably, checkpoints signed in batches.
 *
 * append() MUST resolve only after the store batch holding the entry is written with sync; the
 * appends waiting at that moment share batches of up to WRITE_CHUNK (group commit). An entry is
 * sealed when a signed checkpoint covers it (whenSealed). The device never signs a checkpoint that
 * does not extend the last one it signed: the tree only grows, and size and TPM clock are checked
 * against the last checkpoint on start.
 */
export class FeedLedger {
  private readonly components: FeedLedgerComponents
  private readonly init: Required<FeedLedgerInit>
  private readonly entries: EntryRuns
  private readonly entriesSublevel: LedgerSublevel
  private readonly metaSublevel: LedgerSublevel
  private readonly checkpoints: LedgerSublevel
  private meta: Meta = {
    size: 0,
    head: new Uint8Array(32),
    frontier: [],
    checkpointSize: 0,
    checkpointTpm: null,
    epoch: 1
  }
  private frontier = new MerkleFrontier()
  private pending: PendingAppend[] = []
  private flushing: Promise<void> | undefined
  private checkpointing: Promise<void> | undefined
  private timer: NodeJS.Timeout | undefined
  private sealedWaiters: Array<{ seq: number; resolve: () => void; reject: (err: unknown) => void }> = []
  /** An entry that is not routine waits for a checkpoint. */
  private urgent = false
  /** When the oldest routine entry that waits for a checkpoint was written (unknown after a restart or a failed checkpoint: due now). */
  private routineSince: number | undefined
  private started = false
  private envelopeChecked = false
  /** Actor proofs are checked one at a time, in append order: the tail of that chain, and the last place given. */
  private actorChecks: Promise<void> = Promise.resolve()
  private actorCheckedSeq = -1
  private readonly encoder: BatchEncoder
  /** How a prepared batch is staged: entries and the state record, in this ledger's sublevels. */
  private readonly stage = {
    open: () => this.components.store.batch(),
    put: (write: PreparedBatch['write'], key: string, run: Uint8Array) => {
      write.put(this.entriesSublevel, key, run)
    },
    putState: (write: PreparedBatch['write'], state: Uint8Array) => {
      write.put(this.metaSublevel, 'state', state)
    },
    failed: (err: unknown) => ledgerWriteError(err)
  }

  constructor(components: FeedLedgerComponents, init: FeedLedgerInit) {
    this.components = components
    this.init = {
      fleetId: init.fleetId,
      feedId: init.feedId,
      batchMs: init.batchMs ?? 250,
      batchEntries: init.batchEntries ?? 10_000,
      routineBatchMs: init.routineBatchMs ?? 30_000
    }
    this.encoder = new BatchEncoder(components.hasher ?? nodeCryptoHasher)
    const { entries, meta, checkpoints } = feedSublevels(components.store)
    this.entries = new EntryRuns(entries)
    this.entriesSublevel = entries
    this.metaSublevel = meta
    this.checkpoints = checkpoints
  }

  get size(): number {
    return this.meta.size
  }
  get feedId(): string {
    return this.init.feedId
  }
  /** Checks later appends against another ontology (an owner's update: it only adds actions). */
  useOntology(ontology: Ontology): void {
    this.components.ontology = ontology
  }

  /** Checks later appends' actor proofs against these enrolled actors. */
  useActors(actors: ActorDirectory): void {
    this.components.actors = actors
  }
  get sealedSize(): number {
    return this.meta.checkpointSize
  }
  /** The epoch this feed's checkpoints are signed in (1 unless the owner authorised another). */
  get epoch(): number {
    return this.meta.epoch
  }

  /**
   * Signs the checkpoints from now on in `epoch`: a new history of this feed that the owner
   * authorised (device.new_epoch). The caller MUST have checked that this store holds the history
   * the owner named (its root at the fork point) and signed nothing past that point. Epochs only
   * go up; the choice is durable when this resolves.
   */
  async startEpoch(epoch: number): Promise<void> {
    if (!Number.isSafeInteger(epoch) || epoch <= this.meta.epoch) return
    const value = encodeCanonical({ epoch })
    await this.components.store.write([{ type: 'put', sublevel: this.metaSublevel, key: 'epoch', value }], {
      sync: true
    })
    this.meta = { ...this.meta, epoch }
  }

  async start(): Promise<void> {
    if (this.started) return
    // Two records, each with one writer: 'state' (appends) and 'checkpoint' (the checkpointer).
    const state = await this.metaSublevel.get('state')
    if (state !== undefined) {
      const m = decodeCanonical(state, { maxBytes: 1 << 20 }) as {
        size: number
        head: Uint8Array
        frontier: Uint8Array[]
      }
      this.meta = { ...this.meta, size: m.size, head: m.head, frontier: m.frontier }
      this.frontier = new MerkleFrontier(this.meta.size, this.meta.frontier)
    }
    const signed = await this.metaSublevel.get('checkpoint')
    if (signed !== undefined) {
      const c = decodeCanonical(signed) as { size: number; tpm: [string, number, number]; epoch: number }
      this.meta = {
        ...this.meta,
        checkpointSize: c.size,
        checkpointTpm: { clock: BigInt(c.tpm[0]), resetCount: c.tpm[1], restartCount: c.tpm[2] },
        epoch: c.epoch
      }
      if (c.size > this.meta.size)
        throw new RollbackDetectedError(
          `this device signed a checkpoint of ${c.size} entries but the store holds ${this.meta.size}`
        )
    }
    const epoch = await this.metaSublevel.get('epoch')
    if (epoch !== undefined)
      this.meta = {
        ...this.meta,
        epoch: Math.max(this.meta.epoch, (decodeCanonical(epoch) as { epoch: number }).epoch)
      }
    // The newest checkpoint on disk must not be ahead of the tree, and the TPM must not have gone back.
    for await (const [, note] of this.checkpoints.iterator({ reverse: true, limit: 1 })) {
      const checkpoint = parseCheckpoint(Buffer.from(note).toString('utf8'))
      // A store written by an older checkpoint format is named as such, not taken for a damaged one.
      requireCurrentFormat(checkpoint, { name: this.init.feedId, key: this.components.signer.publicKey })
      if (checkpoint.body.size > this.meta.size)
        throw new RollbackDetectedError(
          `a checkpoint covers ${checkpoint.body.size} entries but the store holds ${this.meta.size}`
        )
    }
    if (this.meta.checkpointTpm !== null) {
      const now = await this.components.tpmClock.readTpmClock()
      const last = this.meta.checkpointTpm
      if (
        now.resetCount < last.resetCount ||
        (now.resetCount === last.resetCount &&
          (now.restartCount < last.restartCount || (now.restartCount === last.restartCount && now.clock < last.clock)))
      ) {
        throw new RollbackDetectedError(
          `TPM counters went back (resetCount ${last.resetCount} → ${now.resetCount}, clock ${last.clock} → ${now.clock})`
        )
      }
    }
    if (this.components.rollbackCounter !== undefined) await this.bindToCounter(this.components.rollbackCounter)
    this.started = true
    this.timer = setInterval(() => {
      if (this.due()) void this.checkpoint().catch(() => undefined)
    }, this.init.batchMs)
  }

  /** Whether the entries written since the last checkpoint should be signed now. */
  private due(): boolean {
    if (this.frontier.size <= this.meta.checkpointSize) return false
    return (
      this.urgent ||
      this.sealedWaiters.length > 0 ||
      this.components.clock.now() - (this.routineSince ?? 0) >= this.init.routineBatchMs
    )
  }

  /**
   * Whole-store rollback: the store keeps the counter value it was bound to at its last start.
   * Lower than the counter: this is an older copy of the store (a restored backup or disk image).
   * On each start the store is bound to the next value first, then the counter is advanced, so a
   * crash in between leaves the store exactly one ahead, which is accepted.
   */
  private async bindToCounter(counter: RollbackCounter): Promise<void> {
    const stored = await this.metaSublevel.get('rollback')
    const value = await counter.read()
    let bound: bigint | undefined
    if (stored !== undefined) {
      if (stored.length !== 8) throw new RollbackDetectedError("the store's counter binding is malformed")
      bound = Buffer.from(stored).readBigUInt64BE(0)
      if (bound < value)
        throw new RollbackDetectedError(
          `the store was bound to TPM counter value ${bound} but the counter is at ${value}: this is an older copy of the store`
        )
      if (bound > value + 1n)
        throw new RollbackDetectedError(
          `the store is bound to TPM counter value ${bound}, ahead of the counter (${value}): it was not made with this TPM`
        )
    } else if (this.meta.size > 0) {
      throw new RollbackDetectedError(
        `the store holds ${this.meta.size} entries but no TPM counter binding: it was not made here, or its binding was removed`
      )
    }
    const next = value + 1n
    if (bound !== next) await this.writeBinding(next)
    const advanced = await counter.increment()
    if (advanced !== next) await this.writeBinding(advanced)
  }

  private async writeBinding(value: bigint): Promise<void> {
    const bytes = Buffer.alloc(8)
    bytes.writeBigUInt64BE(value)
    const binding = new Uint8Array(bytes)
    await this.components.store.write([{ type: 'put', sublevel: this.metaSublevel, key: 'rollback', value: binding }], {
      sync: true
    })
  }

  async stop(): Promise<void> {
    if (!this.started) return
    this.started = false
    clearInterval(this.timer)
    while (this.flushing !== undefined) await this.flushing
    await this.checkpoint()
  }

  /**
   * Appends an action to this device's feed; resolves once it is durable. It is sealed (a signed
   * checkpoint covers it) within batchMs, or, when `routine`, within routineBatchMs: a fleet
   * records a routine entry per peer and attestation, and every checkpoint goes to every peer.
   */
  append(
    input: AppendInput,
    options: { signal?: AbortSignal; routine?: boolean } = {}
  ): Promise<{ seq: number; hash: Uint8Array }> {
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
    const queue = (): Promise<{ seq: number; hash: Uint8Array }> =>
      new Promise((resolve, reject) => {
        this.pending.push({ entry: draft, resolve, reject, routine: options.routine === true })
        this.flushing ??= this.flush()
      })
    if (!requiresActorProof(draft.actor.role) && draft.proof === undefined) return queue()
    // An actor's action: its proof is checked (one at a time, so WebAuthn counters are judged in
    // the order the entries take) against the time it gets now, then it is queued.
    // The chain waits for the check and the queueing only, not for the write: checked actions
    // still share batches.
    const queued = this.actorChecks.then(async () => {
      options.signal?.throwIfAborted()
      // About where it will be (a batch may be in flight): for messages only, the check is `appending`.
      const seq = Math.max(this.meta.size + this.pending.length, this.actorCheckedSeq + 1)
      this.actorCheckedSeq = seq
      await verifyActorProofs([{ ...draft, seq, time: this.components.clock.now() }], this.components.actors, {
        appending: true
      })
      return { written: queue() }
    })
    this.actorChecks = queued.then(
      () => undefined,
      () => undefined
    )
    return queued.then(async ({ written }) => await written)
  }

  /**
   * Resolves when a signed checkpoint covers entry `seq`. Rejects with the signer's error when the
   * checkpoint that was to cover it could not be signed (a TPM that stopped answering): the entry
   * is stored, but not acknowledged; a later checkpoint seals it.
   */
  async whenSealed(seq: number, options: { signal?: AbortSignal } = {}): Promise<void> {
    if (seq < this.meta.checkpointSize) return
    options.signal?.throwIfAborted()
    await new Promise<void>((resolve, reject) => {
      const waiter = {
        seq,
        resolve: () => {
          options.signal?.removeEventListener('abort', onAbort)
          resolve()
        },
        reject: (err: unknown) => {
          options.signal?.removeEventListener('abort', onAbort)
          reject(err)
        }
      }
      const onAbort = (): void => {
        this.sealedWaiters = this.sealedWaiters.filter((w) => w !== waiter)
        reject(new AbortedError())
      }
      options.signal?.addEventListener('abort', onAbort, { once: true })
      this.sealedWaiters.push(waiter)
    })
  }

  async getEntry(seq: number): Promise<Uint8Array | undefined> {
    if (!Number.isSafeInteger(seq) || seq < 0) return undefined
    return await this.entries.get(seq)
  }

  async latestCheckpoint(): Promise<string | undefined> {
    for await (const [, note] of this.checkpoints.iterator({ reverse: true, limit: 1 }))
      return Buffer.from(note).toString('utf8')
    return undefined
  }

  private entryFor(input: AppendInput, seq: number, prev: Uint8Array, time: number): Entry {
    const entry: Entry = {
      v: 1,
      fleet: this.init.fleetId,
      feed: this.init.feedId,
      seq,
      prev,
      time,
      type: input.type,
      actor: input.actor,
      device: this.init.feedId,
      attest: input.attest,
      body: input.body
    }
    if (input.proof !== undefined) {
      entry.v = 2
      entry.proof = input.proof
    }
    return entry
  }

  /**
   * Writes batches while appends wait, as a two-stage pipeline: the next batch is encoded, hashed
   * and staged while the one before is being written. Writes never overlap (each is awaited
   * before the next starts), so batches reach the disk in order, each with the state record it
   * ends at. If a write fails, its appends are rejected and the batch staged on top of it goes
   * back to the queue. `flushing` is cleared in the same synchronous step that finds the queue
   * empty, so an append queued after that starts a new flush.
   */
  private async flush(): Promise<void> {
    // Start after the current task's synchronous appends have queued, so they share the batches.
    await Promise.resolve()
    let inFlight: { batch: PreparedBatch; done: Promise<{ err: unknown } | null> } | undefined
    try {
      while (this.pending.length > 0 || inFlight !== undefined) {
        let next: PreparedBatch | undefined
        if (this.pending.length > 0) {
          const take = Math.min(WRITE_CHUNK, this.init.batchEntries)
          const batch = this.pending.length <= take ? this.pending : this.pending.splice(0, take)
          if (batch === this.pending) this.pending = []
          try {
            next = this.encoder.prepare(batch, inFlight?.batch ?? this.tip(), this.components.clock.now(), this.stage)
          } catch (err) {
            // Settles whatever the batch left open (settling a settled append does nothing).
            for (const item of batch) item.reject(err as Error)
          }
        }
        if (inFlight !== undefined) {
          const failed = await inFlight.done
          if (failed === null) this.commit(inFlight.batch)
          else {
            void inFlight.batch.write.close().catch(() => undefined)
            const error = ledgerWriteError(failed.err)
            for (const item of inFlight.batch.accepted) item.reject(error)
            if (next !== undefined) {
              void next.write.close().catch(() => undefined)
              this.pending.unshift(...next.accepted)
              next = undefined
            }
          }
        }
        inFlight =
          next === undefined
            ? undefined
            : {
                batch: next,
                done: next.write.write({ sync: true }).then(
                  () => null,
                  (err: unknown) => ({ err })
                )
              }
      }
    } finally {
      this.flushing = undefined
    }
  }

  /** The committed end of the feed. */
  private tip(): FeedTip {
    return { size: this.frontier.size, head: this.meta.head, roots: this.frontier.roots as Uint8Array[] }
  }

  /** A batch is on disk (written with sync): it becomes the feed's state, and its appends resolve. */
  private commit(batch: PreparedBatch): void {
    this.frontier = new MerkleFrontier(batch.size, batch.roots)
    this.meta = { ...this.meta, size: batch.size, head: batch.head, frontier: batch.roots }
    const { accepted, hashes, first } = batch
    // Each hash is copied out (32 bytes), so a caller keeping one does not keep the batch's buffer.
    for (let i = 0; i < accepted.length; i++) {
      const item = accepted[i]!
      if (!item.routine) this.urgent = true
      else this.routineSince ??= this.components.clock.now()
      item.resolve({ seq: first + i, hash: hashes.slice(32 * i, 32 * i + 32) })
    }
    if (this.meta.size - this.meta.checkpointSize >= this.init.batchEntries)
      void this.checkpoint().catch(() => undefined)
  }

  /** Signs one checkpoint over everything appended since the last one. */
  async checkpoint(): Promise<void> {
    // One already running may have started before the latest appends: wait for it, then cover
    // the rest, so a caller's entries are sealed when this resolves.
    while (this.checkpointing !== undefined) await this.checkpointing
    if (this.frontier.size <= this.meta.checkpointSize) return
    const covering = this.frontier.size
    this.checkpointing = (async () => {
      const size = covering
      if (size === 0 || size <= this.meta.checkpointSize) return
      // Everything written so far is covered: what commits from here on waits for the next one.
      this.urgent = false
      this.routineSince = undefined
      const root = this.frontier.root()
      const tpm = await this.components.tpmClock.readTpmClock()
      const note = await signCheckpoint(
        {
          origin: `fleet/${toHex(this.init.fleetId)}/${this.init.feedId}`,
          size,
          root,
          epoch: this.meta.epoch,
          tpm,
          peers: []
        },
        this.components.signer,
        this.init.feedId
      )
      const record = encodeCanonical({
        size,
        tpm: [tpm.clock.toString(), tpm.resetCount, tpm.restartCount],
        epoch: this.meta.epoch
      })
      await this.components.store
        .write(
          [
            { type: 'put', sublevel: this.checkpoints, key: seqKey(size), value: new Uint8Array(Buffer.from(note)) },
            { type: 'put', sublevel: this.metaSublevel, key: 'checkpoint', value: record }
          ],
          { sync: true }
        )
        .catch((err: unknown) => {
          throw ledgerWriteError(err)
        })
      this.meta = { ...this.meta, checkpointSize: size, checkpointTpm: tpm }
      const ready = this.sealedWaiters.filter((w) => w.seq < size)
      this.sealedWaiters = this.sealedWaiters.filter((w) => w.seq >= size)
      for (const waiter of ready) waiter.resolve()
    })()
      .catch((err: unknown) => {
        // Those this checkpoint was to seal learn why it was not; later entries wait for the next.
        const failed = this.sealedWaiters.filter((w) => w.seq < covering)
        this.sealedWaiters = this.sealedWaiters.filter((w) => w.seq >= covering)
        for (const waiter of failed) waiter.reject(err)
        throw err
      })
      .finally(() => {
        this.checkpointing = undefined
      })
    return await this.checkpointing
  }
}
