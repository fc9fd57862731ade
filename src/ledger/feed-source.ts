import { bytesEqual, FleetError, toHex } from '../common/index.js'
import { MLDSA65_SIGNATURE_SIZE, type HybridPublicKey } from '../identity/index.js'
import { leafHash, nodeHash, MerkleFrontier, consistencyProof, subtreeRoot, levelsRoot } from './merkle.js'
import { CHECKPOINT_LIMITS, parseCheckpoint, verifyCheckpoint, type VerifiedCheckpoint } from './checkpoint.js'
import { detectEquivocation, type EquivocationEvidence } from './equivocation.js'
import { SYNC_LIMITS } from './limits.js'
import { nodeCryptoHasher, type Hasher } from './hasher.js'
import type { SyncBatch } from './sync-batch.js'
import { EntryRuns, seqKey } from './entry-runs.js'
import { feedSublevels, type FeedSublevels, type LedgerStore, type LedgerSublevel } from './store/index.js'

/**
 * Read access to one stored feed (the device's own, or a replica): its sealed size, and batches
 * for a peer that holds a prefix. Leaf hashes are cached so proofs do not re-read the store.
 */
export class FeedSource {
  readonly feed: string
  private readonly store: LedgerStore
  private readonly entries: EntryRuns
  private readonly checkpoints: LedgerSublevel
  private leaves: Uint8Array[] = []
  /** levels[j][k]: root of the complete subtree of 2^j leaves starting at k·2^j (levels[0] is the leaves). */
  private levels: Uint8Array[][] = [this.leaves]
  private extending: Promise<void> = Promise.resolve()
  private merging: Promise<unknown> = Promise.resolve()
  private sealedMemo: Promise<{ size: number; note: string } | undefined> | undefined
  private readonly memo: boolean
  private readonly hasher: Hasher

  /**
   * The feed whose sublevels in `store` are `sublevels` (feedSublevels). `memo`: remember the
   * newest checkpoint until forgetSealed() (only when every writer calls it). `hasher`: for the
   * Merkle levels of many new leaves (hasher.ts); default nodeCryptoHasher.
   */
  constructor(
    store: LedgerStore,
    feed: string,
    sublevels: Pick<FeedSublevels, 'entries' | 'checkpoints'>,
    options: { memo?: boolean; hasher?: Hasher } = {}
  ) {
    this.feed = feed
    this.store = store
    this.entries = new EntryRuns(sublevels.entries)
    this.checkpoints = sublevels.checkpoints
    this.memo = options.memo === true
    this.hasher = options.hasher ?? nodeCryptoHasher
  }

  /**
   * The newest stored checkpoint (only sealed entries are served). Remembered until forgetSealed():
   * the store that writes checkpoints calls it (a ReplicaStore does; for a device's own feed, the
   * runtime does when its ledger seals more).
   */
  async sealed(): Promise<{ size: number; note: string } | undefined> {
    if (this.sealedMemo !== undefined) return await this.sealedMemo
    if (!this.memo) return await this.readSealed()
    const read = this.readSealed()
    this.sealedMemo = read
    read.catch(() => {
      if (this.sealedMemo === read) this.sealedMemo = undefined
    })
    return await read
  }

  private async readSealed(): Promise<{ size: number; note: string } | undefined> {
    for await (const [key, note] of this.checkpoints.iterator({ reverse: true, limit: 1 }))
      return { size: Number.parseInt(key, 16), note: Buffer.from(note).toString('utf8') }
    return undefined
  }

  forgetSealed(): void {
    this.sealedMemo = undefined
  }

  private async leavesUpTo(size: number): Promise<Uint8Array[]> {
    // Peers are served concurrently: one reader extends the cache at a time, or leaves would be
    // appended twice and every later proof would be wrong.
    const extend = this.extending.then(async () => {
      if (this.leaves.length >= size) return
      const fresh: Uint8Array[] = []
      for (const bytes of await this.entries.read(this.leaves.length, size, size - this.leaves.length))
        fresh.push(leafHash(bytes))
      if (this.leaves.length + fresh.length < size)
        throw new FleetError(`feed ${this.feed}: entries missing below ${size}`, { code: 'ERR_FEED_INCOMPLETE' })
      this.pushLeaves(fresh)
    })
    this.extending = extend.catch(() => undefined)
    await extend
    return this.leaves
  }

  private pushLeaves(fresh: Uint8Array[]): void {
    for (const leaf of fresh) this.leaves.push(leaf)
    for (let j = 1; this.levels[j - 1]!.length >= 2; j++) {
      const below = this.levels[j - 1]!
      const level = this.levels[j] ?? []
      this.levels[j] = level
      const count = Math.floor(below.length / 2) - level.length
      if (count >= 8) {
        // Many new nodes (a batch of leaves): hashed in one call.
        const pairs = new Uint8Array(64 * count)
        for (let i = 0; i < 2 * count; i++) pairs.set(below[2 * level.length + i]!, 32 * i)
        const out = new Uint8Array(32 * count)
        this.hasher.hashPairs(pairs, count, out)
        for (let i = 0; i < count; i++) level.push(out.subarray(32 * i, 32 * i + 32))
      } else {
        while (level.length * 2 + 1 < below.length)
          level.push(nodeHash(below[level.length * 2]!, below[level.length * 2 + 1]!))
      }
    }
  }

  /**
   * The leaf hashes of entries [from, from + count) that were just stored (32 bytes each in
   * `leaves`, as the batch hasher gives them), so that serving them does not read and hash them
   * again. Taken only when the cache ends exactly at `from`; otherwise the entries are read when
   * needed, as before.
   */
  addLeaves(from: number, leaves: Uint8Array, count: number): void {
    this.extending = this.extending.then(() => {
      if (this.leaves.length !== from) return
      const fresh: Uint8Array[] = new Array(count)
      for (let i = 0; i < count; i++) fresh[i] = leaves.subarray(32 * i, 32 * i + 32)
      this.pushLeaves(fresh)
    })
  }

  /**
   * The next batch for a peer holding `from` entries, or undefined when it is up to date. With
   * `cut` (a revoked device's feed), nothing from that seq on is served.
   */
  async batch(from: number, cut = Number.POSITIVE_INFINITY): Promise<SyncBatch | undefined> {
    const sealed = await this.sealed()
    const until = Math.min(sealed?.size ?? 0, cut)
    if (sealed === undefined || until <= from) return undefined
    const entries: Uint8Array[] = []
    let bytes = 0
    for (const entry of await this.entries.read(from, until, SYNC_LIMITS.maxBatchEntries)) {
      if (entries.length > 0 && bytes + entry.length > SYNC_LIMITS.maxBatchBytes) break
      entries.push(entry)
      bytes += entry.length
    }
    const end = from + entries.length
    // The smallest stored checkpoint at or above the batch's end.
    let checkpoint = sealed
    for await (const [key, note] of this.checkpoints.iterator({ gte: seqKey(end), limit: 1 }))
      checkpoint = { size: Number.parseInt(key, 16), note: Buffer.from(note).toString('utf8') }
    const proof = end === checkpoint.size ? [] : await this.proofBetween(end, checkpoint.size)
    return { feed: this.feed, from, entries, checkpoint: checkpoint.note, proof }
  }

  /** Root of the stored tree at `size` (for equivocation checks): O(log size) from the cached subtree roots. */
  async rootAt(size: number): Promise<Uint8Array> {
    if (size === 0) {
      await this.leavesUpTo(0)
      return subtreeRoot([], 0, 0)
    }
    return (await this.frontierAt(size)).root()
  }

  /** The stored tree's frontier (its complete subtrees' roots) at `size`. */
  async frontierAt(size: number): Promise<MerkleFrontier> {
    await this.leavesUpTo(size)
    if (size === 0) return new MerkleFrontier()
    const roots: Uint8Array[] = []
    let offset = 0
    for (let j = Math.floor(Math.log2(size)); j >= 0; j--) {
      const span = 2 ** j
      if (offset + span > size) continue
      roots.push(this.levels[j]![offset / span]!)
      offset += span
    }
    return new MerkleFrontier(size, roots)
  }

  /** A consistency proof between two sizes of the stored tree. */
  async proofBetween(m: number, n: number): Promise<Uint8Array[]> {
    const leaves = await this.leavesUpTo(n)
    return consistencyProof(leaves, m, n, (start, end) => levelsRoot(this.levels, start, end))
  }

  /** The stored checkpoint of exactly `size` entries, if any. */
  async noteAt(size: number): Promise<string | undefined> {
    const bytes = await this.checkpoints.get(seqKey(size))
    return bytes === undefined ? undefined : Buffer.from(bytes).toString('utf8')
  }

  /** The stored checkpoint of exactly `size` entries, or the smallest above it. */
  async checkpointAtOrAbove(size: number): Promise<{ size: number; note: string } | undefined> {
    for await (const [key, note] of this.checkpoints.iterator({ gte: seqKey(size), limit: 1 }))
      return { size: Number.parseInt(key, 16), note: Buffer.from(note).toString('utf8') }
    return undefined
  }

  /**
   * Adds the cosignature lines of `checkpoint` (verified, its cosigners counted) that the stored
   * note of the same size lacks. Returns how many cosigners were added; 0 when no note of that
   * size is stored, or its body differs (that is for the equivocation check, not here).
   */
  async mergeCosignatures(checkpoint: VerifiedCheckpoint): Promise<number> {
    const size = checkpoint.body.size
    const merge = this.merging.then(async () => {
      const bytes = await this.checkpoints.get(seqKey(size))
      if (bytes === undefined) return 0
      const stored = Buffer.from(bytes).toString('utf8')
      const parsed = parseCheckpoint(stored)
      if (parsed.text !== checkpoint.text) return 0
      const present = new Set(parsed.signatures.map((line) => line.name))
      present.delete(this.feed)
      // The cap is on the fleet's cosigners (a hybrid pair each): the one line of an external
      // witness (addSignatureLines) takes no cosigner's place.
      const cosigners = new Set(
        parsed.signatures
          .filter((line) => line.name !== this.feed && line.signature.length === MLDSA65_SIGNATURE_SIZE)
          .map((line) => line.name)
      )
      const lines = checkpoint.note.slice(checkpoint.note.indexOf('\n\n') + 2, -1).split('\n')
      let added = 0
      let note = stored
      for (const name of checkpoint.cosigners) {
        if (present.has(name) || cosigners.size >= SYNC_LIMITS.maxCosigners) continue
        const pair = lines.filter((line) => line.startsWith(`\u2014 ${name} `))
        if (pair.length !== 2) continue
        note += pair.map((line) => `${line}\n`).join('')
        present.add(name)
        cosigners.add(name)
        added++
      }
      if (added > 0) {
        // Not synced: a cosignature lost in a power cut is merged again when a peer next offers it.
        const value = new Uint8Array(Buffer.from(note))
        await this.store.write([{ type: 'put', sublevel: this.checkpoints, key: seqKey(size), value }], { sync: false })
        this.forgetSealed()
      }
      return added
    })
    this.merging = merge.catch(() => 0)
    return await merge
  }

  /**
   * Adds note signature lines to the stored checkpoint of `size` whose body is `text`: lines the
   * caller verified over that text by keys outside the fleet (an external witness's cosignature,
   * c2sp.org/tlog-cosignature). Verifiers ignore lines of keys they do not know (c2sp.org/signed-note),
   * so the note still verifies everywhere. A line whose name and key ID are on the note already is
   * not added again, nor any past CHECKPOINT_LIMITS.maxSignatureLines. Returns how many were added.
   */
  async addSignatureLines(size: number, text: string, lines: readonly string[]): Promise<number> {
    const merge = this.merging.then(async () => {
      const bytes = await this.checkpoints.get(seqKey(size))
      if (bytes === undefined) return 0
      const stored = Buffer.from(bytes).toString('utf8')
      const parsed = parseCheckpoint(stored)
      if (parsed.text !== text) return 0
      const present = new Set(parsed.signatures.map((line) => `${line.name} ${toHex(line.keyId)}`))
      let count = parsed.signatures.length
      let note = stored
      for (const line of lines) {
        const [name, signature] = line.slice(2).split(' ') as [string, string | undefined]
        if (!line.startsWith('\u2014 ') || signature === undefined || line.includes('\n')) continue
        const id = `${name} ${Buffer.from(signature, 'base64').subarray(0, 4).toString('hex')}`
        if (present.has(id) || count >= CHECKPOINT_LIMITS.maxSignatureLines) continue
        present.add(id)
        note += `${line}\n`
        count++
      }
      if (note === stored) return 0
      parseCheckpoint(note)
      // Synced: unlike a fleet cosignature, no peer offers an external witness's line again.
      const value = new Uint8Array(Buffer.from(note))
      await this.store.write([{ type: 'put', sublevel: this.checkpoints, key: seqKey(size), value }], { sync: true })
      this.forgetSealed()
      return count - parsed.signatures.length
    })
    this.merging = merge.catch(() => 0)
    return await merge
  }

  /**
   * Checks a verified checkpoint of this feed against the stored tree: evidence when the feed's
   * device signed something the stored history contradicts, undefined when they agree or when
   * this store cannot tell (it holds fewer entries, or no signed checkpoint at or above them).
   */
  async contradiction(
    offered: VerifiedCheckpoint,
    heldSize: number,
    key: HybridPublicKey
  ): Promise<EquivocationEvidence | undefined> {
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
  async tail(count: number): Promise<Uint8Array[]> {
    return await this.entries.tail(count)
  }

  /** Stored checkpoints covering entry `seq` (size above it), smallest first. */
  async checkpointsCovering(seq: number): Promise<Array<{ size: number; note: string }>> {
    const out: Array<{ size: number; note: string }> = []
    for await (const [key, note] of this.checkpoints.iterator({ gt: seqKey(seq) }))
      out.push({ size: Number.parseInt(key, 16), note: Buffer.from(note).toString('utf8') })
    return out
  }

  forget(): void {
    this.leaves = []
    this.levels = [this.leaves]
  }
}

/**
 * A FeedSource over a FeedLedger's own store (the feed's sublevels at its root).
 * With `memo`, the caller must call forgetSealed() whenever the ledger seals more.
 */
export function ownFeedSource(
  store: LedgerStore,
  feed: string,
  options: { memo?: boolean; hasher?: Hasher } = {}
): FeedSource {
  return new FeedSource(store, feed, feedSublevels(store), options)
}
