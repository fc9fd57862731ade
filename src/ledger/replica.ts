import { bytesEqual, toHex } from '../common/index.js'
import type { HybridPublicKey } from '../identity/index.js'
import { decodeCanonical, encodeCanonical } from '../codec/index.js'
import { decodeEntryUnhashed, entryHash, type Entry } from './entry.js'
import { popCount, ROOTS_CAPACITY } from './batch-hash.js'
import { nodeCryptoHasher, type Hasher } from './hasher.js'
import { checkEntryAgainstOntology, type Ontology } from './ontology.js'
import { ontologyAfter } from './ontology-update.js'
import { verifyActorProofs, type ActorDirectory } from './actor-proof.js'
import { MerkleFrontier, verifyConsistency } from './merkle.js'
import { FeedSource } from './feed-source.js'
import { EntryRuns, encodeRun, encodeRunFromSpans, RUN_LIMITS, seqKey } from './entry-runs.js'
import { parseCheckpoint, verifyCheckpoint, type VerifiedCheckpoint } from './checkpoint.js'
import { withSignaturesOf, forkOf } from './equivocation.js'
import { checkEpoch, isAuthorisedFork, type EpochAuthorisation } from './epochs.js'
import { LedgerWriteError, UnauthorisedEpochError } from './errors.js'
import { ReplicaRejectedError, EquivocationDetectedError } from './replica-errors.js'
import type { SyncBatch } from './sync-batch.js'
import { SYNC_LIMITS } from './limits.js'
import {
  LEDGER_SUBLEVELS,
  feedSublevels,
  replicaSpace,
  type FeedSublevels,
  type LedgerStore,
  type LedgerSublevel,
  type LedgerWrite
} from './store/index.js'

/** What a verified batch added: its new entries, decoded (the caller acts on revocations and alerts). */
export interface ApplyResult {
  added: number
  checkpoint: VerifiedCheckpoint
  entries: Entry[]
}

interface ReplicaMeta {
  size: number
  head: Uint8Array
  frontier: Uint8Array[]
  checkpointSize: number
}

export interface ReplicaTrust {
  fleetId: Uint8Array
  feedKey: HybridPublicKey
  ontology: Ontology
  /** Devices whose cosignatures on the feed's checkpoints are kept (others are dropped before storing). */
  witnesses?: ReadonlyMap<string, HybridPublicKey>
  /** Epochs the owner authorised for this feed (device.new_epoch), by epoch; none: epoch 1 only. */
  epochs?: ReadonlyMap<number, EpochAuthorisation>
  /**
   * The owner revoked the feed's device and cut its feed here: entries from this seq on are not
   * stored (a batch that crosses the cut is verified whole, then stored up to the cut).
   */
  cut?: number
  /**
   * The fleet's enrolled actors, who check operators' and auditors' proofs (actor-proof.ts); a
   * cloned authenticator is reported to them, not refused. Without them such entries are refused.
   */
  actors?: ActorDirectory
}

/** What kind of fault an actor-proof refusal is, in words for the refusal's reason. */
function actorFault(err: unknown): string {
  return (err as { code?: string }).code === 'ERR_ACTOR_UNKNOWN'
    ? 'an actor not (yet) known here'
    : 'an actor proof that does not hold'
}

interface Hashed {
  buf: Uint8Array
  spans: Uint32Array
  count: number
  hashes: Uint8Array
  leaves: Uint8Array
  frontier: MerkleFrontier
}

/**
 * Hashes the first `count` of `entries` onto a replica's chain and tree in one call (the Hasher):
 * each entry after a 0x00 byte in one buffer; the hasher writes the chain into each copy's `prev`
 * (at `prevAts`), so the caller compares the prev each entry came with against the chain below.
 */
function hashOnto(
  hasher: Hasher,
  meta: ReplicaMeta,
  entries: readonly Uint8Array[],
  prevAts: readonly number[],
  count: number
): Hashed {
  let total = 0
  for (let i = 0; i < count; i++) total += entries[i]!.length + 1
  const buf = new Uint8Array(total)
  const spans = new Uint32Array(3 * count)
  let at = 0
  for (let i = 0; i < count; i++) {
    const bytes = entries[i]!
    buf.set(bytes, at + 1)
    spans[3 * i] = at
    spans[3 * i + 1] = at + 1 + bytes.length
    spans[3 * i + 2] = at + 1 + prevAts[i]!
    at += bytes.length + 1
  }
  const hashes = new Uint8Array(32 * count)
  const leaves = new Uint8Array(32 * count)
  const rootBytes = new Uint8Array(32 * ROOTS_CAPACITY)
  for (const [i, root] of meta.frontier.entries()) rootBytes.set(root, 32 * i)
  hasher.hashEntries(buf, spans, count, meta.head, meta.size, rootBytes, hashes, leaves)
  const roots: Uint8Array[] = []
  for (let i = 0, n = popCount(meta.size + count); i < n; i++) roots.push(rootBytes.slice(32 * i, 32 * i + 32))
  return { buf, spans, count, hashes, leaves, frontier: new MerkleFrontier(meta.size + count, roots) }
}

/**
 * Feeds of other devices, held for the fleet: each under its own sublevels, appended only with
 * batches that verify completely (strict entries, chain, ontology, a hybrid-signed checkpoint of
 * this fleet and feed, and a consistency proof from the batch's end to that checkpoint). One batch
 * is stored in one atomic, synced store write; a bad batch stores nothing.
 */
export class ReplicaStore {
  private readonly store: LedgerStore
  private readonly sources = new Map<string, FeedSource>()
  private readonly locks = new Map<string, Promise<unknown>>()
  private readonly subs = new Map<string, FeedSublevels>()
  /** Each held feed's state, read once from the store and then kept current by apply(). */
  private readonly metas = new Map<string, ReplicaMeta>()
  private index: Set<string> | undefined
  private readonly indexSub: LedgerSublevel
  private readonly hasher: Hasher

  /**
   * `store`: opened and closed by the caller. `hasher`: the batch hashing of verification and of
   * served proofs (hasher.ts); default nodeCryptoHasher.
   */
  constructor(store: LedgerStore, options: { hasher?: Hasher } = {}) {
    this.store = store
    this.hasher = options.hasher ?? nodeCryptoHasher
    this.indexSub = store.sublevel(LEDGER_SUBLEVELS.replicaIndex)
  }

  private feedSub(feed: string): FeedSublevels {
    let subs = this.subs.get(feed)
    if (subs === undefined) {
      subs = feedSublevels(replicaSpace(this.store, feed))
      this.subs.set(feed, subs)
    }
    return subs
  }

  source(feed: string): FeedSource {
    let source = this.sources.get(feed)
    if (source === undefined) {
      source = new FeedSource(this.store, feed, this.feedSub(feed), { memo: true, hasher: this.hasher })
      this.sources.set(feed, source)
    }
    return source
  }

  async meta(feed: string): Promise<ReplicaMeta> {
    const cached = this.metas.get(feed)
    if (cached !== undefined) return cached
    const bytes = await this.feedSub(feed).meta.get('state')
    const meta =
      bytes === undefined
        ? { size: 0, head: new Uint8Array(32), frontier: [], checkpointSize: 0 }
        : (decodeCanonical(bytes, { maxBytes: 1 << 20 }) as ReplicaMeta)
    this.metas.set(feed, meta)
    return meta
  }

  /** Feeds held, with their sizes. */
  async feeds(): Promise<Map<string, number>> {
    if (this.index === undefined) {
      const index = new Set<string>()
      for await (const key of this.indexSub.keys()) index.add(key)
      this.index ??= index
    }
    const out = new Map<string, number>()
    for (const feed of this.index) out.set(feed, (await this.meta(feed)).size)
    return out
  }

  /** Verifies a batch completely, then stores it atomically. Returns the number of new entries. */
  async apply(batch: SyncBatch, trust: ReplicaTrust): Promise<ApplyResult> {
    const previous = this.locks.get(batch.feed) ?? Promise.resolve()
    const run = previous.catch(() => undefined).then(async () => await this.applyLocked(batch, trust))
    this.locks.set(batch.feed, run)
    try {
      return await run
    } finally {
      if (this.locks.get(batch.feed) === run) this.locks.delete(batch.feed)
    }
  }

  private async applyLocked(offered: SyncBatch, trust: ReplicaTrust): Promise<ApplyResult> {
    let batch = offered
    const feed = batch.feed
    const fail = (reason: string, cause?: unknown, seq?: number): never => {
      const evidence = {
        from: offered.from,
        entries: offered.entries.length,
        checkpoint: offered.checkpoint.slice(0, 4096),
        seq
      }
      throw new ReplicaRejectedError(feed, reason, cause, evidence)
    }
    if (!/^[a-z2-7]{52}$/.test(feed)) fail('not a feed id')
    if (batch.entries.length > SYNC_LIMITS.maxBatchEntries) fail('too many entries')
    let checkpoint: VerifiedCheckpoint
    try {
      checkpoint = verifyCheckpoint(
        parseCheckpoint(batch.checkpoint),
        { name: feed, key: trust.feedKey },
        trust.witnesses
      )
    } catch (err) {
      return fail(`checkpoint: ${(err as Error).message}`)
    }
    if (checkpoint.body.origin !== `fleet/${toHex(trust.fleetId)}/${feed}`)
      fail(`the checkpoint names ${checkpoint.body.origin}`)
    let meta = await this.meta(feed)
    let source = this.source(feed)
    // The first checkpoint of an epoch the owner authorised moves this replica over to it.
    const adopted = await this.replacedBy(meta, source, checkpoint, trust)
    if (adopted !== undefined) {
      meta = await this.rewind(feed, adopted)
      source = this.source(feed)
    }
    // A checkpoint at or below what is held must agree with it; otherwise the device signed two histories.
    if (checkpoint.body.size <= meta.size) {
      const held = await source.rootAt(checkpoint.body.size)
      if (!bytesEqual(held, checkpoint.body.root)) {
        const evidence = await source.contradiction(checkpoint, meta.size, trust.feedKey)
        if (evidence !== undefined) {
          const fork = forkOf(evidence)
          if (fork === undefined || trust.epochs === undefined || !isAuthorisedFork(fork, trust.epochs))
            throw new EquivocationDetectedError(feed, evidence, checkpoint.body.epoch)
          fail(`its checkpoint in epoch ${checkpoint.body.epoch} is of the other side of a fork the owner authorised`)
        }
        fail('its signed checkpoint contradicts the entries held')
      }
      if (batch.entries.length === 0 || batch.from + batch.entries.length <= meta.size)
        return { added: 0, checkpoint, entries: [] }
    }
    // Batches of one feed can arrive from several peers at once: skip what is already held (the
    // rest must still extend this replica's tree to the signed root), and leave a gap for later.
    if (batch.from > meta.size || (trust.cut !== undefined && meta.size >= trust.cut))
      return { added: 0, checkpoint, entries: [] }
    if (batch.from < meta.size) {
      if (batch.from + batch.entries.length <= meta.size) return { added: 0, checkpoint, entries: [] }
      batch = { ...batch, entries: batch.entries.slice(meta.size - batch.from), from: meta.size }
    }
    if (batch.entries.length === 0) fail('no entries')
    // Decode and check every entry, then hash the batch onto the chain and tree in one call.
    const count = batch.entries.length
    const stored: Entry[] = []
    const prevs: Uint8Array[] = []
    const prevAts: number[] = []
    // An owner's ontology.update counts from the next entry: a batch of the owner's feed may hold an
    // update and the first entries of an action it adds (only the owner's feed can hold one).
    let ontology = trust.ontology
    for (let i = 0; i < count; i++) {
      const seq = meta.size + i
      let decoded: ReturnType<typeof decodeEntryUnhashed>
      try {
        decoded = decodeEntryUnhashed(batch.entries[i]!)
        checkEntryAgainstOntology(decoded.entry, ontology)
      } catch (err) {
        return fail(`entry ${seq}: ${(err as Error).message}`, err, seq)
      }
      const e = decoded.entry
      if (e.seq !== seq || e.feed !== feed || !bytesEqual(e.fleet, trust.fleetId))
        fail(`entry ${seq} is not entry ${seq} of this feed`, undefined, seq)
      ontology = ontologyAfter(ontology, e)
      stored.push(e)
      prevs.push(e.prev)
      prevAts.push(decoded.prevAt)
    }
    const hashed = hashOnto(this.hasher, meta, batch.entries, prevAts, count)
    for (let i = 0; i < count; i++) {
      if (!bytesEqual(prevs[i]!, i === 0 ? meta.head : hashed.hashes.subarray(32 * (i - 1), 32 * i)))
        fail(`entry ${meta.size + i} does not chain to entry ${meta.size + i - 1}`, undefined, meta.size + i)
    }
    const frontier = hashed.frontier
    const end = frontier.size
    if (checkpoint.body.size < end)
      fail(`the checkpoint covers ${checkpoint.body.size} entries, the batch ends at ${end}`)
    try {
      verifyConsistency(end, checkpoint.body.size, frontier.root(), checkpoint.body.root, batch.proof)
    } catch (err) {
      return fail(`the entries are not in the signed tree: ${(err as Error).message}`)
    }
    // A history in another epoch than 1 stands only as the owner authorised it, forking where it said.
    const epoch = checkpoint.body.epoch
    if (epoch !== 1 || trust.epochs !== undefined) {
      const forkSize = trust.epochs?.get(epoch)?.forkSize
      let forkRoot: Uint8Array | undefined
      if (forkSize !== undefined && forkSize > 0 && forkSize <= meta.size) forkRoot = await source.rootAt(forkSize)
      else if (forkSize !== undefined && forkSize > meta.size && forkSize <= end)
        forkRoot = hashOnto(this.hasher, meta, batch.entries, prevAts, forkSize - meta.size).frontier.root()
      try {
        checkEpoch(feed, epoch, checkpoint.body.size, trust.epochs ?? new Map(), () => forkRoot)
      } catch (err) {
        if (err instanceof UnauthorisedEpochError) fail(err.message, err)
        throw err
      }
    }
    // Last, the costly part: each operator's and auditor's proof, against the key the owner
    // enrolled for them (up to a revocation's cut: nothing past it is stored).
    const upTo = trust.cut !== undefined && end > trust.cut ? trust.cut - meta.size : count
    try {
      await verifyActorProofs(stored.slice(0, upTo), trust.actors, { clones: 'report' })
    } catch (err) {
      // The directory could not keep what it judged: this store's fault, not the batch's.
      if (err instanceof LedgerWriteError) throw err
      return fail(`${actorFault(err)}: ${(err as Error).message}`, err, (err as { seq?: number }).seq)
    }
    // Verified whole; past a revocation's cut nothing is stored: the entries up to it are (they
    // are in the signed tree, as the whole batch is), with the tree state at the cut.
    if (trust.cut !== undefined && end > trust.cut) {
      const count = trust.cut - meta.size
      return await this.storeBatch(
        feed,
        meta,
        hashOnto(this.hasher, meta, batch.entries, prevAts, count),
        checkpoint,
        stored.slice(0, count)
      )
    }
    return await this.storeBatch(feed, meta, hashed, checkpoint, stored)
  }

  /**
   * Moves a replica over to a new epoch of its feed when `checkpoint` (verified) is of an epoch the
   * owner authorised and the history held is the older one past its fork point, with the fork's
   * root. Returns whether it did. Taken under the feed's lock.
   */
  async adoptEpoch(feed: string, checkpoint: VerifiedCheckpoint, trust: ReplicaTrust): Promise<boolean> {
    const previous = this.locks.get(feed) ?? Promise.resolve()
    const run = previous
      .catch(() => undefined)
      .then(async () => {
        const meta = await this.meta(feed)
        const adopted = await this.replacedBy(meta, this.source(feed), checkpoint, trust)
        if (adopted === undefined) return false
        await this.rewind(feed, adopted)
        return true
      })
    this.locks.set(feed, run)
    try {
      return await run
    } finally {
      if (this.locks.get(feed) === run) this.locks.delete(feed)
    }
  }

  private async replacedBy(
    meta: ReplicaMeta,
    source: FeedSource,
    checkpoint: VerifiedCheckpoint,
    trust: ReplicaTrust
  ): Promise<EpochAuthorisation | undefined> {
    const authorised = trust.epochs?.get(checkpoint.body.epoch)
    if (authorised === undefined || authorised.forkSize >= meta.size) return undefined
    const sealed = await source.sealed()
    if (sealed !== undefined && parseCheckpoint(sealed.note).body.epoch >= authorised.epoch) return undefined
    return bytesEqual(await source.rootAt(authorised.forkSize), authorised.forkRoot) ? authorised : undefined
  }

  /**
   * Rewinds a replica to the fork point of an epoch the owner authorised: the entries and
   * checkpoints past it move to the feed's `replaced/<epoch>` sublevels (kept for audit, never
   * served or counted), and the state is the tree at the fork point, in one atomic write.
   */
  private async rewind(feed: string, authorised: EpochAuthorisation): Promise<ReplicaMeta> {
    const size = authorised.forkSize
    const { entries, checkpoints, meta: metaSub } = this.feedSub(feed)
    const epochSpace = replicaSpace(this.store, feed)
      .sublevel(LEDGER_SUBLEVELS.replaced)
      .sublevel(String(authorised.epoch))
    const replaced = feedSublevels(epochSpace)
    const replacedEntries = replaced.entries
    const replacedCheckpoints = replaced.checkpoints
    const source = this.source(feed)
    const frontier = await source.frontierAt(size)
    const ops: LedgerWrite[] = []
    let head: Uint8Array = new Uint8Array(32)
    for await (const run of new EntryRuns(entries).runs(Math.max(0, size - 1))) {
      if (run.last < size) {
        head = entryHash(run.entries[run.entries.length - 1]!)
        continue
      }
      ops.push({ type: 'del', key: run.key, sublevel: entries })
      const keep = Math.max(0, size - run.first)
      if (keep > 0) {
        ops.push({
          type: 'put',
          key: seqKey(size - 1),
          value: encodeRun(run.entries.slice(0, keep)),
          sublevel: entries
        })
        head = entryHash(run.entries[keep - 1]!)
      }
      ops.push({ type: 'put', key: run.key, value: encodeRun(run.entries.slice(keep)), sublevel: replacedEntries })
    }
    let checkpointSize = 0
    for await (const [key] of checkpoints.iterator({ lte: seqKey(size), reverse: true, limit: 1 }))
      checkpointSize = Number.parseInt(key, 16)
    for await (const [key, note] of checkpoints.iterator({ gt: seqKey(size) })) {
      ops.push({ type: 'del', key, sublevel: checkpoints })
      ops.push({ type: 'put', key, value: note, sublevel: replacedCheckpoints })
    }
    const next: ReplicaMeta = { size, head, frontier: [...frontier.roots], checkpointSize }
    ops.push({ type: 'put', key: 'state', value: encodeCanonical(next), sublevel: metaSub })
    await this.store.write(ops, { sync: true })
    this.metas.set(feed, next)
    // The source's caches hold the replaced entries: a new one reads the store afresh.
    this.sources.delete(feed)
    return next
  }

  /** Writes verified entries (in `buf`, laid out by `spans`) and the new state in one atomic batch. */
  private async storeBatch(
    feed: string,
    meta: ReplicaMeta,
    hashed: Hashed,
    checkpoint: VerifiedCheckpoint,
    stored: Entry[]
  ): Promise<ApplyResult> {
    const { buf, spans, count, leaves, frontier } = hashed
    const { entries, checkpoints, meta: metaSub } = this.feedSub(feed)
    const source = this.source(feed)
    const ops: LedgerWrite[] = []
    // One run per batch (SYNC_LIMITS.maxBatchEntries is below RUN_LIMITS.maxEntries; split anyway),
    // from the hashed buffer: each entry there now carries the chain as its prev, which the check
    // above found equal to the prev it came with, so these are the entries' own bytes.
    for (let at = 0; at < count; at += RUN_LIMITS.maxEntries) {
      const n = Math.min(RUN_LIMITS.maxEntries, count - at)
      ops.push({
        type: 'put',
        key: seqKey(meta.size + at + n - 1),
        value: encodeRunFromSpans(buf, spans.subarray(3 * at), n, 3, 1),
        sublevel: entries
      })
    }
    const end = frontier.size
    const next: ReplicaMeta = {
      size: end,
      head: hashed.hashes.slice(32 * (count - 1)),
      frontier: [...frontier.roots],
      checkpointSize: end === checkpoint.body.size ? end : meta.checkpointSize
    }
    if (end === checkpoint.body.size) {
      const kept = withSignaturesOf(checkpoint.note, [feed, ...checkpoint.cosigners.slice(0, SYNC_LIMITS.maxCosigners)])
      ops.push({ type: 'put', key: seqKey(end), value: new Uint8Array(Buffer.from(kept)), sublevel: checkpoints })
    }
    ops.push({ type: 'put', key: 'state', value: encodeCanonical(next), sublevel: metaSub })
    ops.push({ type: 'put', key: feed, value: new Uint8Array(0), sublevel: this.indexSub })
    await this.store.write(ops, { sync: true })
    this.metas.set(feed, next)
    source.addLeaves(meta.size, leaves, count)
    source.forgetSealed()
    await this.feeds()
    this.index?.add(feed)
    return { added: count, checkpoint, entries: stored }
  }

  /** The entries of a held feed, in order (decoded later by the caller). */
  async *entries(feed: string, from = 0): AsyncGenerator<Uint8Array> {
    for await (const { bytes } of new EntryRuns(this.feedSub(feed).entries).entries(from)) yield bytes
  }
}
