/**
 * The replicator runs the planner's decisions over /fleet/ledger-sync/1: it serves pulls, hears
 * announces and pushes, pulls from peers that hold more (Puller), and announces feeds that grew
 * here. Every batch is verified before it is stored (ReplicaStore), and what the owner's feed says
 * (revocations, policy, epochs) or a peer's alert means is handed to membership. What it does is
 * reported, as it happens, to `onEvent` (ReplicationEvent).
 */
import type { Connection, Stream } from '@libp2p/interface'
import {
  EquivocationDetectedError,
  ReplicaRejectedError,
  withSignaturesOf,
  parseCheckpoint,
  verifyCheckpoint,
  type SyncBatch,
  type FeedSource
} from '../../ledger/index.js'
import { FramedStream, OVER_RELAYS, type FleetNode } from '../../p2p/index.js'
import type { Random } from '../../common/index.js'
import type { Logger } from '../ops/index.js'
import { Gossip, ANTI_ENTROPY_PEERS, PUSH_MAX_ENTRIES, type AnnounceTarget } from './gossip.js'
import type { Push } from './announcer.js'
import { ledgerFeedServer, type OwnFeedServer } from './own-feed-server.js'
import {
  LEDGER_SYNC_PROTOCOL,
  readOpening,
  readNextAnnounce,
  encodeBatch,
  type Announce,
  type Announcement
} from './messages.js'
import { SYNC_PROTOCOL_LIMITS } from './limits.js'
import {
  announceKind,
  feedsDue,
  headsToTell,
  isFleetFeed,
  pickRandom,
  planAnnounce,
  receive,
  shouldPull,
  upToCut
} from './planner.js'
import { Puller } from './puller.js'
import { servePeerPull } from './pull-server.js'
import { applyPeerBatch, type PeerBatchTargets } from './peer-batch.js'
import type { ReplicationEvent } from './events.js'

/** The replicator's parts: what a peer's batch acts on (PeerBatchTargets), and the rest. */
export interface ReplicatorComponents extends PeerBatchTargets {
  node: FleetNode
  /** Whether a peer holds a trusted verdict now. */
  attested: (peerId: string) => boolean
  /** The own feed, as its sealed part is served. */
  ownSource: FeedSource
  /** How the own feed is served and announced (default: ledgerFeedServer(ownSource)). */
  ownServer?: OwnFeedServer
  random: Random
  logger?: Logger
}

export interface ReplicatorInit {
  /** The own feed's id (the device's). */
  feedId: string
  /** The size of the own feed's sealed part now. */
  sealedSize: () => number
  /** Anti-entropy: a pull from a few attested peers this often (default 5 s). */
  syncIntervalMs?: number
  /** Told what replication did, as it happens (see ReplicationEvent). */
  onEvent?: (event: ReplicationEvent) => void
}

export class Replicator {
  private readonly c: ReplicatorComponents
  private readonly init: ReplicatorInit
  private readonly server: OwnFeedServer
  private readonly puller: Puller
  private readonly changed = new Set<string>()
  /** The largest size announced per feed, for the sync-lag metric. */
  private readonly announcedSizes = new Map<string, number>()
  private readonly gossip: Gossip
  private timers: NodeJS.Timeout[] = []
  private lastSealed = 0
  private stopped = false

  constructor(components: ReplicatorComponents, init: ReplicatorInit) {
    this.c = components
    this.init = init
    this.server = components.ownServer ?? ledgerFeedServer(components.ownSource)
    this.gossip = new Gossip(
      async (connection) => this.framed(await connection.newStream(LEDGER_SYNC_PROTOCOL, OVER_RELAYS)),
      {
        idleMs: SYNC_PROTOCOL_LIMITS.announceIdleMs / 2,
        allowed: (peerId) => components.attested(peerId),
        random: components.random.fraction,
        clock: components.clock
      }
    )
    this.puller = new Puller(components, {
      ownerFeed: components.membership.ownerFeed,
      open: async (connection) => this.framed(await connection.newStream(LEDGER_SYNC_PROTOCOL, OVER_RELAYS)),
      heads: async () => await this.heads(),
      held: async (feed) => await this.held(feed),
      apply: async (batch, peerId) => {
        await this.applyBatch(batch, peerId)
      },
      onEvent: init.onEvent
    })
  }

  /** Since start: pulls asked for (on attestation, announce or anti-entropy; one already running counts too). */
  get counts(): { readonly pullsAsked: number } {
    return this.puller.counts
  }

  private get known(): { ownFeed: string; ownerFeed: string; isMember: (feed: string) => boolean } {
    const membership = this.c.membership
    return {
      ownFeed: this.init.feedId,
      ownerFeed: membership.ownerFeed,
      isMember: (feed) => membership.member(feed) !== undefined
    }
  }

  /** Serves pulls and hears announces; announces growth and pulls for anti-entropy on timers. */
  async start(): Promise<void> {
    const { node } = this.c
    await node.handle(
      LEDGER_SYNC_PROTOCOL,
      async (stream: Stream, connection: Connection) => {
        await this.serve(stream, connection)
      },
      { maxInboundStreams: 4, ...OVER_RELAYS }
    )
    node.addEventListener('peer:disconnect', (evt) => {
      this.gossip.forget(evt.detail.toString())
    })
    this.lastSealed = this.init.sealedSize()
    this.timers.push(
      setInterval(() => {
        void this.tick().catch((err: unknown) => {
          if (!this.stopped) this.c.logger?.warn({ err: (err as Error).message }, 'announce failed')
        })
      }, 100)
    )
    // Anti-entropy: a pull from a few attested peers each interval, in turn (a pull also follows
    // every attestation and every announce of something not held).
    this.timers.push(
      setInterval(() => {
        const attested = node
          .getConnections()
          .map((c) => c.remotePeer.toString())
          .filter((peerId) => this.c.attested(peerId))
        const chosen = pickRandom(attested, ANTI_ENTROPY_PEERS, this.c.random.fraction)
        for (const peerId of chosen) void this.puller.pullFrom(peerId)
      }, this.init.syncIntervalMs ?? 5_000)
    )
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.puller.stop()
    for (const timer of this.timers) clearInterval(timer)
    await this.c.node.unhandle(LEDGER_SYNC_PROTOCOL).catch(() => undefined)
  }

  /** Entries announced by peers that are not held here yet, summed over feeds. */
  async syncLag(): Promise<number> {
    const heads = await this.heads()
    let lag = 0
    for (const [feed, size] of this.announcedSizes) lag += Math.max(0, size - (heads.get(feed) ?? 0))
    return lag
  }

  /** Sizes of every feed held: the own feed (sealed part) and the replicas (a revoked device's up to its cut). */
  async heads(): Promise<Map<string, number>> {
    return headsToTell(await this.c.replicas.feeds(), (feed) => this.c.membership.cutOf(feed), {
      feed: this.init.feedId,
      sealed: this.init.sealedSize()
    })
  }

  /** How much of one feed is held (as in heads()); 0 for a feed that is not the fleet's. */
  private async held(feed: string): Promise<number> {
    if (feed === this.init.feedId) return this.init.sealedSize()
    if (!isFleetFeed(feed, this.known)) return 0
    return upToCut((await this.c.replicas.meta(feed)).size, this.c.membership.cutOf(feed))
  }

  private framed(stream: Stream): FramedStream {
    return new FramedStream(stream, {
      maxBytes: SYNC_PROTOCOL_LIMITS.maxFrameBytes,
      timeoutMs: SYNC_PROTOCOL_LIMITS.stepTimeoutMs
    })
  }

  /** Announces feeds that grew (the own feed after a checkpoint, replicas after a batch or a cosignature) to attested peers. */
  private async tick(): Promise<void> {
    const { witnessing, membership } = this.c
    const sealed = this.init.sealedSize()
    if (sealed !== this.lastSealed) {
      this.lastSealed = sealed
      this.c.ownSource.forgetSealed()
      this.changed.add(this.init.feedId)
    }
    for (const feed of [...witnessing.cosignDue]) if (await this.cosign(feed)) this.changed.add(feed)
    if (this.changed.size === 0 || this.stopped) return
    const kindOf = (feed: string): ReturnType<typeof announceKind> =>
      announceKind(feed, this.known, witnessing.cosignedSinceAnnounce)
    const now = this.c.clock.now()
    const feeds = feedsDue(this.changed, kindOf, (feed) => this.gossip.relayDue(feed, now))
    for (const feed of feeds) this.changed.delete(feed)
    for (const feed of feeds) await this.cosign(feed)
    const heads = await this.heads()
    // The checkpoint goes with every announce (peers compare it with theirs), with this agent's own
    // cosignature when it just added one; the other witnesses' travel with their own announces and
    // with batches. An announce so stays one or two signature pairs, however many witnesses signed.
    const peers = this.c.node.getConnections().filter((c) => this.c.attested(c.remotePeer.toString()))
    const pushes = new Map<number, Promise<Push | undefined>>()
    for (const feed of feeds) {
      const own = feed === this.init.feedId
      const source = witnessing.sourceOf(feed)
      const checkpoint = await source.sealed()
      // The own feed is announced at the size of the checkpoint that goes with it (the ledger may
      // have sealed more since), so that its push ends where the announce says.
      const size = own && checkpoint !== undefined ? checkpoint.size : (heads.get(feed) ?? 0)
      const cosigned = witnessing.cosignedSinceAnnounce.delete(feed)
      const note =
        checkpoint === undefined || checkpoint.note === ''
          ? ''
          : withSignaturesOf(checkpoint.note, cosigned ? [feed, this.init.feedId] : [feed])
      const plan = planAnnounce({
        feed,
        size,
        note,
        cosigned,
        push: own && this.server.pushes,
        pushMaxEntries: PUSH_MAX_ENTRIES,
        peers: peers.map((c) => c.remotePeer.toString()),
        peerHeads: this.gossip.peerHeads,
        override: own ? this.server.announced : undefined
      })
      const targets: AnnounceTarget[] = []
      for (const planned of plan) {
        const connection = peers.find((c) => c.remotePeer.toString() === planned.peerId)!
        let push: Push | undefined
        if (planned.pushFrom !== undefined) {
          const from = planned.pushFrom
          if (!pushes.has(from)) pushes.set(from, this.pushFrom(from, planned.size))
          push = await pushes.get(from)
          // Taken as held: the next push starts here (one that finds a gap makes the peer pull).
          if (push !== undefined) this.gossip.peerHeads.learn(planned.peerId, [[feed, planned.size]])
        }
        targets.push({ connection, size: planned.size, note: planned.note, push })
      }
      const writer = membership.member(feed)?.peerId
      this.gossip.announce(
        feed,
        cosigned ? 'cosignature' : kindOf(feed),
        targets,
        writer === undefined ? undefined : { peerId: writer, attested: this.c.attested(writer) }
      )
    }
  }

  /** Witnessing's cosign of a feed; onEvent hears of it once nothing is left due for a peer's feed. */
  private async cosign(feed: string): Promise<boolean> {
    const cosigned = await this.c.witnessing.cosign(feed)
    if (feed !== this.init.feedId && !this.c.witnessing.cosignDue.has(feed)) {
      this.init.onEvent?.({ type: 'cosign-decided', feed, cosigned })
    }
    return cosigned
  }

  /** The own feed's entries from `from`, as a push frame ending at `size` (undefined when the ledger holds another end). */
  private async pushFrom(from: number, size: number): Promise<Push | undefined> {
    const batch = await this.c.ownSource.batch(from)
    return batch === undefined || batch.from + batch.entries.length !== size
      ? undefined
      : { from, frame: encodeBatch(batch) }
  }

  /**
   * A peer holds this much of a feed: pull if behind, and check its checkpoint against the copy
   * here. A push is first verified and stored like a pulled batch; when it does not continue what
   * is held here, the peer is pulled from.
   */
  private async onAnnounce(peerId: string, message: Announcement): Promise<void> {
    const attested = this.c.attested(peerId)
    // What is held matters only for a push from an attested peer (strangers cost no lookup).
    const held = attested && message.t === 'push' ? await this.held(message.batch.feed) : 0
    const decision = receive(message, { attested }, this.c.membership.ownerFeed, held)
    if (decision.action === 'ignore') {
      this.init.onEvent?.({ type: 'announce-dropped', peerId })
      return
    }
    if (decision.action === 'owner-announce') {
      const taken = await this.onOwnerAnnounce(peerId, decision.announce)
      if (!taken) this.init.onEvent?.({ type: 'announce-dropped', peerId })
      return
    }
    const { announce } = decision
    this.gossip.peerHeads.learn(peerId, [[announce.feed, announce.size]])
    if (
      announce.size > (this.announcedSizes.get(announce.feed) ?? 0) &&
      this.announcedSizes.size < SYNC_PROTOCOL_LIMITS.maxFeedsAnnounced
    ) {
      this.announcedSizes.set(announce.feed, announce.size)
    }
    if (decision.applyPush !== undefined) await this.applyBatch(decision.applyPush, peerId)
    if (shouldPull(announce, await this.held(announce.feed))) void this.puller.pullFrom(peerId)
    await this.c.witnessing.checkAnnounced(announce.feed, announce.checkpoint, peerId)
  }

  /**
   * The owner hands its feed over without attesting (it has no enrolment, and a fresh key each
   * time): an unattested peer's announce of the owner's feed is taken only with a checkpoint the
   * owner's key signed, newer than the copy here. Then that feed alone is pulled, saying only how
   * much of it is held: no other feed's size, no member ids. Returns whether it was taken.
   */
  private async onOwnerAnnounce(peerId: string, announce: Announce): Promise<boolean> {
    const owner = this.c.membership.ownerFeed
    const trust = this.c.membership.trustFor(owner)
    if (trust === undefined || announce.checkpoint.length === 0) return false
    try {
      const checkpoint = verifyCheckpoint(parseCheckpoint(announce.checkpoint), { name: owner, key: trust.feedKey })
      if (checkpoint.body.size <= (await this.held(owner))) return false
    } catch (err) {
      this.c.logger?.debug(
        { peerId, err: (err as Error).message },
        'an unattested peer announced an owner checkpoint that does not verify'
      )
      return false
    }
    await this.puller.pullOwnerFeed(peerId)
    return true
  }

  private async serve(stream: Stream, connection: Connection): Promise<void> {
    const framed = this.framed(stream)
    const peerId = connection.remotePeer.toString()
    const { node } = this.c
    try {
      const opening = await readOpening(framed)
      if (opening.t !== 'pull') {
        // Peers keep the stream open and send every announce (and push) on it.
        for (
          let announce: Announcement | undefined = opening;
          announce !== undefined && node.getConnections(connection.remotePeer).length > 0;
          announce = await readNextAnnounce(framed, SYNC_PROTOCOL_LIMITS.announceIdleMs)
        ) {
          await this.onAnnounce(peerId, announce)
        }
        await framed.close()
        return
      }
      await servePeerPull(framed, peerId, opening, {
        ...this.c,
        connected: () => node.getConnections(connection.remotePeer).length > 0,
        peerHeads: this.gossip.peerHeads,
        server: this.server,
        known: this.known
      })
    } catch (err) {
      this.c.logger?.debug({ peerId, err: (err as Error).message }, 'sync stream failed')
      framed.abort(err as Error)
    }
  }

  /** Pulls what an attested peer holds more of (see Puller.pullFrom). */
  async pullFrom(peerId: string): Promise<void> {
    await this.puller.pullFrom(peerId)
  }

  private async applyBatch(batch: SyncBatch, peerId: string): Promise<void> {
    if (batch.feed === this.init.feedId) return
    // The server holds at least what it sent: no need to announce that much to it.
    this.gossip.peerHeads.learn(peerId, [[batch.feed, batch.from + batch.entries.length]])
    try {
      await applyPeerBatch(batch, peerId, this.c, {
        grew: () => this.changed.add(batch.feed),
        onEvent: this.init.onEvent
      })
    } catch (err) {
      // A batch that does not extend the history held here: the peer is shown that history (Gossip.showHeld).
      const connection = this.c.node.getConnections().find((c) => c.remotePeer.toString() === peerId)
      if (
        err instanceof ReplicaRejectedError &&
        !(err instanceof EquivocationDetectedError) &&
        connection !== undefined
      )
        await this.gossip.showHeld(
          connection,
          batch.feed,
          this.c.clock.now(),
          async () => await this.c.replicas.source(batch.feed).sealed()
        )
      throw err
    }
  }
}
