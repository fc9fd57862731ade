import type { Level } from 'level'
import { bytesEqual, toHex } from '../common/bytes.js'
import { FleetError } from '../common/errors.js'
import type { HybridPublicKey } from '../identity/index.js'
import { decodeCanonical, encodeCanonical } from './cbor.js'
import { decodeEntry, type Entry } from './entry.js'
import { checkEntryAgainstOntology, type Ontology } from './ontology.js'
import { leafHash, nodeHash, MerkleFrontier, consistencyProof, verifyConsistency, subtreeRoot } from './merkle.js'
import { parseCheckpoint, verifyCheckpoint, type VerifiedCheckpoint } from './checkpoint.js'
import { detectEquivocation, withSignaturesOf, type EquivocationEvidence } from './equivocation.js'
import { SYNC_LIMITS } from './limits.js'


/** Entries [from, from + entries.length) of a feed, with a signed checkpoint of size ≥ their end and a consistency proof from their end to it. */
export interface SyncBatch {
  feed: string
  from: number
  entries: Uint8Array[]
  checkpoint: string
  proof: Uint8Array[]
}

/** Thrown when a batch from a peer does not verify; nothing of it is stored. */
export class ReplicaRejectedError extends FleetError {
  readonly feed: string
  constructor (feed: string, reason: string) {
    super(`feed ${feed}: refused a batch: ${reason}`, { code: 'ERR_REPLICA_REJECTED' })
    this.feed = feed
  }
}

/** Two signed checkpoints of one feed that cannot both be true: the feed's device equivocated. */
export class EquivocationDetectedError extends ReplicaRejectedError {
  readonly evidence: EquivocationEvidence
  readonly epoch: number
  constructor (feed: string, evidence: EquivocationEvidence, epoch: number) {
    super(feed, 'its signed checkpoint is not consistent with one already held: the device equivocated')
    this.evidence = evidence
    this.epoch = epoch
  }
}

type Sub = ReturnType<Level<string, Uint8Array>['sublevel']>
const seqKey = (seq: number): string => seq.toString(16).padStart(16, '0')

/** Values of keys in [gte, lt), at most `limit`, read in bulk (nextv) rather than one by one. */
async function readValues (store: Sub, gte: string, lt: string, limit: number): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  const iterator = store.values({ gte, lt, limit })
  try {
    while (out.length < limit) {
      const chunk = await iterator.nextv(Math.min(1000, limit - out.length)) as Uint8Array[]
      if (chunk.length === 0) break
      out.push(...chunk)
    }
  } finally {
    await iterator.close()
  }
  return out
}

function sub (parent: Level<string, Uint8Array> | Sub, name: string): Sub {
  return (parent as Level<string, Uint8Array>).sublevel<string, Uint8Array>(name, { valueEncoding: 'view' }) as unknown as Sub
}

/**
 * Read access to one stored feed (the device's own, or a replica): its sealed size, and batches
 * for a peer that holds a prefix. Leaf hashes are cached so proofs do not re-read the store.
 */
export class FeedSource {
  readonly feed: string
  private readonly entries: Sub
  private readonly checkpoints: Sub
  private leaves: Uint8Array[] = []
  /** levels[j][k]: root of the complete subtree of 2^j leaves starting at k·2^j (levels[0] is the leaves). */
  private levels: Uint8Array[][] = [this.leaves]
  private extending: Promise<void> = Promise.resolve()
  private merging: Promise<unknown> = Promise.resolve()
  private sealedMemo: Promise<{ size: number, note: string } | undefined> | undefined
  private readonly memo: boolean

  /** `memo`: remember the newest checkpoint until forgetSealed() (only when every writer calls it). */
  constructor (feed: string, entries: Sub, checkpoints: Sub, options: { memo?: boolean } = {}) {
    this.feed = feed
    this.entries = entries
    this.checkpoints = checkpoints
    this.memo = options.memo === true
  }

  /**
   * The newest stored checkpoint (only sealed entries are served). Remembered until forgetSealed():
   * the store that writes checkpoints calls it (a ReplicaStore does; for a device's own feed, the
   * runtime does when its ledger seals more).
   */
  async sealed (): Promise<{ size: number, note: string } | undefined> {
    if (this.sealedMemo !== undefined) return await this.sealedMemo
    if (!this.memo) return await this.readSealed()
    const read = this.readSealed()
    this.sealedMemo = read
    read.catch(() => { if (this.sealedMemo === read) this.sealedMemo = undefined })
    return await read
  }

  private async readSealed (): Promise<{ size: number, note: string } | undefined> {
    for await (const [key, note] of this.checkpoints.iterator({ reverse: true, limit: 1 })) return { size: Number.parseInt(key as string, 16), note: Buffer.from(note as Uint8Array).toString('utf8') }
    return undefined
  }

  forgetSealed (): void { this.sealedMemo = undefined }

  private async leavesUpTo (size: number): Promise<Uint8Array[]> {
    // Peers are served concurrently: one reader extends the cache at a time, or leaves would be
    // appended twice and every later proof would be wrong.
    const extend = this.extending.then(async () => {
      if (this.leaves.length >= size) return
      const fresh: Uint8Array[] = []
      for (const bytes of await readValues(this.entries, seqKey(this.leaves.length), seqKey(size), size - this.leaves.length)) fresh.push(leafHash(bytes))
      if (this.leaves.length + fresh.length < size) throw new FleetError(`feed ${this.feed}: entries missing below ${size}`, { code: 'ERR_FEED_INCOMPLETE' })
      this.leaves.push(...fresh)
      for (let j = 1; this.levels[j - 1]!.length >= 2; j++) {
        const below = this.levels[j - 1]!
        const level = (this.levels[j] ??= [])
        while (level.length * 2 + 1 < below.length) level.push(nodeHash(below[level.length * 2]!, below[level.length * 2 + 1]!))
      }
    })
    this.extending = extend.catch(() => undefined)
    await extend
    return this.leaves
  }

  /** The next batch for a peer holding `from` entries, or undefined when it is up to date. */
  async batch (from: number): Promise<SyncBatch | undefined> {
    const sealed = await this.sealed()
    if (sealed === undefined || sealed.size <= from) return undefined
    const entries: Uint8Array[] = []
    let bytes = 0
    for (const entry of await readValues(this.entries, seqKey(from), seqKey(sealed.size), SYNC_LIMITS.maxBatchEntries)) {
      if (entries.length > 0 && bytes + entry.length > SYNC_LIMITS.maxBatchBytes) break
      entries.push(entry)
      bytes += entry.length
    }
    const end = from + entries.length
    // The smallest stored checkpoint at or above the batch's end.
    let checkpoint = sealed
    for await (const [key, note] of this.checkpoints.iterator({ gte: seqKey(end), limit: 1 })) checkpoint = { size: Number.parseInt(key as string, 16), note: Buffer.from(note as Uint8Array).toString('utf8') }
    const proof = end === checkpoint.size ? [] : consistencyProof(await this.leavesUpTo(checkpoint.size), end, checkpoint.size)
    return { feed: this.feed, from, entries, checkpoint: checkpoint.note, proof }
  }

  /** Root of the stored tree at `size` (for equivocation checks): O(log size) from the cached subtree roots. */
  async rootAt (size: number): Promise<Uint8Array> {
    await this.leavesUpTo(size)
    if (size === 0) return subtreeRoot([], 0, 0)
    const roots: Uint8Array[] = []
    let offset = 0
    for (let j = Math.floor(Math.log2(size)); j >= 0; j--) {
      const span = 2 ** j
      if (offset + span > size) continue
      roots.push(this.levels[j]![offset / span]!)
      offset += span
    }
    return new MerkleFrontier(size, roots).root()
  }

  /** A consistency proof between two sizes of the stored tree. */
  async proofBetween (m: number, n: number): Promise<Uint8Array[]> {
    return consistencyProof(await this.leavesUpTo(n), m, n)
  }

  /** The stored checkpoint of exactly `size` entries, if any. */
  async noteAt (size: number): Promise<string | undefined> {
    const bytes = await this.checkpoints.get(seqKey(size)) as Uint8Array | undefined
    return bytes === undefined ? undefined : Buffer.from(bytes).toString('utf8')
  }

  /** The stored checkpoint of exactly `size` entries, or the smallest above it. */
  async checkpointAtOrAbove (size: number): Promise<{ size: number, note: string } | undefined> {
    for await (const [key, note] of this.checkpoints.iterator({ gte: seqKey(size), limit: 1 })) return { size: Number.parseInt(key as string, 16), note: Buffer.from(note as Uint8Array).toString('utf8') }
    return undefined
  }

  /**
   * Adds the cosignature lines of `checkpoint` (verified, its cosigners counted) that the stored
   * note of the same size lacks. Returns how many cosigners were added; 0 when no note of that
   * size is stored, or its body differs (that is for the equivocation check, not here).
   */
  async mergeCosignatures (checkpoint: VerifiedCheckpoint): Promise<number> {
    const size = checkpoint.body.size
    const merge = this.merging.then(async () => {
      const bytes = await this.checkpoints.get(seqKey(size)) as Uint8Array | undefined
      if (bytes === undefined) return 0
      const stored = Buffer.from(bytes).toString('utf8')
      const parsed = parseCheckpoint(stored)
      if (parsed.text !== checkpoint.text) return 0
      const present = new Set(parsed.signatures.map((line) => line.name))
      present.delete(this.feed)
      const lines = checkpoint.note.slice(checkpoint.note.indexOf('\n\n') + 2, -1).split('\n')
      let added = 0
      let note = stored
      for (const name of checkpoint.cosigners) {
        if (present.has(name) || present.size >= SYNC_LIMITS.maxCosigners) continue
        const pair = lines.filter((line) => line.startsWith(`\u2014 ${name} `))
        if (pair.length !== 2) continue
        note += pair.map((line) => `${line}\n`).join('')
        present.add(name)
        added++
      }
      if (added > 0) {
        await this.checkpoints.put(seqKey(size), new Uint8Array(Buffer.from(note)))
        this.forgetSealed()
      }
      return added
    })
    this.merging = merge.catch(() => 0)
    return await merge
  }

  /**
   * Checks a verified checkpoint of this feed against the stored tree: evidence when the feed's
   * device signed something the stored history contradicts, undefined when they agree or when
   * this store cannot tell (it holds fewer entries, or no signed checkpoint at or above them).
   */
  async contradiction (offered: VerifiedCheckpoint, heldSize: number, key: HybridPublicKey): Promise<EquivocationEvidence | undefined> {
    const size = offered.body.size
    if (size === 0 || size > heldSize) return undefined
    const root = await this.rootAt(size)
    if (bytesEqual(root, offered.body.root)) return undefined
    const held = await this.checkpointAtOrAbove(size)
    if (held === undefined || held.size > heldSize) return undefined
    let heldCheckpoint: VerifiedCheckpoint
    try {
      heldCheckpoint = verifyCheckpoint(parseCheckpoint(held.note), { name: this.feed, key })
    } catch {
      return undefined
    }
    const prefix = held.size === size ? undefined : { root, proof: await this.proofBetween(size, held.size) }
    return detectEquivocation(offered, heldCheckpoint, prefix)
  }

  /** The newest `count` stored entries, oldest first. */
  async tail (count: number): Promise<Uint8Array[]> {
    const out: Uint8Array[] = []
    for await (const bytes of this.entries.values({ reverse: true, limit: count })) out.unshift(bytes as Uint8Array)
    return out
  }

  /** Stored checkpoints covering entry `seq` (size above it), smallest first. */
  async checkpointsCovering (seq: number): Promise<Array<{ size: number, note: string }>> {
    const out: Array<{ size: number, note: string }> = []
    for await (const [key, note] of this.checkpoints.iterator({ gt: seqKey(seq) })) out.push({ size: Number.parseInt(key as string, 16), note: Buffer.from(note as Uint8Array).toString('utf8') })
    return out
  }

  forget (): void {
    this.leaves = []
    this.levels = [this.leaves]
  }
}

/** What a verified batch added: its new entries, decoded (the caller acts on revocations and alerts). */
export interface ApplyResult { added: number, checkpoint: VerifiedCheckpoint, entries: Entry[] }

interface ReplicaMeta { size: number, head: Uint8Array, frontier: Uint8Array[], checkpointSize: number }

export interface ReplicaTrust {
  fleetId: Uint8Array
  feedKey: HybridPublicKey
  ontology: Ontology
  /** Devices whose cosignatures on the feed's checkpoints are kept (others are dropped before storing). */
  witnesses?: ReadonlyMap<string, HybridPublicKey>
}

/**
 * Feeds of other devices, held for the fleet: each under its own sublevels, appended only with
 * batches that verify completely (strict entries, chain, ontology, a hybrid-signed checkpoint of
 * this fleet and feed, and a consistency proof from the batch's end to that checkpoint). One batch
 * is stored in one atomic LevelDB write; a bad batch stores nothing.
 */
export class ReplicaStore {
  private readonly db: Level<string, Uint8Array>
  private readonly root: Sub
  private readonly sources = new Map<string, FeedSource>()
  private readonly locks = new Map<string, Promise<unknown>>()
  private readonly subs = new Map<string, { entries: Sub, checkpoints: Sub, meta: Sub }>()
  /** Each held feed's state, read once from the store and then kept current by apply(). */
  private readonly metas = new Map<string, ReplicaMeta>()
  private index: Set<string> | undefined
  private readonly indexSub: Sub

  constructor (db: Level<string, Uint8Array>) {
    this.db = db
    this.root = sub(db, 'replicas')
    this.indexSub = sub(db, 'replica-index')
  }

  private feedSub (feed: string): { entries: Sub, checkpoints: Sub, meta: Sub } {
    let subs = this.subs.get(feed)
    if (subs === undefined) {
      const base = sub(this.root, feed)
      subs = { entries: sub(base, 'entries'), checkpoints: sub(base, 'checkpoints'), meta: sub(base, 'meta') }
      this.subs.set(feed, subs)
    }
    return subs
  }

  source (feed: string): FeedSource {
    let source = this.sources.get(feed)
    if (source === undefined) {
      const { entries, checkpoints } = this.feedSub(feed)
      source = new FeedSource(feed, entries, checkpoints, { memo: true })
      this.sources.set(feed, source)
    }
    return source
  }

  async meta (feed: string): Promise<ReplicaMeta> {
    const cached = this.metas.get(feed)
    if (cached !== undefined) return cached
    const bytes = await this.feedSub(feed).meta.get('state') as Uint8Array | undefined
    const meta = bytes === undefined ? { size: 0, head: new Uint8Array(32), frontier: [], checkpointSize: 0 } : decodeCanonical(bytes, { maxBytes: 1 << 20 }) as ReplicaMeta
    this.metas.set(feed, meta)
    return meta
  }

  /** Feeds held, with their sizes. */
  async feeds (): Promise<Map<string, number>> {
    if (this.index === undefined) {
      const index = new Set<string>()
      for await (const key of this.indexSub.keys()) index.add(key as string)
      this.index ??= index
    }
    const out = new Map<string, number>()
    for (const feed of this.index) out.set(feed, (await this.meta(feed)).size)
    return out
  }

  /** Verifies a batch completely, then stores it atomically. Returns the number of new entries. */
  async apply (batch: SyncBatch, trust: ReplicaTrust): Promise<ApplyResult> {
    const previous = this.locks.get(batch.feed) ?? Promise.resolve()
    const run = previous.catch(() => undefined).then(async () => await this.applyLocked(batch, trust))
    this.locks.set(batch.feed, run)
    try {
      return await run
    } finally {
      if (this.locks.get(batch.feed) === run) this.locks.delete(batch.feed)
    }
  }

  private async applyLocked (offered: SyncBatch, trust: ReplicaTrust): Promise<ApplyResult> {
    let batch = offered
    const feed = batch.feed
    const fail = (reason: string): never => { throw new ReplicaRejectedError(feed, reason) }
    if (!/^[a-z2-7]{52}$/.test(feed)) fail('not a feed id')
    if (batch.entries.length > SYNC_LIMITS.maxBatchEntries) fail('too many entries')
    let checkpoint: VerifiedCheckpoint
    try {
      checkpoint = verifyCheckpoint(parseCheckpoint(batch.checkpoint), { name: feed, key: trust.feedKey }, trust.witnesses)
    } catch (err) {
      return fail(`checkpoint: ${(err as Error).message}`)
    }
    if (checkpoint.body.origin !== `fleet/${toHex(trust.fleetId)}/${feed}`) fail(`the checkpoint names ${checkpoint.body.origin}`)
    const meta = await this.meta(feed)
    const source = this.source(feed)
    // A checkpoint at or below what is held must agree with it; otherwise the device signed two histories.
    if (checkpoint.body.size <= meta.size) {
      const held = await source.rootAt(checkpoint.body.size)
      if (!bytesEqual(held, checkpoint.body.root)) {
        const evidence = await source.contradiction(checkpoint, meta.size, trust.feedKey)
        if (evidence !== undefined) throw new EquivocationDetectedError(feed, evidence, checkpoint.body.epoch)
        fail('its signed checkpoint contradicts the entries held')
      }
      if (batch.entries.length === 0 || batch.from + batch.entries.length <= meta.size) return { added: 0, checkpoint, entries: [] }
    }
    // Batches of one feed can arrive from several peers at once: skip what is already held (the
    // rest must still extend this replica's tree to the signed root), and leave a gap for later.
    if (batch.from > meta.size) return { added: 0, checkpoint, entries: [] }
    if (batch.from < meta.size) {
      if (batch.from + batch.entries.length <= meta.size) return { added: 0, checkpoint, entries: [] }
      batch = { ...batch, entries: batch.entries.slice(meta.size - batch.from), from: meta.size }
    }
    if (batch.entries.length === 0) fail('no entries')
    let frontier = new MerkleFrontier(meta.size, meta.frontier)
    let prev = meta.head
    const { entries, checkpoints, meta: metaSub } = this.feedSub(feed)
    const ops: Array<{ type: 'put', key: string, value: Uint8Array, sublevel: Sub }> = []
    const leaves: Uint8Array[] = []
    const stored: Entry[] = []
    for (const bytes of batch.entries) {
      const seq = frontier.size
      let decoded
      try {
        decoded = decodeEntry(bytes)
        checkEntryAgainstOntology(decoded.entry, trust.ontology)
      } catch (err) {
        return fail(`entry ${seq}: ${(err as Error).message}`)
      }
      const e = decoded.entry
      stored.push(e)
      if (e.seq !== seq || e.feed !== feed || !bytesEqual(e.fleet, trust.fleetId)) fail(`entry ${seq} is not entry ${seq} of this feed`)
      if (!bytesEqual(e.prev, prev)) fail(`entry ${seq} does not chain to entry ${seq - 1}`)
      prev = decoded.hash
      const leaf = leafHash(bytes)
      leaves.push(leaf)
      frontier = frontier.append(leaf)
      ops.push({ type: 'put', key: seqKey(seq), value: bytes, sublevel: entries })
    }
    const end = frontier.size
    if (checkpoint.body.size < end) fail(`the checkpoint covers ${checkpoint.body.size} entries, the batch ends at ${end}`)
    try {
      verifyConsistency(end, checkpoint.body.size, frontier.root(), checkpoint.body.root, batch.proof)
    } catch (err) {
      return fail(`the entries are not in the signed tree: ${(err as Error).message}`)
    }
    const next: ReplicaMeta = { size: end, head: prev, frontier: [...frontier.roots], checkpointSize: end === checkpoint.body.size ? end : meta.checkpointSize }
    if (end === checkpoint.body.size) {
      const kept = withSignaturesOf(checkpoint.note, [feed, ...checkpoint.cosigners.slice(0, SYNC_LIMITS.maxCosigners)])
      ops.push({ type: 'put', key: seqKey(end), value: new Uint8Array(Buffer.from(kept)), sublevel: checkpoints })
    }
    ops.push({ type: 'put', key: 'state', value: encodeCanonical(next), sublevel: metaSub })
    ops.push({ type: 'put', key: feed, value: new Uint8Array(0), sublevel: this.indexSub })
    await this.db.batch(ops as never, { sync: true })
    this.metas.set(feed, next)
    source.forgetSealed()
    await this.feeds()
    this.index?.add(feed)
    return { added: batch.entries.length, checkpoint, entries: stored }
  }

  /** The entries of a held feed, in order (decoded later by the caller). */
  async * entries (feed: string, from = 0): AsyncGenerator<Uint8Array> {
    for await (const [, bytes] of this.feedSub(feed).entries.iterator({ gte: seqKey(from) })) yield bytes as Uint8Array
  }
}

/**
 * A FeedSource over a FeedLedger's own store (sublevels 'entries' and 'checkpoints' of its db).
 * With `memo`, the caller must call forgetSealed() whenever the ledger seals more.
 */
export function ownFeedSource (db: Level<string, Uint8Array>, feed: string, options: { memo?: boolean } = {}): FeedSource {
  return new FeedSource(feed, sub(db, 'entries'), sub(db, 'checkpoints'), options)
}

export { SYNC_LIMITS }
