import type { Connection, Stream } from '@libp2p/interface'
import { randomBytes } from 'node:crypto'
import { toHex } from '../common/bytes.js'
import { encodeCanonical, decodeCanonical, decodeEntry, ReplicaStore, ownFeedSource, EquivocationDetectedError, parseCheckpoint, type SyncBatch } from '../ledger/index.js'
import { createFleetNode, FramedStream, type FleetNode } from '../p2p/index.js'
import type { Tpm } from '../attest/index.js'
import { AttestationService, type PeerStatus } from './attest-service.js'
import { deviceSigner, type UnlockedDevice } from './device.js'
import type { DeviceState } from './device-state.js'
import type { DeviceEnrolment } from './enrolment.js'
import { openOwnFeed, type OpenedLedger } from './ledgers.js'
import type { Logger } from './logger.js'
import { Membership } from './membership.js'
import { LEDGER_SYNC_PROTOCOL, SYNC_PROTOCOL_LIMITS, SyncProtocolError, readOpening, servePull, pull, sendAnnounce } from './sync-protocol.js'
import { verifyEnrolmentRecord, type SignedEnrolment } from './enrolment.js'

export interface AgentRuntimeInit {
  dir: string
  tpm: Tpm
  state: DeviceState
  device: UnlockedDevice
  enrolment: DeviceEnrolment
  eventLog: () => Promise<Uint8Array>
  listen: string[]
  mdns?: boolean
  /** Default: one mDNS service per fleet. */
  serviceTag?: string
  logger?: Logger
  attestIntervalMs?: number
  /** How long a new inbound peer has to attest before it is hung up on (default 30 s). */
  attestDeadlineMs?: number
  /** Anti-entropy: pull from every attested peer this often (default 5 s). */
  syncIntervalMs?: number
  batchMs?: number
  onPeersChange?: (peers: PeerStatus[]) => void
}

/** The mDNS service of a fleet: agents of other fleets on the link do not see each other. */
export function fleetServiceTag (fleetId: Uint8Array): string {
  return `_fleet-${toHex(fleetId).slice(0, 16)}._udp.local`
}

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
  private readonly membersStore
  private stopped = false
  private readonly blocked = new Set<string>()
  /** The largest size announced per feed, for the sync-lag metric. */
  private readonly announced = new Map<string, number>()
  private pullTurn: Promise<void> = Promise.resolve()

  private constructor (init: AgentRuntimeInit, node: FleetNode, attestation: AttestationService, feed: OpenedLedger, membership: Membership) {
    this.init = init
    this.node = node
    this.attestation = attestation
    this.feed = feed
    this.membership = membership
    this.replicas = new ReplicaStore(feed.db)
    this.feedId = init.state.deviceId
    this.ownSource = ownFeedSource(feed.db, this.feedId)
    this.membersStore = feed.db.sublevel<string, Uint8Array>('members', { valueEncoding: 'view' })
  }

  /** Keeps a member's signed record, so the agent still knows the feed's key after a restart. */
  async saveMember (signed: SignedEnrolment): Promise<void> {
    const record = verifyEnrolmentRecord(signed, { key: this.membership.ownerKey, fleetId: this.membership.fleetId })
    await this.feed.db.batch([{ type: 'put', key: record.deviceId, value: encodeSigned(signed), sublevel: this.membersStore }], { sync: true })
  }

  private async onMembers (records: Uint8Array[]): Promise<void> {
    for (const bytes of records) {
      let signed: SignedEnrolment
      try {
        signed = decodeSigned(bytes)
      } catch (err) {
        throw new SyncProtocolError(`a member record is malformed: ${(err as Error).message}`)
      }
      if (this.membership.addSigned(signed) !== undefined) await this.saveMember(signed)
    }
  }

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
    const feed = await openOwnFeed({ dir: init.dir, tpm: init.tpm, signer: deviceSigner(init.tpm, init.device), fleetId: init.enrolment.fleetId, feedId: init.state.deviceId, ...(init.batchMs === undefined ? {} : { batchMs: init.batchMs }) })
    attestation = new AttestationService({
      node,
      ledger: feed.ledger,
      ...(init.logger === undefined ? {} : { logger: init.logger }),
      ...(init.attestIntervalMs === undefined ? {} : { intervalMs: init.attestIntervalMs }),
      ...(init.attestDeadlineMs === undefined ? {} : { deadlineMs: init.attestDeadlineMs }),
      self: { tpm: init.tpm, state: init.state, enrolment: init.enrolment, eventLog: init.eventLog, random: randomBytes },
      isExcluded: (deviceId) => membership.isRevoked(deviceId) || membership.isQuarantined(deviceId),
      onAttested: (peerId, signed, record) => {
        if (membership.addRecord(record, signed)) void runtime?.saveMember(signed)
        void runtime?.pullFrom(peerId)
      },
      ...(init.onPeersChange === undefined ? {} : { onChange: init.onPeersChange })
    })
    runtime = new AgentRuntime(init, node, attestation, feed, membership)
    await runtime.begin()
    return runtime
  }

  private async begin (): Promise<void> {
    // Members learned earlier (each record re-verified), then what the owner's feed says.
    for await (const [, bytes] of this.membersStore.iterator()) {
      try {
        this.membership.addSigned(decodeSigned(bytes))
      } catch (err) {
        this.init.logger?.warn({ err: (err as Error).message }, 'a stored member record does not verify; ignored')
      }
    }
    for await (const bytes of this.replicas.entries(this.membership.ownerFeed)) this.membership.applyOwnerEntry(decodeEntry(bytes).entry)
    await this.node.handle(LEDGER_SYNC_PROTOCOL, async (stream: Stream, connection: Connection) => { await this.serve(stream, connection) }, { maxInboundStreams: 4 })
    await this.attestation.start()
    const self = this.node.peerId.toString()
    this.node.addEventListener('peer:discovery', (evt) => {
      const peer = evt.detail.id
      if (self < peer.toString() && this.node.getConnections(peer).length === 0 && this.attestation.admission.allows(peer.toString())) {
        void this.node.dial(peer).catch((err: unknown) => this.init.logger?.debug({ peer: peer.toString(), err: (err as Error).message }, 'dial failed'))
      }
    })
    await this.node.start()
    this.lastSealed = this.feed.ledger.sealedSize
    this.timers.push(setInterval(() => { void this.tick().catch((err: unknown) => { if (!this.stopped) this.init.logger?.warn({ err: (err as Error).message }, 'announce failed') }) }, 100))
    this.timers.push(setInterval(() => {
      for (const connection of this.node.getConnections()) {
        const peerId = connection.remotePeer.toString()
        if (this.attestation.attested(peerId)) void this.pullFrom(peerId)
      }
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

  /** Sizes of every feed held: the own feed (sealed part) and the replicas. */
  async heads (): Promise<Map<string, number>> {
    const heads = await this.replicas.feeds()
    heads.set(this.feedId, this.feed.ledger.sealedSize)
    return heads
  }

  private framed (stream: Stream): FramedStream {
    return new FramedStream(stream, { maxBytes: SYNC_PROTOCOL_LIMITS.maxFrameBytes, timeoutMs: SYNC_PROTOCOL_LIMITS.stepTimeoutMs })
  }

  /** Announces feeds that grew (the own feed after a checkpoint, replicas after a batch) to attested peers. */
  private async tick (): Promise<void> {
    const sealed = this.feed.ledger.sealedSize
    if (sealed !== this.lastSealed) {
      this.lastSealed = sealed
      this.changed.add(this.feedId)
    }
    if (this.changed.size === 0 || this.stopped) return
    const heads = await this.heads()
    const feeds = [...this.changed]
    this.changed.clear()
    for (const connection of this.node.getConnections()) {
      if (!this.attestation.attested(connection.remotePeer.toString())) continue
      for (const feed of feeds) {
        void connection.newStream(LEDGER_SYNC_PROTOCOL).then(async (stream) => { await sendAnnounce(this.framed(stream), feed, heads.get(feed) ?? 0) }).catch(() => undefined)
      }
    }
  }

  private async serve (stream: Stream, connection: Connection): Promise<void> {
    const framed = this.framed(stream)
    const peerId = connection.remotePeer.toString()
    try {
      const opening = await readOpening(framed)
      if (opening.t === 'announce') {
        if (opening.size > (this.announced.get(opening.feed) ?? 0) && this.announced.size < 4096) this.announced.set(opening.feed, opening.size)
        const held = (await this.heads()).get(opening.feed) ?? 0
        await framed.close()
        if (opening.size > held) void this.pullFrom(peerId)
        return
      }
      // The ledger is served only to attested peers (the last verdict may be a moment behind).
      const started = Date.now()
      while (!this.attestation.attested(peerId) && Date.now() - started < SYNC_PROTOCOL_LIMITS.attestedWaitMs) await new Promise((resolve) => setTimeout(resolve, 20))
      if (!this.attestation.attested(peerId)) {
        framed.abort(new Error('not attested'))
        return
      }
      const owner = this.membership.ownerFeed
      const feeds = [...(await this.replicas.feeds()).keys()].sort((a, b) => (a === owner ? -1 : b === owner ? 1 : a.localeCompare(b)))
      const held = [
        ...feeds.filter((f) => f === owner).map((feed) => ({ feed, batch: async (from: number) => await this.replicas.source(feed).batch(from) })),
        { feed: this.feedId, batch: async (from: number) => await this.ownSource.batch(from) },
        ...feeds.filter((f) => f !== owner).map((feed) => ({ feed, batch: async (from: number) => await this.replicas.source(feed).batch(from) }))
      ]
      await servePull(framed, opening.heads, held, this.membership.signedRecords().map(encodeSigned))
    } catch (err) {
      this.init.logger?.debug({ peerId, err: (err as Error).message }, 'sync stream failed')
      framed.abort(err as Error)
    }
  }

  /** Pulls everything a peer holds more of; one pull per peer at a time, repeated while it has more. */
  async pullFrom (peerId: string): Promise<void> {
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
        if (connection === undefined) return
        // One pull at a time across all peers: when several announce the same entries, the first
        // pull fetches them and the next ones find nothing left to send.
        const turn = this.pullTurn.then(async () => {
          const stream = await connection.newStream(LEDGER_SYNC_PROTOCOL)
          const framed = this.framed(stream)
          try {
            const { more } = await pull(framed, await this.heads(), async (batch) => { await this.applyBatch(batch, peerId) }, async (records) => { await this.onMembers(records) })
            return more
          } catch (err) {
            framed.abort(err as Error)
            throw err
          }
        })
        this.pullTurn = turn.then(() => undefined, () => undefined)
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

  private async applyBatch (batch: SyncBatch, peerId: string): Promise<void> {
    if (batch.feed === this.feedId) return
    const trust = this.membership.trustFor(batch.feed)
    if (trust === undefined) return
    try {
      const { added } = await this.replicas.apply(batch, trust)
      if (added === 0) return
      this.changed.add(batch.feed)
      if (batch.feed === this.membership.ownerFeed) {
        for (const bytes of batch.entries) {
          const { revoked } = this.membership.applyOwnerEntry(decodeEntry(bytes).entry)
          if (revoked !== undefined) {
            this.init.logger?.warn({ deviceId: revoked }, 'device revoked by the owner: hanging up and refusing it')
            await this.attestation.revoke(revoked)
          }
        }
      }
    } catch (err) {
      if (!(err instanceof EquivocationDetectedError)) throw err
      // The feed's device signed two histories: quarantine it and tell the fleet (not the relaying peer's fault).
      if (this.membership.isQuarantined(batch.feed)) return
      this.membership.quarantine(batch.feed, 'equivocation')
      this.init.logger?.error({ feed: batch.feed, via: peerId }, 'equivocation: quarantining the device')
      await this.attestation.revoke(batch.feed, 'quarantined')
      const epoch = parseCheckpoint(err.offered).body.epoch
      await this.feed.ledger.append({
        type: 'alert.equivocation', actor: { id: `agent/${this.feedId}`, role: 'agent' }, attest: null,
        body: { feed: batch.feed, epoch, evidence: encodeCanonical({ held: err.held, offered: err.offered }) }
      })
    }
  }
}

function encodeSigned (signed: SignedEnrolment): Uint8Array {
  return encodeCanonical({ record: signed.record, p256: signed.signature.p256, mldsa65: signed.signature.mldsa65 })
}

function decodeSigned (bytes: Uint8Array): SignedEnrolment {
  const value = decodeCanonical(bytes, { maxBytes: 16 * 1024 }) as { record?: unknown, p256?: unknown, mldsa65?: unknown }
  if (typeof value !== 'object' || value === null || Object.keys(value).length !== 3 || !(value.record instanceof Uint8Array) || !(value.p256 instanceof Uint8Array) || !(value.mldsa65 instanceof Uint8Array)) {
    throw new SyncProtocolError('not a signed enrolment record')
  }
  return { record: value.record, signature: { p256: value.p256, mldsa65: value.mldsa65 } }
}
