import type { Connection, Stream } from '@libp2p/interface'
import { bootPolicyId, type BootPolicy } from '../../attest/index.js'
import type { FeedLedger } from '../../ledger/index.js'
import { FramedStream, OVER_RELAYS, type FleetNode, type Admission } from '../../p2p/index.js'
import { AttestWaiters } from './attest-waiters.js'
import { attestAsDialer, attestAsListener, ATTEST_PROTOCOL, ATTEST_LIMITS, type AttesterInput } from './protocol.js'
import type { AttestationOutcome, Judge, RefusalKind } from './judge.js'
import { PeerTable, type PeerStatus } from './peer-table.js'
import { CloneAlerts } from './clone-alerts.js'
import type { Logger } from '../ops/index.js'
import type { EnrolmentRecord, SignedEnrolment } from '../enrolment/index.js'
import { steadyClock, systemClock, type Clock } from '../../common/index.js'

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
  /** What verdicts and alerts are stamped with. Default: the wall clock. */
  clock?: Clock
  /** How long a clone-attempt window stays open: a clock that never steps. Default: steadyClock. */
  steady?: Clock
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
 *
 * A stranger (a record that enrols another PeerId) or a clone is refused without a verdict in the
 * feed: one alert.clone_suspected per claimed device and window (ATTEST_LIMITS.cloneAlertWindowMs),
 * and the window's count of attempts when the next one opens. Every map kept per peer is bounded
 * (ATTEST_LIMITS), so connections with fresh keys cannot grow this service.
 */
export class AttestationService {
  /** Clone attempts: alerted once per claimed device and window, the rest counted. */
  private readonly cloneAlerts: CloneAlerts
  /** Verdicts since start: trusted ones, and refusals by kind (they only grow; metrics count them). */
  readonly counts: { trusted: number; refused: Record<RefusalKind, number> } = {
    trusted: 0,
    refused: { refused: 0, stranger: 0, clone: 0, revoked: 0, 'untrusted-boot': 0 }
  }
  private readonly init: AttestationServiceInit
  private readonly table = new PeerTable()
  private readonly onClose = (evt: CustomEvent<Connection>): void => {
    this.table.unmark(evt.detail)
    this.clearDeadline(evt.detail.id)
  }
  private readonly judge: Judge
  private timer: NodeJS.Timeout | undefined
  /** The attestation deadline of each inbound connection still open and not yet attested, by connection id. */
  private readonly deadlines = new Map<string, NodeJS.Timeout>()
  private readonly pending = new Set<Promise<unknown>>()
  /** whenAttested's requests, told of every change (bounded: AttestWaiters). */
  private readonly waiters = new AttestWaiters({
    attested: (peerId) => this.attested(peerId),
    refused: (peerId) => this.table.refused.has(peerId) || this.table.strangers.has(peerId)
  })
  private readonly onOpen = (evt: CustomEvent<Connection>): void => {
    this.track(this.onConnection(evt.detail))
  }

  /** For the connection gater: clones, revoked devices and strangers seen lately stay out. */
  readonly admission: Admission = {
    allows: (peerId) => !this.table.refused.has(peerId) && !this.table.strangers.has(peerId)
  }

  constructor(init: AttestationServiceInit) {
    this.init = init
    const enrolment = init.self.enrolment
    this.judge = {
      fleetId: enrolment.fleetId,
      ownerKey: enrolment.ownerKey,
      policy: enrolment.policy,
      policyId: bootPolicyId(enrolment.policy),
      isRevoked: (deviceId) => this.table.revoked.has(deviceId) || init.isExcluded?.(deviceId) === true,
      lastClock: (deviceId) => this.table.clocks.get(deviceId)
    }
    this.cloneAlerts = new CloneAlerts({
      ledger: init.ledger,
      now: () => this.now(),
      steady: () => (this.init.steady ?? steadyClock).now(),
      actor: () => this.actor(),
      policyId: () => this.judge.policyId
    })
  }

  private now(): number {
    return (this.init.clock ?? systemClock).now()
  }

  /** How many entries each per-peer map holds (all bounded by ATTEST_LIMITS). */
  footprint(): {
    peers: number
    refused: number
    strangers: number
    clocks: number
    attestedOn: number
    deadlines: number
    cloneTallies: number
  } {
    return {
      peers: this.table.peers.size,
      refused: this.table.refused.size,
      strangers: this.table.strangers.size,
      clocks: this.table.clocks.size,
      attestedOn: this.table.attestedOn.size,
      deadlines: this.deadlines.size,
      cloneTallies: this.cloneAlerts.open
    }
  }

  private clearDeadline(connectionId: string): void {
    const timer = this.deadlines.get(connectionId)
    if (timer === undefined) return
    clearTimeout(timer)
    this.deadlines.delete(connectionId)
  }

  async start(): Promise<void> {
    await this.init.node.handle(
      ATTEST_PROTOCOL,
      async (stream: Stream, connection: Connection) => {
        await this.track(this.listen(stream, connection))
      },
      { maxInboundStreams: 2, ...OVER_RELAYS }
    )
    this.init.node.addEventListener('connection:open', this.onOpen)
    this.init.node.addEventListener('connection:close', this.onClose)
    this.timer = setInterval(
      () => {
        for (const connection of this.init.node.getConnections())
          if (connection.direction === 'outbound') this.track(this.dial(connection))
      },
      this.init.intervalMs ?? 5 * 60_000
    )
  }

  async stop(): Promise<void> {
    clearInterval(this.timer)
    this.waiters.stop()
    for (const timer of this.deadlines.values()) clearTimeout(timer)
    this.deadlines.clear()
    this.init.node.removeEventListener('connection:open', this.onOpen)
    this.init.node.removeEventListener('connection:close', this.onClose)
    await this.init.node.unhandle(ATTEST_PROTOCOL).catch(() => undefined)
    await Promise.allSettled([...this.pending])
    // The open windows' counts, so that a restart does not lose them.
    await this.cloneAlerts.closeAll((err: unknown) =>
      this.init.logger?.error({ err: (err as Error).message }, 'could not record clone attempts')
    )
  }

  /** True when the peer's last verdict is trusted and it attested on a connection that is still open. */
  attested(peerId: string): boolean {
    return this.table.attested(peerId)
  }

  /**
   * Resolves true once the peer is attested (as attested() says), false as soon as it is refused,
   * after `ms`, or when the service stops. False at once when ATTEST_LIMITS.maxAttestWaiters
   * others are waiting: a flood of requests from unattested peers holds nothing up.
   */
  async whenAttested(peerId: string, ms: number): Promise<boolean> {
    // A peer judged untrusted before may be attesting again on a new connection, after a fix: it
    // waits (a few requests of it at most); a refused peer or a stranger does not.
    return await this.waiters.wait(peerId, ms)
  }

  list(): PeerStatus[] {
    return this.table.list()
  }

  /** The role the peer's enrolment record gives it, once it attested (undefined before). */
  roleOf(peerId: string): string | undefined {
    return this.table.peers.get(peerId)?.role
  }

  /** This agent's latest verdict on a device (PeerTable.verdictOn). */
  verdictOn(deviceId: string): PeerStatus | undefined {
    return this.table.verdictOn(deviceId)
  }

  /** Attests one connection now (the dialer's side). */
  async attestConnection(connection: Connection): Promise<AttestationOutcome | undefined> {
    return await this.dial(connection)
  }

  /** A revocation learned from the owner (or a quarantine): refuse the device and hang up on it. */
  async revoke(deviceId: string, kind: 'revoked' | 'quarantined' = 'revoked'): Promise<void> {
    this.table.revoked.add(deviceId)
    for (const status of this.table.peers.values()) {
      if (status.deviceId !== deviceId) continue
      this.table.refuse(status.peerId)
      status.trusted = false
      status.kind = kind
      status.reasons = [`device ${deviceId} is ${kind}`]
      for (const connection of this.init.node.getConnections())
        if (connection.remotePeer.toString() === status.peerId) await connection.close().catch(() => undefined)
    }
    this.changed()
  }

  /**
   * The owner set another boot policy: judge every peer by it from now on, and re-attest the
   * connections this agent dialled now (the other side re-attests those it dialled).
   */
  setPolicy(policy: BootPolicy): void {
    this.judge.policy = policy
    this.judge.policyId = bootPolicyId(policy)
    for (const connection of this.init.node.getConnections())
      if (connection.direction === 'outbound') this.track(this.dial(connection))
  }

  /** The owner cleared a quarantine: the device may connect and attest again (a revocation stays). */
  release(deviceId: string): void {
    this.table.revoked.delete(deviceId)
    for (const status of this.table.peers.values()) {
      if (status.deviceId !== deviceId || status.kind === 'clone' || status.kind === 'stranger') continue
      this.table.refused.delete(status.peerId)
      status.reasons = [`device ${deviceId} was released from quarantine by the owner`]
    }
    this.changed()
  }

  private track<T>(work: Promise<T>): Promise<T> {
    const settled = work.catch(() => undefined)
    this.pending.add(settled)
    void settled.finally(() => this.pending.delete(settled))
    return work
  }

  private async onConnection(connection: Connection): Promise<void> {
    if (connection.direction === 'outbound') {
      await this.dial(connection)
      return
    }
    // An inbound peer must attest within a deadline, or it is hung up on.
    if (connection.status !== 'open') return
    const timer = setTimeout(
      () => {
        this.deadlines.delete(connection.id)
        const peerId = connection.remotePeer.toString()
        if (connection.status === 'open' && !this.attested(peerId)) {
          this.init.logger?.warn({ peerId }, 'peer did not attest in time; hanging up')
          void connection.close().catch(() => undefined)
        }
      },
      this.init.deadlineMs ?? ATTEST_LIMITS.stepTimeoutMs * 3
    )
    this.clearDeadline(connection.id)
    this.deadlines.set(connection.id, timer)
  }

  private framed(stream: Stream): FramedStream {
    return new FramedStream(stream, { maxBytes: ATTEST_LIMITS.maxFrameBytes, timeoutMs: ATTEST_LIMITS.stepTimeoutMs })
  }

  private async dial(connection: Connection): Promise<AttestationOutcome | undefined> {
    const peerId = connection.remotePeer.toString()
    try {
      const stream = await connection.newStream(ATTEST_PROTOCOL, OVER_RELAYS)
      const { outcome } = await attestAsDialer(this.framed(stream), this.init.self, this.judge, peerId)
      await this.record(outcome, peerId, connection)
      return outcome
    } catch (err) {
      await this.recordRefusal(err, peerId, connection)
      return undefined
    }
  }

  /** An attestation that failed (a protocol error, a timeout, a closed stream) is recorded as refused. */
  private async recordRefusal(err: unknown, peerId: string, connection: Connection): Promise<void> {
    const reason = (err as Error).message
    this.init.logger?.warn({ peerId, err: reason }, 'attestation failed')
    const outcome: AttestationOutcome = {
      trusted: false,
      kind: 'refused',
      reasons: [reason],
      policyId: this.judge.policyId
    }
    await this.record(outcome, peerId, connection)
  }

  private async listen(stream: Stream, connection: Connection): Promise<void> {
    const peerId = connection.remotePeer.toString()
    try {
      const { outcome } = await attestAsListener(this.framed(stream), this.init.self, this.judge, peerId)
      await this.record(outcome, peerId, connection)
    } catch (err) {
      await this.recordRefusal(err, peerId, connection)
    }
  }

  private async record(outcome: AttestationOutcome, peerId: string, connection: Connection): Promise<void> {
    const record = outcome.record
    const previous = this.table.peers.get(peerId)
    const status: PeerStatus = {
      peerId,
      deviceId: record?.deviceId,
      hostname: record?.hostname,
      role: record?.role,
      trusted: outcome.trusted,
      ...(outcome.trusted ? {} : { kind: outcome.kind }),
      reasons: outcome.trusted ? [] : outcome.reasons,
      ...(!outcome.trusted && outcome.codes !== undefined ? { codes: outcome.codes } : {}),
      policyId: outcome.policyId,
      at: new Date(this.now()).toISOString(),
      attestations: (previous?.attestations ?? 0) + (outcome.trusted ? 1 : 0)
    }
    this.table.setStatus(status)
    if (outcome.trusted) this.counts.trusted++
    else this.counts.refused[outcome.kind]++
    if (outcome.trusted) {
      if (connection.status === 'open') this.table.mark(connection, peerId)
      this.clearDeadline(connection.id)
      this.table.setClock(outcome.record.deviceId, outcome.clock)
      this.init.logger?.info({ peerId, deviceId: outcome.record.deviceId }, 'peer attested')
      this.init.onAttested?.(peerId, outcome.signed, outcome.record, connection)
    } else {
      this.table.unmark(connection)
      this.init.logger?.warn({ peerId, kind: outcome.kind, reasons: outcome.reasons }, 'peer not trusted; hanging up')
      if (outcome.kind === 'clone' || outcome.kind === 'revoked') this.table.refuse(peerId)
      if (outcome.kind === 'stranger') this.table.refuse(peerId, this.table.strangers, ATTEST_LIMITS.maxStrangers)
      this.clearDeadline(connection.id)
      await connection.close().catch(() => undefined)
    }
    this.changed()
    const recorded =
      !outcome.trusted && (outcome.kind === 'clone' || outcome.kind === 'stranger')
        ? this.cloneAlerts.count(outcome, peerId)
        : this.appendVerdict(outcome)
    await recorded.catch((err: unknown) =>
      this.init.logger?.error({ err: (err as Error).message }, 'could not record a verdict')
    )
  }

  private actor(): { id: string; role: string } {
    return { id: `agent/${this.init.self.state.deviceId}`, role: 'agent' }
  }

  private async appendVerdict(outcome: AttestationOutcome): Promise<void> {
    const ledger = this.init.ledger
    if (ledger === undefined || outcome.record === undefined) return
    const actor = this.actor()
    const attest = outcome.quoteHash ?? null
    // A trusted verdict is routine (one per peer and attestation); a refusal is sealed at once.
    await ledger.append(
      {
        type: 'attest.verdict',
        actor,
        attest,
        body: {
          subject: outcome.record.deviceId,
          trusted: outcome.trusted,
          policyId: outcome.policyId,
          quoteHash: outcome.quoteHash ?? new Uint8Array(32),
          reasons: outcome.trusted ? [] : outcome.reasons.slice(0, 32).map((r) => r.slice(0, 512))
        }
      },
      { routine: outcome.trusted }
    )
  }

  private changed(): void {
    this.waiters.changed()
    this.init.onChange?.(this.list())
  }
}
