/**
 * The agent: the composition root. createAgent(components, init) assembles an enrolled device's
 * services — its libp2p node (gated), mutual attestation of every connection, its own feed,
 * membership and witnessing, and the replicator — and start()/stop() run them. Logic lives in the
 * rooms; this file only wires them together.
 */
import { VerdictsOnSelf } from './gate/index.js'
import { decodeEntry, ReplicaStore, ownFeedSource } from '../ledger/index.js'
import type { HybridSigner } from '../identity/index.js'
import type { FleetNode } from '../p2p/index.js'
import { SiteLinks, type HubLinks, type HubsAtStart, type RelayCounts } from './hubs/index.js'
import { cryptoRandom, steadyClock, systemClock } from '../common/index.js'
import type { AttestationService } from './attestation/index.js'
import type { OpenedLedger } from './feeds/index.js'
import {
  type Membership,
  MemberRecords,
  Witnessing,
  quarantineSublevel,
  adoptOwnEpoch,
  provenRevocation,
  type OwnerStatementTargets,
  type CloneReport
} from './membership/index.js'
import { actOnPeerAlert, PeerAlerts, Replicator } from './replication/index.js'
import { ExternalWitnessing } from './external-witness/index.js'
import { EAR_BUILD, EarIssuer, verdictOfStatus } from './ear/index.js'
import { bootPolicyId } from '../attest/index.js'
import { CursorStore, SinkService, ledgerSinkSource } from './sinks/index.js'
import type { AgentComponents, AgentInit } from './components.js'
import { tpmHealth, type TpmHealth } from './tpm-health.js'
import { clonedAuthenticatorAlert } from './membership/clone-alert.js'

export class Agent {
  readonly node: FleetNode
  readonly attestation: AttestationService
  readonly feed: OpenedLedger
  readonly replicas: ReplicaStore
  readonly membership: Membership
  /** The owner-signed enrolment records held (kept across restarts). */
  readonly members: MemberRecords
  private readonly components: AgentComponents
  private readonly init: AgentInit
  private readonly quarantineStore
  private readonly witnessing: Witnessing
  /** Peers' alerts, acted on at least once (a stop between storing one and acting on it included). */
  readonly peerAlerts: PeerAlerts
  /** Replication of the signed ledger (its counts, for tests and metrics). */
  readonly replicator: Replicator
  /** Peers' latest verdicts on this device, from their feeds (the gate's quorum). */
  readonly verdictsOnSelf: VerdictsOnSelf
  /** Signed attestation results (EAR) about the peers this agent attested. */
  readonly ear: EarIssuer
  /** Delivery of verdicts, alerts, revocations and workload stops to the configured sinks. */
  readonly sinks: SinkService
  /** Submissions of the own feed's checkpoints to the external witnesses the owner listed. */
  readonly externalWitnessing: ExternalWitnessing
  private readonly ownSource: ReturnType<typeof ownFeedSource>
  private readonly blocked = new Set<string>()
  /** The links kept to hubs and, through them, to members at other sites (when hubs are given). */
  readonly hubLinks: HubLinks | undefined
  /** Hubs, and peers reached before: how this agent stays in touch beyond its LAN. */
  readonly sites: SiteLinks
  /** What the relay gate answered (a hub's reservations and links, a device's relayed links). */
  readonly relayCounts: RelayCounts | undefined
  private state: 'new' | 'started' | 'stopped' = 'new'

  /** Use createAgent. */
  constructor(
    parts: {
      node: FleetNode
      attestation: AttestationService
      feed: OpenedLedger
      membership: Membership
      signer: HybridSigner
      relayCounts?: RelayCounts
      /** The hubs of its config, how many the hub book held at creation, and whether the node relays at all. */
      hubs?: HubsAtStart
    },
    components: AgentComponents,
    init: AgentInit
  ) {
    this.components = components
    this.init = init
    this.node = parts.node
    this.attestation = parts.attestation
    this.feed = parts.feed
    this.membership = parts.membership
    this.relayCounts = parts.relayCounts
    this.sites = new SiteLinks({
      node: parts.node,
      dir: init.dir,
      membership: parts.membership,
      attested: (peerId) => parts.attestation.attested(peerId),
      hubs: parts.hubs ?? { config: [], booked: 0, relayOn: false, isHub: false },
      logger: components.logger,
      reachIntervalMs: init.hubReachIntervalMs
    })
    this.hubLinks = this.sites.hubLinks
    const feedId = init.state.deviceId
    this.replicas = new ReplicaStore(this.feed.store, { hasher: components.hasher })
    this.verdictsOnSelf = new VerdictsOnSelf(feedId)
    this.ear = new EarIssuer({
      issuer: feedId,
      // The DSK alone: a JWS signing input can never be a hybrid signature's domain-separated message.
      signer: parts.signer.authority,
      build: EAR_BUILD,
      clock: components.clock ?? systemClock,
      verdictOn: (deviceId) => verdictOfStatus(this.attestation.verdictOn(deviceId)),
      exclusion: (deviceId) =>
        this.membership.isRevoked(deviceId)
          ? 'revoked'
          : this.membership.isQuarantined(deviceId)
            ? 'quarantined'
            : undefined,
      policyId: () => bootPolicyId(this.membership.policy),
      tier: (deviceId) => this.membership.tpmTiers.tierOf(deviceId)
    })
    const ownSource = ownFeedSource(this.feed.store, feedId, { memo: true, hasher: components.hasher })
    this.sinks = new SinkService(
      {
        source: ledgerSinkSource(this.feed.store, {
          ownFeed: feedId,
          ownSize: () => this.feed.ledger.size,
          ownerFeed: this.membership.ownerFeed,
          replicaSize: async (feed) => (await this.replicas.meta(feed)).size
        }),
        cursors: new CursorStore(this.feed.store),
        // The DSK alone, as for EAR: a JWS signing input is never a hybrid signature's message.
        signer: parts.signer.authority,
        clock: components.clock ?? systemClock,
        random: components.random ?? cryptoRandom,
        logger: components.logger,
        wait: components.sinkWait,
        webhookTransport: components.webhookTransport
      },
      { deviceId: feedId, sinks: init.sinks ?? [], pollMs: init.sinkPollMs, onEvent: init.onSinks }
    )
    this.ownSource = ownSource
    this.members = new MemberRecords(this.membership, this.feed.store)
    this.quarantineStore = quarantineSublevel(this.feed.store)
    this.witnessing = new Witnessing({
      feedId,
      signer: parts.signer,
      membership: this.membership,
      replicas: this.replicas,
      ownSource,
      feed: this.feed,
      attestation: this.attestation,
      quarantineStore: this.quarantineStore,
      clock: components.steadyClock ?? steadyClock,
      init: {
        cosignIntervalMs: init.cosignIntervalMs,
        witnessesPerFeed: init.witnessesPerFeed,
        logger: components.logger
      }
    })
    this.externalWitnessing = new ExternalWitnessing(
      {
        ledger: this.feed.ledger,
        source: ownSource,
        witnesses: () => this.membership.externalWitnesses.list(),
        ontology: () => this.membership.ontology,
        clock: components.clock ?? systemClock,
        steady: components.steadyClock ?? steadyClock,
        fetch: components.fetch,
        logger: components.logger
      },
      { feedId, intervalMs: init.externalWitnessIntervalMs, timeoutMs: init.externalWitnessTimeoutMs }
    )
    const alertTargets = {
      membership: this.membership,
      members: this.members,
      replicas: this.replicas,
      witnessing: this.witnessing,
      ownerTargets: () => this.ownerTargets()
    }
    this.peerAlerts = new PeerAlerts(
      this.feed.store,
      async (entry, feed) => await actOnPeerAlert(entry, feed, alertTargets),
      components.logger
    )
    this.replicator = new Replicator(
      {
        node: this.node,
        attested: (peerId) => this.attestation.attested(peerId),
        membership: this.membership,
        members: this.members,
        replicas: this.replicas,
        alerts: this.peerAlerts,
        ownSource,
        ownServer: components.ownFeedServer?.(ownSource),
        witnessing: this.witnessing,
        ownerTargets: () => this.ownerTargets(),
        onVerdict: (feed, entry) => this.verdictsOnSelf.record(feed, entry),
        clock: components.steadyClock ?? steadyClock,
        random: components.random ?? cryptoRandom,
        logger: components.logger
      },
      {
        feedId,
        sealedSize: () => this.feed.ledger.sealedSize,
        syncIntervalMs: init.syncIntervalMs,
        onEvent: init.onReplication
      }
    )
  }

  /** The fleet devices whose cosignature on the newest checkpoint of the own feed verifies. */
  async witnessedBy(): Promise<string[]> {
    return await this.witnessing.witnessedBy()
  }

  /** The external witnesses whose cosignature on the newest checkpoint of the own feed verifies. */
  async externallyWitnessedBy(): Promise<string[]> {
    return await this.externalWitnessing.cosignersOfNewest()
  }

  /** Peers' feeds this agent will cosign once they have been quiet long enough (0: witnessing has caught up). */
  get cosignsDue(): number {
    return this.witnessing.cosignDue.size
  }

  /**
   * Loads what was decided before (WebAuthn counters, members, quarantines, the owner's
   * statements), then joins the network. Idempotent.
   */
  async start(): Promise<void> {
    if (this.state !== 'new') return
    this.state = 'started'
    const logger = this.components.logger
    // What the actor check knew of WebAuthn counters when the agent stopped, before anything is checked.
    await this.membership.actors.restoreCounters(this.feed.store)
    // Members learned earlier (each record re-verified), then what the owner's feed says.
    await this.members.load(logger)
    // Quarantines decided earlier (each piece of evidence re-verified), then the owner's statements,
    // which may clear some of them.
    await this.witnessing.quarantines.load()
    for await (const bytes of this.replicas.entries(this.membership.ownerFeed)) {
      const { released } = this.membership.applyOwnerEntry(decodeEntry(bytes).entry)
      if (released !== undefined) await this.quarantineStore.del(released)
    }
    // Revocations proved by peers from another branch of the owner's feed.
    const proven = await this.members.loadRevocations((alert) => provenRevocation(alert, this.membership), logger)
    for (const revocation of proven) this.membership.applyOwnerEntry(revocation)
    await adoptOwnEpoch(this.ownerTargets())
    // The owner's newest policy and ontology, as its feed held here says.
    if (this.membership.policy !== this.init.enrolment.policy) this.attestation.setPolicy(this.membership.policy)
    this.feed.ledger.useOntology(this.membership.ontology)
    this.feed.ledger.useActors(this.membership.actors)
    // Peers' alerts a stop left stored but not acted on, and those waiting for their device's enrolment.
    await this.peerAlerts.recover(this.replicas, new Set([this.membership.ownerFeed]))
    await this.replicator.start()
    await this.attestation.start()
    this.externalWitnessing.start()
    const self = this.node.peerId.toString()
    this.node.addEventListener('peer:discovery', (evt) => {
      const peer = evt.detail.id
      // Of two peers that find each other, the one with the smaller PeerId dials.
      if (
        self < peer.toString() &&
        this.node.getConnections(peer).length === 0 &&
        this.attestation.admission.allows(peer.toString())
      ) {
        void this.node
          .dial(peer)
          .catch((err: unknown) => logger?.debug({ peer: peer.toString(), err: (err as Error).message }, 'dial failed'))
      }
    })
    await this.sites.load()
    await this.node.start()
    this.sites.start()
    await this.sinks.start()
  }

  /** Idempotent. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return
    this.state = 'stopped'
    await this.sites.stop()
    await this.sinks.stop()
    await this.externalWitnessing.stop()
    await this.replicator.stop()
    await this.attestation.stop()
    await this.node.stop()
    await this.feed.close()
  }

  /**
   * Records a cloned WebAuthn authenticator (a signature counter that did not grow) as an
   * alert.cloned_authenticator in the own feed: peers read it, the owner revokes the actor.
   */
  async recordClone(clone: CloneReport): Promise<void> {
    this.components.logger?.warn(
      { ...clone },
      "an actor's security key signed with a counter that did not grow: it may be cloned"
    )
    try {
      await this.feed.ledger.append(clonedAuthenticatorAlert(clone, this.init.state.deviceId))
    } catch (err) {
      this.components.logger?.error({ err: (err as Error).message }, 'the cloned-authenticator alert was not recorded')
    }
  }

  /** Keeps a peer out until unblock (operator maintenance; simnet partitions). */
  block(peerId: string): void {
    this.blocked.add(peerId)
  }
  unblock(peerId: string): void {
    this.blocked.delete(peerId)
  }
  isBlocked(peerId: string): boolean {
    return this.blocked.has(peerId)
  }

  /** Whether the TPM answers now (tpm-health.ts): what `fleet status` shows of it. */
  async tpmHealth(ms?: number): Promise<TpmHealth> {
    return await tpmHealth(this.components.tpm, ms)
  }

  /** Entries announced by peers that are not held here yet, summed over feeds. */
  async syncLag(): Promise<number> {
    return await this.replicator.syncLag()
  }

  /** Sizes of every feed held: the own feed (sealed part) and the replicas (a revoked device's up to the owner's cut). */
  async heads(): Promise<Map<string, number>> {
    return await this.replicator.heads()
  }

  /** Pulls what an attested peer holds more of (replication does this on its own; for tests and tools). */
  async pullFrom(peerId: string): Promise<void> {
    await this.replicator.pullFrom(peerId)
  }

  private ownerTargets(): OwnerStatementTargets {
    return {
      membership: this.membership,
      attestation: this.attestation,
      ledger: this.feed.ledger,
      replicas: this.replicas,
      quarantineStore: this.quarantineStore,
      ownSource: this.ownSource,
      passOnRevocation: async (revocation) => await this.witnessing.quarantines.passOnRevocation(revocation),
      logger: this.components.logger
    }
  }
}
