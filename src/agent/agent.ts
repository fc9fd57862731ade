import type { Connection, Stream } from '@libp2p/interface'
import { randomBytes } from 'node:crypto'
import {
  decodeEntry, ReplicaStore, ownFeedSource, EquivocationDetectedError, ReplicaRejectedError, withSignaturesOf, parseCheckpoint, verifyCheckpoint, type SyncBatch
} from '../ledger/index.js'
import type { HybridSigner } from '../identity/index.js'
import { createFleetNode, FramedStream, type FleetNode } from '../p2p/index.js'
import { AttestationService } from './attestation/service.js'
import { deviceSigner } from './device/identity.js'
import { openOwnFeed, type OpenedLedger } from './feeds/own-feed.js'
import { Membership } from './membership/members.js'
import { fleetServiceTag, type AgentRuntimeInit } from './components.js'
import { Witnessing, quarantineSublevel } from './membership/witnessing.js'
import { applyOwnerStatements, applyRevocationAlert, adoptOwnEpoch, provenRevocation, type OwnerStatementTargets } from './membership/owner-statements.js'
import { MemberRecords } from './membership/member-records.js'
import { Gossip, pickRandom, ANTI_ENTROPY_PEERS, PUSH_MAX_ENTRIES, type AnnounceKind, type AnnounceTarget } from './replication/gossip.js'
import { LEDGER_SYNC_PROTOCOL, SYNC_PROTOCOL_LIMITS, SyncProtocolError, readOpening, readNextAnnounce, servePull, pull, encodeBatch, membersToSend, type Announce, type Announcement } from './replication/messages.js'
import type { Push } from './replication/announcer.js'

/**
 * An enrolled agent at work: its libp2p node (gated), mutual attestation of every connection, its
 * own feed, replicas of every other feed of the fleet (verified before storing), and replication
 * (pull on attestation and periodically, announce on growth). Revocations in the owner's feed hang
 * up and refuse the device; an equivocating feed is quarantined and an alert recorded.
 */
export class AgentRuntime {
  readonly node: FleetNode
  readonly attestation: AttestationService
  readonly feed: OpenedLedger
  readonly replicas: ReplicaStore
  readonly membership: Membership
  private readonly init: AgentRuntimeInit
  private readonly feedId: string
  private readonly pulling = new Map<string, { again: boolean }>()
  private readonly changed = new Set<string>()
  private timers: NodeJS.Timeout[] = []
  private lastSealed = 0
  private readonly ownSource
  /** The owner-signed enrolment records held (kept across restarts). */
  readonly members: MemberRecords
  private readonly quarantineStore
  private readonly witnessing: Witnessing
  private stopped = false
  private readonly blocked = new Set<string>()
  /** The largest size announced per feed, for the sync-lag metric. */
  private readonly announced = new Map<string, number>()
  private readonly gossip = new Gossip(async (connection) => this.framed(await connection.newStream(LEDGER_SYNC_PROTOCOL)), {
    idleMs: SYNC_PROTOCOL_LIMITS.announceIdleMs / 2,
    allowed: (peerId) => this.attestation.attested(peerId)
  })
  private pullTurn: Promise<void> = Promise.resolve()

  private constructor (init: AgentRuntimeInit, node: FleetNode, attestation: AttestationService, feed: OpenedLedger, membership: Membership, signer: HybridSigner) {
    this.init = init
    this.node = node
    this.attestation = attestation
    this.feed = feed
    this.membership = membership
    this.replicas = new ReplicaStore(feed.db, { hasher: init.hasher })
    this.feedId = init.state.deviceId
    this.ownSource = ownFeedSource(feed.db, this.feedId, { memo: true, hasher: init.hasher })
    this.members = new MemberRecords(membership, feed.db)
    this.quarantineStore = quarantineSublevel(feed.db)
    this.witnessing = new Witnessing({
      feedId: this.feedId, signer, membership, replicas: this.replicas, ownSource: this.ownSource, feed, attestation,
      quarantineStore: this.quarantineStore, init: { ...(init.cosignIntervalMs === undefined ? {} : { cosignIntervalMs: init.cosignIntervalMs }), ...(init.witnessesPerFeed === undefined ? {} : { witnessesPerFeed: init.witnessesPerFeed }), ...(init.logger === undefined ? {} : { logger: init.logger }) }
    })
  }

  /** The fleet devices whose cosignature on the newest checkpoint of the own feed verifies. */
  async witnessedBy (): Promise<string[]> { return await this.witnessing.witnessedBy() }

  /** Peers' feeds this agent will cosign once they have been quiet long enough (0: witnessing has caught up). */
  get cosignsDue (): number { return this.witnessing.cosignDue.size }

  static async start (init: AgentRuntimeInit): Promise<AgentRuntime> {
    const membership = new Membership(init.enrolment)
    let attestation: AttestationService | undefined
    let runtime: AgentRuntime | undefined
    const node = await createFleetNode({
      privateKey: init.device.peerKey,
      admission: { allows: (peerId) => (runtime === undefined || !runtime.isBlocked(peerId)) && (attestation?.admission.allows(peerId) ?? false) },
      listen: init.listen,
      mdns: init.mdns ?? true,
      serviceTag: init.serviceTag ?? fleetServiceTag(init.enrolment.fleetId),
      // Discovery events come once per peer: listeners are attached before the node starts.
      start: false
    })
    const signer = deviceSigner(init.tpm, init.device)
    const feed = await openOwnFeed({ dir: init.dir, tpm: init.tpm, signer, fleetId: init.enrolment.fleetId, feedId: init.state.deviceId, hasher: init.hasher, ...(init.batchMs === undefined ? {} : { batchMs: init.batchMs }), ...(init.batchEntries === undefined ? {} : { batchEntries: init.batchEntries }), ...(init.routineBatchMs === undefined ? {} : { routineBatchMs: init.routineBatchMs }) })
    attestation = new AttestationService({
      node,
      ledger: feed.ledger,
      ...(init.logger === undefined ? {} : { logger: init.logger }),
      ...(init.attestIntervalMs === undefined ? {} : { intervalMs: init.attestIntervalMs }),
      ...(init.attestDeadlineMs === undefined ? {} : { deadlineMs: init.attestDeadlineMs }),
      self: { tpm: init.tpm, state: init.state, enrolment: init.enrolment, eventLog: init.eventLog, random: randomBytes, policy: () => membership.policy },
      isExcluded: (deviceId) => membership.isRevoked(deviceId) || membership.isQuarantined(deviceId),
      onAttested: (peerId, signed, record) => {
        if (membership.addRecord(record, signed)) void runtime?.members.save(signed)
        void runtime?.pullFrom(peerId)
      },
      ...(init.onPeersChange === undefined ? {} : { onChange: init.onPeersChange })
    })
    runtime = new AgentRuntime(init, node, attestation, feed, membership, signer)
    await runtime.begin()
    return runtime
  }

  private async begin (): Promise<void> {
    // Members learned earlier (each record re-verified), then what the owner's feed says.
    await this.members.load(this.init.logger)
    // Quarantines decided earlier (each piece of evidence re-verified), then the owner's statements,
    // which may clear some of them.
    await this.witnessing.loadQuarantines()
    for await (const bytes of this.replicas.entries(this.membership.ownerFeed)) {
      const { released } = this.membership.applyOwnerEntry(decodeEntry(bytes).entry)
      if (released !== undefined) await this.quarantineStore.del(released)
    }
    // Revocations proved by peers from another branch of the owner's feed.
    for (const revocation of await this.members.loadRevocations((alert) => provenRevocation(alert, this.membership), this.init.logger)) this.membership.applyOwnerEntry(revocation)
    await adoptOwnEpoch(this.ownerTargets())
    // The owner's newest policy and ontology, as its feed held here says.
    if (this.membership.policy !== this.init.enrolment.policy) this.attestation.setPolicy(this.membership.policy)
    this.feed.ledger.useOntology(this.membership.ontology)
    await this.node.handle(LEDGER_SYNC_PROTOCOL, async (stream: Stream, connection: Connection) => { await this.serve(stream, connection) }, { maxInboundStreams: 4 })
    await this.attestation.start()
    const self = this.node.peerId.toString()
    this.node.addEventListener('peer:discovery', (evt) => {
      const peer = evt.detail.id
      if (self < peer.toString() && this.node.getConnections(peer).length === 0 && this.attestation.admission.allows(peer.toString())) {
        void this.node.dial(peer).catch((err: unknown) => this.init.logger?.debug({ peer: peer.toString(), err: (err as Error).message }, 'dial failed'))
      }
    })
    this.node.addEventListener('peer:disconnect', (evt) => { this.gossip.forget(evt.detail.toString()) })
    await this.node.start()
    this.lastSealed = this.feed.ledger.sealedSize
    this.timers.push(setInterval(() => { void this.tick().catch((err: unknown) => { if (!this.stopped) this.init.logger?.warn({ err: (err as Error).message }, 'announce failed') }) }, 100))
    // Anti-entropy: a pull from a few attested peers each interval, in turn (a pull also follows
    // every attestation and every announce of something not held).
    this.timers.push(setInterval(() => {
      const attested = this.node.getConnections().map((c) => c.remotePeer.toString()).filter((peerId) => this.attestation.attested(peerId))
      for (const peerId of pickRandom(attested, ANTI_ENTROPY_PEERS)) void this.pullFrom(peerId)
    }, this.init.syncIntervalMs ?? 5_000))
  }

  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    for (const timer of this.timers) clearInterval(timer)
    await this.attestation.stop()
    await this.node.unhandle(LEDGER_SYNC_PROTOCOL).catch(() => undefined)
    await this.node.stop()
    await this.feed.close()
  }

  /** Keeps a peer out until unblock (operator maintenance; simnet partitions). */
  block (peerId: string): void { this.blocked.add(peerId) }
  unblock (peerId: string): void { this.blocked.delete(peerId) }
  isBlocked (peerId: string): boolean { return this.blocked.has(peerId) }

  /** Entries announced by peers that are not held here yet, summed over feeds. */
  async syncLag (): Promise<number> {
    const heads = await this.heads()
    let lag = 0
    for (const [feed, size] of this.announced) lag += Math.max(0, size - (heads.get(feed) ?? 0))
    return lag
  }

  /** How much of one feed is held (as in heads()). */
  private async held (feed: string): Promise<number> {
    if (feed === this.feedId) return this.feed.ledger.sealedSize
    // Only feeds of the fleet are looked up (a peer may announce any name).
    if (feed !== this.membership.ownerFeed && this.membership.member(feed) === undefined) return 0
    return this.upToCut(feed, (await this.replicas.meta(feed)).size)
  }

  /** Sizes of every feed held: the own feed (sealed part) and the replicas. */
  async heads (): Promise<Map<string, number>> {
    const heads = await this.replicas.feeds()
    for (const [feed, size] of heads) heads.set(feed, this.upToCut(feed, size))
    heads.set(this.feedId, this.feed.ledger.sealedSize)
    return heads
  }

  /** A revoked device's feed counts only up to the owner's cut. */
  private upToCut (feed: string, size: number): number {
    return Math.min(size, this.membership.cutOf(feed) ?? size)
  }

  private framed (stream: Stream): FramedStream {
    return new FramedStream(stream, { maxBytes: SYNC_PROTOCOL_LIMITS.maxFrameBytes, timeoutMs: SYNC_PROTOCOL_LIMITS.stepTimeoutMs })
  }

  /** Announces feeds that grew (the own feed after a checkpoint, replicas after a batch or a cosignature) to attested peers. */
  private async tick (): Promise<void> {
    const sealed = this.feed.ledger.sealedSize
    if (sealed !== this.lastSealed) {
      this.lastSealed = sealed
      this.ownSource.forgetSealed()
      this.changed.add(this.feedId)
    }
    for (const feed of [...this.witnessing.cosignDue]) if (await this.witnessing.cosign(feed)) this.changed.add(feed)
    if (this.changed.size === 0 || this.stopped) return
    const kindOf = (feed: string): AnnounceKind => feed === this.feedId || feed === this.membership.ownerFeed ? 'all' : this.witnessing.cosignedSinceAnnounce.has(feed) ? 'cosignature' : 'relay'
    // A relay waits in `changed` until it is due (a feed growing in small steps is relayed once a second).
    const feeds = [...this.changed].filter((feed) => kindOf(feed) !== 'relay' || this.gossip.relayDue(feed))
    for (const feed of feeds) this.changed.delete(feed)
    for (const feed of feeds) await this.witnessing.cosign(feed)
    const heads = await this.heads()
    // The checkpoint goes with every announce (peers compare it with theirs), with this agent's own
    // cosignature when it just added one; the other witnesses' travel with their own announces and
    // with batches. An announce so stays one or two signature pairs, however many witnesses signed.
    const notes = new Map<string, string>()
    const cosigned = new Set<string>()
    for (const feed of feeds) {
      const sealed = await this.witnessing.sourceOf(feed).sealed()
      const note = sealed?.note ?? ''
      // The own feed is announced at the size of the checkpoint that goes with it (the ledger may
      // have sealed more since), so that its push ends where the announce says.
      if (feed === this.feedId && sealed !== undefined) heads.set(feed, sealed.size)
      if (this.witnessing.cosignedSinceAnnounce.delete(feed)) cosigned.add(feed)
      notes.set(feed, note === '' ? note : withSignaturesOf(note, cosigned.has(feed) ? [feed, this.feedId] : [feed]))
    }
    const connections = this.node.getConnections().filter((c) => this.attestation.attested(c.remotePeer.toString()))
    // The own feed goes to a peer a few entries behind as a push: the entries, from where it stands.
    const pushes = new Map<number, Promise<Push | undefined>>()
    const pushFrom = async (from: number, size: number): Promise<Push | undefined> => {
      const batch = await this.ownSource.batch(from)
      return batch === undefined || batch.from + batch.entries.length !== size ? undefined : { from, frame: encodeBatch(batch) }
    }
    for (const feed of feeds) {
      // The own feed is pushed (not when a test's hooks stand in for it).
      const own = feed === this.feedId && this.init.hooks === undefined
      const targets: AnnounceTarget[] = []
      for (const connection of connections) {
        const peerId = connection.remotePeer.toString()
        const hooked = feed === this.feedId ? this.init.hooks?.ownAnnounce?.(peerId) : undefined
        const size = hooked?.size ?? heads.get(feed) ?? 0
        // The peer holds as much already (it said so): nothing to tell it but a new cosignature.
        if (hooked === undefined && !cosigned.has(feed) && this.gossip.peerHeads.holds(peerId, feed, size)) continue
        // A peer that has not said yet where it stands (it has just attested) gets a small feed
        // whole: it keeps what it lacks, instead of pulling on an announce.
        const from = own ? this.gossip.peerHeads.of(peerId, feed) ?? (size <= PUSH_MAX_ENTRIES ? 0 : undefined) : undefined
        let push: Push | undefined
        if (from !== undefined && size > from && size - from <= PUSH_MAX_ENTRIES) {
          if (!pushes.has(from)) pushes.set(from, pushFrom(from, size))
          push = await pushes.get(from)
          // Taken as held: the next push starts here (one that finds a gap makes the peer pull).
          if (push !== undefined) this.gossip.peerHeads.learn(peerId, [[feed, size]])
        }
        targets.push({ connection, size, note: hooked?.checkpoint ?? notes.get(feed) ?? '', ...(push === undefined ? {} : { push }) })
      }
      const writer = this.membership.member(feed)?.peerId
      this.gossip.announce(feed, cosigned.has(feed) ? 'cosignature' : kindOf(feed), targets, writer === undefined ? undefined : { peerId: writer, attested: this.attestation.attested(writer) })
    }
  }

  /**
   * A peer holds this much of a feed: pull if behind, and check its checkpoint against the copy
   * here. A push is first verified and stored like a pulled batch; when it does not continue what
   * is held here, the peer is pulled from. Only an attested peer is heard: from any other (a
   * stranger, a device revoked or not yet judged) nothing is believed, learnt or pulled, but an
   * announce of the owner's feed with a newer owner-signed checkpoint (onOwnerAnnounce).
   */
  private async onAnnounce (peerId: string, a: Announcement): Promise<void> {
    if (!this.attestation.attested(peerId)) {
      if (a.t === 'announce' && a.feed === this.membership.ownerFeed) await this.onOwnerAnnounce(peerId, a)
      return
    }
    const announce: Announce = a.t === 'announce' ? a : { feed: a.batch.feed, size: a.batch.from + a.batch.entries.length, checkpoint: a.batch.checkpoint }
    this.gossip.peerHeads.learn(peerId, [[announce.feed, announce.size]])
    if (announce.size > (this.announced.get(announce.feed) ?? 0) && this.announced.size < 4096) this.announced.set(announce.feed, announce.size)
    if (a.t === 'push' && announce.size > await this.held(announce.feed)) await this.applyBatch(a.batch, peerId)
    if (announce.size > await this.held(announce.feed)) void this.pullFrom(peerId)
    await this.witnessing.checkAnnounced(announce.feed, announce.checkpoint, peerId)
  }

  /**
   * The owner hands its feed over without attesting (it has no enrolment, and a fresh key each
   * time): an unattested peer's announce of the owner's feed is taken only with a checkpoint the
   * owner's key signed, newer than the copy here. Then that feed alone is pulled, saying only how
   * much of it is held: no other feed's size, no member ids.
   */
  private async onOwnerAnnounce (peerId: string, announce: Announce): Promise<void> {
    const owner = this.membership.ownerFeed
    const trust = this.membership.trustFor(owner)
    if (trust === undefined || announce.checkpoint.length === 0) return
    try {
      const checkpoint = verifyCheckpoint(parseCheckpoint(announce.checkpoint), { name: owner, key: trust.feedKey })
      if (checkpoint.body.size <= await this.held(owner)) return
    } catch (err) {
      this.init.logger?.debug({ peerId, err: (err as Error).message }, 'an unattested peer announced an owner checkpoint that does not verify')
      return
    }
    await this.pullOwnerFeed(peerId)
  }

  /** Pulls the owner's feed, and nothing else, from a peer that need not be attested. */
  private async pullOwnerFeed (peerId: string): Promise<void> {
    const key = `owner-feed/${peerId}`
    if (this.pulling.has(key) || this.stopped) return
    const state = { again: false }
    this.pulling.set(key, state)
    const owner = this.membership.ownerFeed
    try {
      for (let round = 0; round < SYNC_PROTOCOL_LIMITS.maxOwnerFeedPulls; round++) {
        const connection = this.node.getConnections().find((c) => c.remotePeer.toString() === peerId && c.status === 'open')
        if (connection === undefined || this.stopped) return
        const framed = this.framed(await connection.newStream(LEDGER_SYNC_PROTOCOL))
        const deadline = setTimeout(() => { framed.abort(new SyncProtocolError(`the pull took longer than ${SYNC_PROTOCOL_LIMITS.pullDeadlineMs} ms`)) }, SYNC_PROTOCOL_LIMITS.pullDeadlineMs)
        try {
          const { more } = await pull(framed, new Map([[owner, await this.held(owner)]]), async (batch) => {
            if (batch.feed !== owner) throw new SyncProtocolError(`an unattested peer sent feed ${batch.feed}, not the owner's`)
            await this.applyBatch(batch, peerId)
          }, async () => { throw new SyncProtocolError('an unattested peer sent enrolment records') }, { digest: new Uint8Array(32), ids: [] })
          if (!more) return
        } catch (err) {
          framed.abort(err as Error)
          throw err
        } finally {
          clearTimeout(deadline)
        }
      }
    } catch (err) {
      this.init.logger?.debug({ peerId, err: (err as Error).message }, 'pull of the owner\'s feed failed')
    } finally {
      this.pulling.delete(key)
    }
  }

  private async serve (stream: Stream, connection: Connection): Promise<void> {
    const framed = this.framed(stream)
    const peerId = connection.remotePeer.toString()
    try {
      const opening = await readOpening(framed)
      if (opening.t !== 'pull') {
        // Peers keep the stream open and send every announce (and push) on it.
        for (let announce: Announcement | undefined = opening; announce !== undefined && this.node.getConnections(connection.remotePeer).length > 0; announce = await readNextAnnounce(framed, SYNC_PROTOCOL_LIMITS.announceIdleMs)) {
          await this.onAnnounce(peerId, announce)
        }
        await framed.close()
        return
      }
      // The ledger is served only to attested peers (the last verdict may be a moment behind).
      const started = Date.now()
      while (!this.attestation.attested(peerId) && Date.now() - started < SYNC_PROTOCOL_LIMITS.attestedWaitMs) await new Promise((resolve) => setTimeout(resolve, 20))
      if (!this.attestation.attested(peerId)) {
        framed.abort(new Error('not attested'))
        return
      }
      if (this.node.getConnections(connection.remotePeer).length > 0) this.gossip.peerHeads.learn(peerId, opening.heads)
      const owner = this.membership.ownerFeed
      const feeds = [...(await this.replicas.feeds()).keys()].sort((a, b) => (a === owner ? -1 : b === owner ? 1 : a.localeCompare(b)))
      // A revoked device's feed is served up to the owner's cut only (what lies past it stays here, unserved).
      // What is served, the peer then holds (it verifies our own copy): announces and pushes start there.
      const served = (batch: SyncBatch | undefined): SyncBatch | undefined => {
        if (batch !== undefined) this.gossip.peerHeads.learn(peerId, [[batch.feed, batch.from + batch.entries.length]])
        return batch
      }
      const replica = (feed: string) => ({ feed, batch: async (from: number) => served(await this.replicas.source(feed).batch(from, this.membership.cutOf(feed))) })
      const held = [
        ...feeds.filter((f) => f === owner).map(replica),
        { feed: this.feedId, batch: async (from: number) => served(await this.ownBatch(peerId, from)) },
        ...feeds.filter((f) => f !== owner).map(replica)
      ]
      await servePull(framed, opening.heads, held, membersToSend(opening, this.members.held()))
    } catch (err) {
      this.init.logger?.debug({ peerId, err: (err as Error).message }, 'sync stream failed')
      framed.abort(err as Error)
    }
  }

  private async ownBatch (peerId: string, from: number): Promise<SyncBatch | undefined> {
    const hook = this.init.hooks?.ownBatch
    if (hook !== undefined) {
      const hooked = await hook(peerId, from)
      if (hooked !== null) return hooked
    }
    return await this.ownSource.batch(from)
  }

  /**
   * Pulls everything a peer holds more of; one pull per peer at a time, repeated while it has
   * more. Only from an attested peer: a pull tells the other side every feed's size and the
   * members known here.
   */
  async pullFrom (peerId: string): Promise<void> {
    if (!this.attestation.attested(peerId)) return
    const running = this.pulling.get(peerId)
    if (running !== undefined) {
      running.again = true
      return
    }
    const state = { again: true }
    this.pulling.set(peerId, state)
    try {
      while (state.again && !this.stopped) {
        state.again = false
        const connection = this.node.getConnections().find((c) => c.remotePeer.toString() === peerId && c.status === 'open')
        if (connection === undefined || !this.attestation.attested(peerId)) return
        // One pull at a time across all peers: when several announce the same entries, the first
        // pull fetches them and the next ones find nothing left to send. A pull holds the turn for
        // at most pullTurnMs (a slow or hostile server must not stall replication from the others),
        // and a whole pull is cut off after pullDeadlineMs.
        const turn = this.pullTurn.then(async () => {
          const stream = await connection.newStream(LEDGER_SYNC_PROTOCOL)
          const framed = this.framed(stream)
          const deadline = setTimeout(() => { framed.abort(new SyncProtocolError(`the pull took longer than ${SYNC_PROTOCOL_LIMITS.pullDeadlineMs} ms`)) }, SYNC_PROTOCOL_LIMITS.pullDeadlineMs)
          try {
            const { more } = await pull(framed, await this.heads(), async (batch) => { await this.applyBatch(batch, peerId) }, async (records) => { await this.members.take(records) }, this.members.held())
            return more
          } catch (err) {
            framed.abort(err as Error)
            throw err
          } finally {
            clearTimeout(deadline)
          }
        })
        const settled = turn.then(() => undefined, () => undefined)
        this.pullTurn = Promise.race([settled, new Promise<void>((resolve) => { setTimeout(resolve, SYNC_PROTOCOL_LIMITS.pullTurnMs).unref() })])
        try {
          if (await turn) state.again = true
        } catch (err) {
          this.init.logger?.warn({ peerId, err: (err as Error).message }, 'replication from a peer failed')
          return
        }
      }
    } catch (err) {
      this.init.logger?.debug({ peerId, err: (err as Error).message }, 'pull failed')
    } finally {
      this.pulling.delete(peerId)
    }
  }

  private ownerTargets (): OwnerStatementTargets {
    return { membership: this.membership, attestation: this.attestation, ledger: this.feed.ledger, replicas: this.replicas, quarantineStore: this.quarantineStore, ownSource: this.ownSource, passOnRevocation: async (revocation) => await this.witnessing.passOnRevocation(revocation), ...(this.init.logger === undefined ? {} : { logger: this.init.logger }) }
  }

  private async applyBatch (batch: SyncBatch, peerId: string): Promise<void> {
    if (batch.feed === this.feedId) return
    // The server holds at least what it sent: no need to announce that much to it.
    this.gossip.peerHeads.learn(peerId, [[batch.feed, batch.from + batch.entries.length]])
    const trust = this.membership.trustFor(batch.feed)
    if (trust === undefined) return
    try {
      const { added, entries } = await this.replicas.apply(batch, { ...trust, witnesses: this.witnessing.witnesses() })
      if (added === 0) return
      this.changed.add(batch.feed)
      this.witnessing.grewAt.set(batch.feed, Date.now())
      await this.witnessing.mergePending(batch.feed, (await this.replicas.meta(batch.feed)).size)
      if (batch.feed === this.membership.ownerFeed) {
        await applyOwnerStatements(entries, this.ownerTargets())
      } else {
        for (const entry of entries) {
          if (entry.type === 'alert.equivocation') await this.witnessing.onAlert(entry, batch.feed)
          else if (entry.type === 'alert.revocation') await applyRevocationAlert(entry, batch.feed, { ...this.ownerTargets(), records: this.members })
        }
      }
    } catch (err) {
      // The owner's feed forked: a peer holding the other branch serves it in good faith (this
      // agent keeps its branch; revocations cross over as alert.revocation).
      if (batch.feed === this.membership.ownerFeed && this.membership.isQuarantined(batch.feed) && err instanceof ReplicaRejectedError && !(err instanceof EquivocationDetectedError)) return
      if (!(err instanceof EquivocationDetectedError)) throw err
      // The feed's device signed two histories: quarantine it and tell the fleet (not the relaying peer's fault).
      await this.witnessing.quarantineFor(err.evidence, err.epoch, peerId)
    }
  }
}

export { fleetServiceTag }
export type { AgentRuntimeInit, RuntimeHooks } from './components.js'
