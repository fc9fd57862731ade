import type { Connection, Stream } from '@libp2p/interface'
import { bootPolicyId, type BootPolicy, type ClockInfo } from '../attest/index.js'
import type { FeedLedger } from '../ledger/index.js'
import { FramedStream } from '../p2p/framing.js'
import type { FleetNode, Admission } from '../p2p/index.js'
import {
  attestAsDialer, attestAsListener, ATTEST_PROTOCOL, ATTEST_LIMITS, type AttesterInput, type AttestationOutcome, type Judge
} from './attest-protocol.js'
import type { Logger } from './logger.js'
import type { EnrolmentRecord, SignedEnrolment } from './enrolment.js'

export interface PeerStatus {
  peerId: string
  deviceId?: string
  hostname?: string
  role?: string
  trusted: boolean
  /** Why not, when not trusted. */
  kind?: string
  reasons: string[]
  at: string
  /** Attestations of this peer that succeeded. */
  attestations: number
}

export interface AttestationServiceInit {
  node: FleetNode
  self: AttesterInput
  /** This device's own feed, where verdicts and alerts are recorded. */
  ledger?: FeedLedger
  /** Re-attest connected peers this often (default 5 minutes). */
  intervalMs?: number
  /** A new inbound peer must have attested within this long, or it is hung up on (default 30 s). */
  deadlineMs?: number
  logger?: Logger
  now?: () => Date
  onChange?: (peers: PeerStatus[]) => void
  /** Called after a peer attested (its record verified against the owner key). */
  onAttested?: (peerId: string, signed: SignedEnrolment, record: EnrolmentRecord, connection: Connection) => void
  /** Devices refused besides those revoked here (e.g. quarantined, or revoked in the owner's feed). */
  isExcluded?: (deviceId: string) => boolean
}

/**
 * Attests every connection, both ways, when it opens and then periodically; records each verdict
 * in this device's feed; hangs up on peers that fail; refuses clones and revoked devices for good.
 * `attested(peerId)` is what the ledger protocols ask before serving a peer.
 */
export class AttestationService {
  private readonly init: AttestationServiceInit
  private readonly peers = new Map<string, PeerStatus>()
  private readonly refused = new Set<string>()
  private readonly revoked = new Set<string>()
  private readonly clocks = new Map<string, ClockInfo>()
  /**
   * The open connections (by id) each peer attested on: a new connection must attest again.
   * Kept per peer so that attested(), asked for every announce, is a lookup.
   */
  private readonly attestedOn = new Map<string, Set<string>>()
  private readonly onClose = (evt: CustomEvent<Connection>): void => { this.unmark(evt.detail) }
  private readonly judge: Judge
  private timer: NodeJS.Timeout | undefined
  private readonly deadlines = new Set<NodeJS.Timeout>()
  private readonly pending = new Set<Promise<unknown>>()
  private readonly onOpen = (evt: CustomEvent<Connection>): void => { this.track(this.onConnection(evt.detail)) }

  /** For the connection gater: clones and revoked devices stay out. */
  readonly admission: Admission = { allows: (peerId) => !this.refused.has(peerId) }

  constructor (init: AttestationServiceInit) {
    this.init = init
    const enrolment = init.self.enrolment
    this.judge = {
      fleetId: enrolment.fleetId,
      ownerKey: enrolment.ownerKey,
      policy: enrolment.policy,
      policyId: bootPolicyId(enrolment.policy),
      isRevoked: (deviceId) => this.revoked.has(deviceId) || init.isExcluded?.(deviceId) === true,
      lastClock: (deviceId) => this.clocks.get(deviceId)
    }
  }

  async start (): Promise<void> {
    await this.init.node.handle(ATTEST_PROTOCOL, async (stream: Stream, connection: Connection) => {
      await this.track(this.listen(stream, connection))
    }, { maxInboundStreams: 2 })
    this.init.node.addEventListener('connection:open', this.onOpen)
    this.init.node.addEventListener('connection:close', this.onClose)
    this.timer = setInterval(() => {
      for (const connection of this.init.node.getConnections()) if (connection.direction === 'outbound') this.track(this.dial(connection))
    }, this.init.intervalMs ?? 5 * 60_000)
  }

  async stop (): Promise<void> {
    clearInterval(this.timer)
    for (const timer of this.deadlines) clearTimeout(timer)
    this.deadlines.clear()
    this.init.node.removeEventListener('connection:open', this.onOpen)
    this.init.node.removeEventListener('connection:close', this.onClose)
    await this.init.node.unhandle(ATTEST_PROTOCOL).catch(() => undefined)
    await Promise.allSettled([...this.pending])
  }

  /** True when the peer's last verdict is trusted and it attested on a connection that is still open. */
  attested (peerId: string): boolean {
    return this.peers.get(peerId)?.trusted === true && (this.attestedOn.get(peerId)?.size ?? 0) > 0
  }

  private mark (connection: Connection, peerId: string): void {
    let ids = this.attestedOn.get(peerId)
    if (ids === undefined) this.attestedOn.set(peerId, ids = new Set())
    ids.add(connection.id)
  }

  private unmark (connection: Connection): void {
    const peerId = connection.remotePeer.toString()
    const ids = this.attestedOn.get(peerId)
    if (ids === undefined) return
    ids.delete(connection.id)
    if (ids.size === 0) this.attestedOn.delete(peerId)
  }

  list (): PeerStatus[] {
    return [...this.peers.values()].sort((a, b) => a.peerId.localeCompare(b.peerId))
  }

  /** Attests one connection now (the dialer's side). */
  async attestConnection (connection: Connection): Promise<AttestationOutcome | undefined> {
    return await this.dial(connection)
  }

  /** A revocation learned from the owner (or a quarantine): refuse the device and hang up on it. */
  async revoke (deviceId: string, kind: 'revoked' | 'quarantined' = 'revoked'): Promise<void> {
    this.revoked.add(deviceId)
    for (const status of this.peers.values()) {
      if (status.deviceId !== deviceId) continue
      this.refused.add(status.peerId)
      status.trusted = false
      status.kind = kind
      status.reasons = [`device ${deviceId} is ${kind}`]
      for (const connection of this.init.node.getConnections()) if (connection.remotePeer.toString() === status.peerId) await connection.close().catch(() => undefined)
    }
    this.changed()
  }

  /**
   * The owner set another boot policy: judge every peer by it from now on, and re-attest the
   * connections this agent dialled now (the other side re-attests those it dialled).
   */
  setPolicy (policy: BootPolicy): void {
    this.judge.policy = policy
    this.judge.policyId = bootPolicyId(policy)
    for (const connection of this.init.node.getConnections()) if (connection.direction === 'outbound') this.track(this.dial(connection))
  }

  /** The owner cleared a quarantine: the device may connect and attest again (a revocation stays). */
  release (deviceId: string): void {
    this.revoked.delete(deviceId)
    for (const status of this.peers.values()) {
      if (status.deviceId !== deviceId || status.kind === 'clone') continue
      this.refused.delete(status.peerId)
      status.reasons = [`device ${deviceId} was released from quarantine by the owner`]
    }
    this.changed()
  }

  private track<T> (work: Promise<T>): Promise<T> {
    const settled = work.catch(() => undefined)
    this.pending.add(settled)
    void settled.finally(() => this.pending.delete(settled))
    return work
  }

  private async onConnection (connection: Connection): Promise<void> {
    if (connection.direction === 'outbound') {
      await this.dial(connection)
      return
    }
    // An inbound peer must attest within a deadline, or it is hung up on.
    const timer = setTimeout(() => {
      this.deadlines.delete(timer)
      const peerId = connection.remotePeer.toString()
      if (connection.status === 'open' && !this.attested(peerId)) {
        this.init.logger?.warn({ peerId }, 'peer did not attest in time; hanging up')
        void connection.close().catch(() => undefined)
      }
    }, this.init.deadlineMs ?? ATTEST_LIMITS.stepTimeoutMs * 3)
    this.deadlines.add(timer)
  }

  private framed (stream: Stream): FramedStream {
    return new FramedStream(stream, { maxBytes: ATTEST_LIMITS.maxFrameBytes, timeoutMs: ATTEST_LIMITS.stepTimeoutMs })
  }

  private async dial (connection: Connection): Promise<AttestationOutcome | undefined> {
    const peerId = connection.remotePeer.toString()
    try {
      const stream = await connection.newStream(ATTEST_PROTOCOL)
      const { outcome } = await attestAsDialer(this.framed(stream), this.init.self, this.judge, peerId)
      await this.record(outcome, peerId, connection)
      return outcome
    } catch (err) {
      this.init.logger?.warn({ peerId, err: (err as Error).message }, 'attestation failed')
      await this.record({ trusted: false, kind: 'refused', reasons: [(err as Error).message], policyId: this.judge.policyId }, peerId, connection)
      return undefined
    }
  }

  private async listen (stream: Stream, connection: Connection): Promise<void> {
    const peerId = connection.remotePeer.toString()
    try {
      const { outcome } = await attestAsListener(this.framed(stream), this.init.self, this.judge, peerId)
      await this.record(outcome, peerId, connection)
    } catch (err) {
      this.init.logger?.warn({ peerId, err: (err as Error).message }, 'attestation failed')
      await this.record({ trusted: false, kind: 'refused', reasons: [(err as Error).message], policyId: this.judge.policyId }, peerId, connection)
    }
  }

  private async record (outcome: AttestationOutcome, peerId: string, connection: Connection): Promise<void> {
    const record = outcome.record
    const previous = this.peers.get(peerId)
    const status: PeerStatus = {
      peerId,
      ...(record === undefined ? {} : { deviceId: record.deviceId, hostname: record.hostname, role: record.role }),
      trusted: outcome.trusted,
      ...(outcome.trusted ? {} : { kind: outcome.kind }),
      reasons: outcome.trusted ? [] : outcome.reasons,
      at: (this.init.now?.() ?? new Date()).toISOString(),
      attestations: (previous?.attestations ?? 0) + (outcome.trusted ? 1 : 0)
    }
    this.peers.set(peerId, status)
    if (outcome.trusted) {
      if (connection.status === 'open') this.mark(connection, peerId)
      this.clocks.set(outcome.record.deviceId, outcome.clock)
      this.init.logger?.info({ peerId, deviceId: outcome.record.deviceId }, 'peer attested')
      this.init.onAttested?.(peerId, outcome.signed, outcome.record, connection)
    } else {
      this.unmark(connection)
      this.init.logger?.warn({ peerId, kind: outcome.kind, reasons: outcome.reasons }, 'peer not trusted; hanging up')
      if (outcome.kind === 'clone' || outcome.kind === 'revoked') this.refused.add(peerId)
      await connection.close().catch(() => undefined)
    }
    this.changed()
    await this.appendVerdict(outcome, peerId).catch((err: unknown) => this.init.logger?.error({ err: (err as Error).message }, 'could not record a verdict'))
  }

  private async appendVerdict (outcome: AttestationOutcome, peerId: string): Promise<void> {
    const ledger = this.init.ledger
    if (ledger === undefined || outcome.record === undefined) return
    const actor = { id: `agent/${this.init.self.state.deviceId}`, role: 'agent' }
    const attest = outcome.quoteHash ?? null
    if (!outcome.trusted && outcome.kind === 'clone') {
      await ledger.append({
        type: 'alert.clone_suspected', actor, attest,
        body: { peerId: peerId.slice(0, 128), claimedDeviceId: outcome.record.deviceId, presentedAkHash: outcome.quoteHash ?? new Uint8Array(32) }
      })
    }
    // A trusted verdict is routine (one per peer and attestation); a refusal is sealed at once.
    await ledger.append({
      type: 'attest.verdict', actor, attest,
      body: {
        subject: outcome.record.deviceId, trusted: outcome.trusted, policyId: outcome.policyId, quoteHash: outcome.quoteHash ?? new Uint8Array(32),
        reasons: outcome.trusted ? [] : outcome.reasons.slice(0, 32).map((r) => r.slice(0, 512))
      }
    }, { routine: outcome.trusted })
  }

  private changed (): void {
    this.init.onChange?.(this.list())
  }
}
