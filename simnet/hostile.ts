/**
 * Test-only hostile behaviour for simnet agents and the suite (never part of `fleet run`).
 *
 * `Equivocator`: a device that signs two histories of its own feed with its real keys. At fork(),
 * it signs a checkpoint over an alternative entry at the next position (same epoch), then appends
 * an honest entry there; the chosen victims are served and announced the fork, everyone else the
 * honest history. Honest agents must find the contradiction (in a batch or an announced
 * checkpoint), quarantine the device everywhere and record alert.equivocation with evidence.
 */
import type { HybridSigner } from '../src/identity/index.js'
import {
  decodeEntry, encodeEntry, entryHash, leafHash, subtreeRoot, signCheckpoint, parseCheckpoint, type SyncBatch, type Entry
} from '../src/ledger/index.js'
import type { AgentRuntime, RuntimeHooks } from '../src/agent/index.js'

export class Equivocator {
  private victims = new Set<string>()
  private fork: { size: number, entries: Uint8Array[], note: string } | undefined
  private feed = ''
  /** Pass to AgentRuntime.start. */
  readonly hooks: RuntimeHooks = {
    ownBatch: async (peerId, from) => {
      const fork = this.fork
      if (fork === undefined || !this.victims.has(peerId)) return null
      if (from >= fork.size) return undefined
      return { feed: this.feed, from, entries: fork.entries.slice(from), checkpoint: fork.note, proof: [] } satisfies SyncBatch
    },
    ownAnnounce: (peerId) => {
      const fork = this.fork
      if (fork === undefined || !this.victims.has(peerId)) return undefined
      return { size: fork.size, checkpoint: fork.note }
    }
  }

  /**
   * Signs the fork and appends the honest entry at the same position. `victims` are PeerIds.
   * Returns the size of the forked checkpoint.
   */
  async equivocate (runtime: AgentRuntime, signer: HybridSigner, victims: Iterable<string>): Promise<number> {
    const ledger = runtime.feed.ledger
    await ledger.checkpoint()
    const size = ledger.sealedSize
    if (size === 0) throw new Error('the equivocator needs a sealed entry to fork after')
    const latest = parseCheckpoint((await ledger.latestCheckpoint())!)
    const entries: Uint8Array[] = []
    for (let seq = 0; seq < size; seq++) entries.push((await ledger.getEntry(seq))!)
    const last: Entry = decodeEntry(entries[size - 1]!).entry
    const forged: Entry = {
      ...last,
      seq: size,
      prev: entryHash(entries[size - 1]!),
      time: Date.now(),
      type: 'operator.data_access',
      actor: { id: 'operator/mallory', role: 'operator' },
      attest: null,
      body: { resource: 'the-other-history', purpose: 'equivocation' }
    }
    entries.push(encodeEntry(forged))
    const root = subtreeRoot(entries.map(leafHash), 0, size + 1)
    const note = await signCheckpoint({ ...latest.body, size: size + 1, root, peers: [] }, signer, latest.body.origin.slice(latest.body.origin.lastIndexOf('/') + 1))
    this.feed = last.feed
    this.victims = new Set(victims)
    this.fork = { size: size + 1, entries, note }
    // The honest history takes the same position with another entry.
    await ledger.append({ type: 'operator.data_access', actor: { id: 'operator/alice', role: 'operator' }, attest: null, body: { resource: 'the-honest-history', purpose: 'equivocation' } })
    await ledger.checkpoint()
    return size + 1
  }

  get forkNote (): string | undefined { return this.fork?.note }
}
