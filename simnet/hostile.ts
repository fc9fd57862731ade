/**
 * Test-only hostile behaviour for simnet agents and the suite (never part of `fleet run`).
 *
 * `Equivocator`: a device that signs two histories of its own feed with its real keys. At fork(),
 * it signs a checkpoint over an alternative entry at the next position (in its epoch, or another), then appends
 * an honest entry there; the chosen victims are served and announced the fork, everyone else the
 * honest history. Honest agents must find the contradiction (in a batch or an announced
 * checkpoint), quarantine the device everywhere and record alert.equivocation with evidence.
 *
 * `QuoteRelay`: a TPM that answers later challenges with a quote made for an earlier session.
 * `HostileServer` and `attacks`: wrong batches, oversized and half-sent frames, floods, false alerts.
 */
import { randomBytes } from 'node:crypto'
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import { HybridSigner, softwareP256Signer, nodeMlDsa65 } from '../src/identity/index.js'
import {
  decodeEntry,
  encodeEntry,
  entryHash,
  leafHash,
  subtreeRoot,
  signCheckpoint,
  parseCheckpoint,
  ownFeedSource,
  encodeEvidence,
  type SyncBatch,
  type Entry,
  type FeedSource
} from '../src/ledger/index.js'
import { LEDGER_SYNC_PROTOCOL, sendAnnounce, type Agent, type OwnFeedServer } from '../src/agent/index.js'
import { FramedStream } from '../src/p2p/index.js'
import type { AttestResult, Tpm } from '../src/attest/index.js'
import { base32 } from '../src/common/index.js'

export class Equivocator {
  private victims = new Set<string>()
  private fork: { size: number; entries: Uint8Array[]; note: string } | undefined
  private feed = ''
  /** How much of the honest history each peer (PeerId) was served, and who waits for that to grow. */
  private readonly served = new Map<string, number>()
  private readonly servedWaiters = new Set<() => void>()
  /** The agent's ownFeedServer component: the fork to the victims, the held feed to everyone else. */
  readonly ownFeedServer = (held: FeedSource): OwnFeedServer => ({
    pushes: false,
    batch: async (peerId, from) => {
      const fork = this.fork
      if (fork === undefined || !this.victims.has(peerId)) {
        const batch = await held.batch(from)
        // Nothing past `from`: the peer holds all that is sealed.
        if (fork === undefined) {
          this.servedHonestly(peerId, batch === undefined ? from : batch.from + batch.entries.length)
        }
        return batch
      }
      if (from >= fork.size) return undefined
      return {
        feed: this.feed,
        from,
        entries: fork.entries.slice(from),
        checkpoint: fork.note,
        proof: []
      } satisfies SyncBatch
    },
    announced: (peerId) => {
      const fork = this.fork
      if (fork === undefined || !this.victims.has(peerId)) return undefined
      return { size: fork.size, checkpoint: fork.note }
    }
  })

  /**
   * Signs the fork (in `epoch`: default the feed's own) and appends the honest entry at the same position. `victims` are PeerIds.
   * Returns the size of the forked checkpoint.
   */
  async equivocate(
    runtime: Agent,
    signer: HybridSigner,
    victims: Iterable<string>,
    options: { epoch?: number } = {}
  ): Promise<number> {
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
      type: 'alert.tamper',
      actor: { id: `agent/${last.feed}`, role: 'agent' },
      attest: null,
      body: { subject: last.feed, pcr: 7, detail: 'the-other-history' }
    }
    entries.push(encodeEntry(forged))
    const root = subtreeRoot(entries.map(leafHash), 0, size + 1)
    const note = await signCheckpoint(
      { ...latest.body, size: size + 1, root, peers: [], epoch: options.epoch ?? latest.body.epoch },
      signer,
      latest.body.origin.slice(latest.body.origin.lastIndexOf('/') + 1)
    )
    this.feed = last.feed
    this.victims = new Set(victims)
    this.fork = { size: size + 1, entries, note }
    // The honest history takes the same position with another entry.
    await ledger.append({
      type: 'alert.tamper',
      actor: { id: `agent/${last.feed}`, role: 'agent' },
      attest: null,
      body: { subject: last.feed, pcr: 7, detail: 'the-honest-history' }
    })
    await ledger.checkpoint()
    return size + 1
  }

  get forkNote(): string | undefined {
    return this.fork?.note
  }

  private servedHonestly(peerId: string, size: number): void {
    if (size <= (this.served.get(peerId) ?? 0)) return
    this.served.set(peerId, size)
    for (const check of [...this.servedWaiters]) check()
  }

  /** Resolves once each of `peers` (PeerIds) was served the honest history up to `size`, before any fork. */
  async whenServed(peers: readonly string[], size: number): Promise<void> {
    const done = (): boolean => peers.every((peerId) => (this.served.get(peerId) ?? 0) >= size)
    if (done()) return
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (!done()) return
        this.servedWaiters.delete(check)
        resolve()
      }
      this.servedWaiters.add(check)
    })
  }
}

/** How a HostileServer serves its own feed to pullers. */
export type ServeMode = 'honest' | 'forged-entry' | 'forged-checkpoint' | 'replay' | 'stall'

/**
 * Serves the hostile agent's own feed wrongly, by mode: an entry with a flipped byte, a checkpoint
 * signed by a key that is not the feed's, the first batch again whatever the puller holds, or the
 * right batch after a stall that lasts until the mode changes. Pullers must refuse (storing
 * nothing) or wait it out without holding up replication from others.
 */
export class HostileServer {
  private current: ServeMode = 'honest'
  /**
   * Told of each batch served wrongly, to whom and in which mode, as it is served (forged modes:
   * only when there is something to forge; 'stall': as the stall begins).
   */
  onServed: ((peerId: string, mode: ServeMode) => void) | undefined
  /** Ends the stalls of the current 'stall' mode (setMode calls it). */
  private release: () => void = () => {}
  private stalled: Promise<void> = Promise.resolve()
  private runtime: Agent | undefined
  private replayed: SyncBatch | undefined
  private readonly stranger = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32)))
  /** The agent's ownFeedServer component: the held feed while honest, else served wrongly by mode. */
  readonly ownFeedServer = (held: FeedSource): OwnFeedServer => ({
    pushes: false,
    batch: async (peerId, from) => {
      const runtime = this.runtime
      const mode = this.current
      if (runtime === undefined || mode === 'honest') return await held.batch(from)
      const source = ownFeedSource(runtime.feed.store, runtime.feed.ledger.feedId)
      if (mode === 'replay' || mode === 'stall') this.onServed?.(peerId, mode)
      if (mode === 'replay') return this.replayed
      if (mode === 'stall') {
        await this.stalled
        return await held.batch(from)
      }
      const batch = await source.batch(from)
      if (batch === undefined) return undefined
      this.onServed?.(peerId, mode)
      if (mode === 'forged-entry') {
        const entries = batch.entries.map((bytes) => new Uint8Array(bytes))
        const last = entries[entries.length - 1]!
        last[last.length - 1] = last[last.length - 1]! ^ 0x01
        return { ...batch, entries }
      }
      const parsed = parseCheckpoint(batch.checkpoint)
      return { ...batch, checkpoint: await signCheckpoint(parsed.body, this.stranger, runtime.feed.ledger.feedId) }
    }
  })

  attach(runtime: Agent): void {
    this.runtime = runtime
  }

  get mode(): ServeMode {
    return this.current
  }

  /**
   * Switches the mode, ending the stalls of 'stall' (their pullers get the right batch); 'replay'
   * serves, from then on, the first batch of the feed as it is now.
   */
  async setMode(mode: ServeMode): Promise<void> {
    if (mode === 'replay' && this.runtime !== undefined)
      this.replayed = await ownFeedSource(this.runtime.feed.store, this.runtime.feed.ledger.feedId).batch(0)
    this.release()
    if (mode === 'stall')
      this.stalled = new Promise((resolve) => {
        this.release = resolve
      })
    this.current = mode
  }
}

/** Resolves true when the other side closes or resets the stream within `ms`. */
async function cutOffWithin(stream: Stream, ms: number): Promise<boolean> {
  if (stream.status !== 'open') return true
  return await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => {
      resolve(false)
    }, ms)
    stream.addEventListener(
      'close',
      () => {
        clearTimeout(timer)
        resolve(true)
      },
      { once: true }
    )
  })
}

function varint(n: number): Uint8Array {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n = Math.floor(n / 128)
  }
  out.push(n)
  return Uint8Array.from(out)
}

/** Attacks an enrolled, attested hostile agent mounts on a peer over /fleet/ledger-sync/1 (test-only). */
export const attacks = {
  /** A frame announcing 1 GiB: the target must cut the stream off. Returns whether it did. */
  async oversizedFrame(node: Libp2p, target: PeerId): Promise<boolean> {
    const stream = await node.dialProtocol(target, LEDGER_SYNC_PROTOCOL)
    stream.send(varint(1 << 30))
    stream.send(randomBytes(4096))
    return await cutOffWithin(stream, 5_000)
  },

  /** Streams that send half a frame and then nothing: each must be cut off (or refused outright). */
  async slowLoris(
    node: Libp2p,
    target: PeerId,
    streams: number,
    waitMs: number
  ): Promise<{ opened: number; cutOff: number }> {
    const opened: Stream[] = []
    for (let i = 0; i < streams; i++) {
      try {
        const stream = await node.dialProtocol(target, LEDGER_SYNC_PROTOCOL)
        stream.send(varint(100))
        stream.send(randomBytes(10))
        opened.push(stream)
      } catch {
        // Refused at once (the target's per-connection stream limit): as good as cut off.
      }
    }
    const cut = await Promise.all(opened.map(async (stream) => await cutOffWithin(stream, waitMs)))
    return { opened: opened.length, cutOff: cut.filter(Boolean).length }
  },

  /** Announces of made-up feeds with huge sizes, `concurrency` streams at a time. Returns how many went out. */
  async announceFlood(node: Libp2p, target: PeerId, count: number, concurrency = 4): Promise<number> {
    let sent = 0
    let next = 0
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) {
          next++
          try {
            const stream = await node.dialProtocol(target, LEDGER_SYNC_PROTOCOL)
            const framed = new FramedStream(stream)
            const feed = base32(randomBytes(32)).slice(0, 52)
            await sendAnnounce(framed, feed, 2 ** 40, '')
            sent++
          } catch {
            // A refused stream is part of the target's defence.
          }
        }
      })
    )
    return sent
  },

  /**
   * Records an alert.equivocation against an honest device whose evidence proves nothing: two of
   * its real checkpoints (consistent) with a made-up prefix root and proof.
   */
  async falseAccusation(runtime: Agent, accused: string): Promise<void> {
    const notes = await runtime.replicas.source(accused).checkpointsCovering(0)
    if (notes.length < 2) throw new Error('need two checkpoints of the accused')
    const evidence = encodeEvidence({
      v: 1,
      feed: accused,
      first: notes[0]!.note,
      second: notes[notes.length - 1]!.note,
      prefixRoot: randomBytes(32),
      proof: [randomBytes(32)]
    })
    await runtime.feed.ledger.append({
      type: 'alert.equivocation',
      actor: { id: `agent/${runtime.feed.ledger.feedId}`, role: 'agent' },
      attest: null,
      body: { feed: accused, epoch: 1, evidence }
    })
    await runtime.feed.ledger.checkpoint()
  }
}

/**
 * A TPM whose quotes, once armed, are the first one it made: a quote from another session (another
 * nonce, another verifier) presented again. Verifiers must refuse it.
 */
export class QuoteRelay {
  armed = false
  private recorded: AttestResult | undefined

  wrap(tpm: Tpm): Tpm {
    return new Proxy(tpm, {
      get: (target, property, receiver) => {
        if (property !== 'quote') {
          const value = Reflect.get(target, property, receiver) as unknown
          return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
        }
        return async (...args: Parameters<Tpm['quote']>): Promise<AttestResult> => {
          if (this.armed && this.recorded !== undefined) return this.recorded
          const quote = await target.quote(...args)
          this.recorded ??= quote
          return quote
        }
      }
    })
  }
}
