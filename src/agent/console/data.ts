/**
 * What the console shows, read from the agent's own state: members with role, hardware and
 * standing; each verdict with its reasons (the PCR, event and digest a boot was refused for);
 * peers and how they are reached; each feed's size, sealing and witnesses; alerts; a feed's
 * timeline of typed actions; an entry's inclusion proof (what `fleet ledger verify-proof` checks).
 */
import { FleetError, toBase64, toHex } from '../../common/index.js'
import {
  EntryRuns,
  decodeEntry,
  feedSublevels,
  peekCheckpoint,
  replicaSpace,
  type Entry,
  type LedgerSpace
} from '../../ledger/index.js'
import { bootPolicyId } from '../../attest/index.js'
import { verifyEnrolmentRecord } from '../enrolment/record.js'
import { feedIdentityFromTrust, feedIdentityOf, type FeedIdentity } from '../feeds/index.js'
import { makeProofFile, type ProofFile } from '../membership/index.js'
import type { Agent } from '../agent.js'
import { CONSOLE_LIMITS } from './limits.js'

export interface ConsoleMember {
  deviceId: string
  hostname: string | null
  role: string | null
  /** The TPM tier the owner recorded at enrolment (device.tpm): 'ek-certified', 'software', … */
  tpm: string
  standing: 'trusted' | 'untrusted' | 'unattested' | 'revoked' | 'quarantined' | 'self'
  online: boolean
}

export interface ConsoleVerdict {
  peerId: string
  deviceId: string | null
  hostname: string | null
  trusted: boolean
  kind: string | null
  reasons: string[]
  codes: string[]
  policyId: string | null
  at: string
  attestations: number
}

export interface ConsolePeer {
  peerId: string
  deviceId: string | null
  /** How each connection reaches it: its remote address, and whether it is relayed. */
  connections: Array<{ address: string; relayed: boolean; direction: string }>
}

export interface ConsoleFeed {
  feed: string
  own: boolean
  size: number
  sealed: number
  /** Witnesses on the newest sealed checkpoint held (the feed's own signature not counted). */
  witnesses: number
}

export interface ConsoleEntry {
  seq: number
  type: string
  actor: string
  role: string
  time: number
  sealed: boolean
  /** The body in short (fields and values, bytes as hex), for the timeline. */
  summary: string
}

export interface ConsoleAlert {
  feed: string
  seq: number
  type: string
  time: number
  summary: string
}

export interface ConsoleOverview {
  self: {
    deviceId: string
    peerId: string
    fleetId: string
    /** The owner's feed (named so in the page). */
    ownerFeed: string
    policyId: string
    ontologyVersion: number
  }
  members: ConsoleMember[]
  verdicts: ConsoleVerdict[]
  peers: ConsolePeer[]
  feeds: ConsoleFeed[]
  alerts: ConsoleAlert[]
}

const ALERT = /^alert\./

/** A body in short: `field=value` pairs, bytes as hex (cut), the whole cut at maxSummaryChars. */
export function summarise(body: Record<string, unknown>): string {
  const show = (value: unknown): string => {
    if (value instanceof Uint8Array) return value.length > 16 ? `${toHex(value.subarray(0, 16))}…` : toHex(value)
    if (typeof value === 'string') return value.length > 80 ? `${value.slice(0, 80)}…` : value
    if (Array.isArray(value)) return `[${value.length}]`
    if (value !== null && typeof value === 'object') return '{…}'
    return String(value)
  }
  const text = Object.entries(body)
    .map(([key, value]) => `${key}=${show(value)}`)
    .join(' ')
  return text.length > CONSOLE_LIMITS.maxSummaryChars ? `${text.slice(0, CONSOLE_LIMITS.maxSummaryChars)}…` : text
}

export class ConsoleData {
  private readonly records = new Map<string, { hostname: string; role: string }>()
  /** Per feed held: how far it was read for alerts, and its newest alerts (bounded per feed). */
  private readonly alertsByFeed = new Map<string, { scanned: number; alerts: ConsoleAlert[] }>()

  private own: FeedIdentity | undefined

  /** `stateDir`: the agent's state directory (its enrolment is the root of every proof's trust chain). */
  constructor(
    private readonly agent: Agent,
    private readonly deviceId: string,
    private readonly stateDir: string
  ) {}

  async overview(): Promise<ConsoleOverview> {
    const agent = this.agent
    const feeds = await this.feeds()
    return {
      self: {
        deviceId: this.deviceId,
        peerId: agent.node.peerId.toString(),
        fleetId: toHex(agent.membership.fleetId),
        ownerFeed: agent.membership.ownerFeed,
        policyId: bootPolicyId(agent.membership.policy),
        ontologyVersion: agent.membership.ontology.version
      },
      members: this.members(),
      verdicts: this.verdicts(),
      peers: this.peers(),
      feeds,
      alerts: await this.alerts(feeds)
    }
  }

  /** A cheap fingerprint of what the overview shows: a change tells the live streams. */
  async fingerprint(): Promise<string> {
    const agent = this.agent
    const heads = [...(await agent.heads())].map(([feed, size]) => `${feed}:${size}`).join(',')
    const verdicts = agent.attestation
      .list()
      .map((p) => `${p.peerId}:${p.trusted}:${p.at}`)
      .join(',')
    const standing = agent.membership
      .list()
      .map(
        (m) => `${m.deviceId}:${agent.membership.isRevoked(m.deviceId)}:${agent.membership.isQuarantined(m.deviceId)}`
      )
      .join(',')
    return `${heads}|${agent.feed.ledger.size}|${verdicts}|${standing}|${agent.node.getConnections().length}`
  }

  members(): ConsoleMember[] {
    const agent = this.agent
    const verdicts = new Map(agent.attestation.list().map((p) => [p.deviceId, p]))
    const online = new Set(agent.node.getConnections().map((c) => c.remotePeer.toString()))
    return agent.membership.list().map((member) => {
      const record = this.record(member.deviceId)
      const verdict = verdicts.get(member.deviceId)
      const standing: ConsoleMember['standing'] =
        member.deviceId === this.deviceId
          ? 'self'
          : agent.membership.isRevoked(member.deviceId)
            ? 'revoked'
            : agent.membership.isQuarantined(member.deviceId)
              ? 'quarantined'
              : verdict === undefined
                ? 'unattested'
                : verdict.trusted
                  ? 'trusted'
                  : 'untrusted'
      return {
        deviceId: member.deviceId,
        hostname: record?.hostname ?? verdict?.hostname ?? null,
        role: record?.role ?? verdict?.role ?? null,
        tpm: agent.membership.tpmTiers.tierOf(member.deviceId),
        standing,
        online: member.deviceId === this.deviceId || online.has(member.peerId)
      }
    })
  }

  verdicts(): ConsoleVerdict[] {
    return this.agent.attestation.list().map((p) => ({
      peerId: p.peerId,
      deviceId: p.deviceId ?? null,
      hostname: p.hostname ?? null,
      trusted: p.trusted,
      kind: p.kind ?? null,
      reasons: p.reasons,
      codes: p.codes ?? [],
      policyId: p.policyId ?? null,
      at: p.at,
      attestations: p.attestations
    }))
  }

  peers(): ConsolePeer[] {
    const devices = new Map(this.agent.attestation.list().map((p) => [p.peerId, p.deviceId ?? null]))
    const byPeer = new Map<string, ConsolePeer>()
    for (const connection of this.agent.node.getConnections()) {
      const peerId = connection.remotePeer.toString()
      let peer = byPeer.get(peerId)
      if (peer === undefined) {
        peer = { peerId, deviceId: devices.get(peerId) ?? null, connections: [] }
        byPeer.set(peerId, peer)
      }
      const address = connection.remoteAddr.toString()
      peer.connections.push({ address, relayed: address.includes('/p2p-circuit'), direction: connection.direction })
    }
    return [...byPeer.values()]
  }

  async feeds(): Promise<ConsoleFeed[]> {
    const out: ConsoleFeed[] = [(await this.feedInfo(this.deviceId))!]
    for (const [feed, size] of await this.agent.replicas.feeds()) out.push((await this.feedInfo(feed, size))!)
    return out
  }

  /** One feed held (the own, or a replica of `size`); undefined when it is not held. */
  private async feedInfo(feed: string, given?: number): Promise<ConsoleFeed | undefined> {
    const agent = this.agent
    if (feed === this.deviceId) {
      const ledger = agent.feed.ledger
      const witnesses = witnessesOn(await ledger.latestCheckpoint())
      return { feed, own: true, size: ledger.size, sealed: ledger.sealedSize, witnesses }
    }
    const size = given ?? (await agent.replicas.feeds()).get(feed)
    if (size === undefined) return undefined
    const sealed = await agent.replicas.source(feed).sealed()
    return { feed, own: false, size, sealed: Math.min(size, sealed?.size ?? 0), witnesses: witnessesOn(sealed?.note) }
  }

  /** Up to `limit` entries of a feed from seq `from` (FeedNotHeldError when it is not held). */
  async timeline(
    feed: string,
    from: number,
    limit: number
  ): Promise<{ feed: string; size: number; sealed: number; from: number; entries: ConsoleEntry[] }> {
    const held = await this.feedInfo(feed)
    if (held === undefined) throw new FeedNotHeldError(feed)
    const entries: ConsoleEntry[] = []
    for await (const entry of this.entries(feed, from)) {
      if (entries.length >= limit) break
      entries.push({
        seq: entry.seq,
        type: entry.type,
        actor: entry.actor.id,
        role: entry.actor.role,
        time: entry.time,
        sealed: entry.seq < held.sealed,
        summary: summarise(entry.body)
      })
    }
    return { feed, size: held.size, sealed: held.sealed, from, entries }
  }

  /**
   * The proof file of a sealed entry (what `fleet ledger verify-proof` checks): ProofError when it
   * is not stored or not sealed yet, FeedNotHeldError when the feed is not held or its trust chain
   * cannot be given from here (a device enrolled under another boot policy than this one).
   */
  async proof(feed: string, seq: number): Promise<ProofFile> {
    if ((await this.feedInfo(feed)) === undefined) throw new FeedNotHeldError(feed)
    return await makeProofFile(this.agent.feed.store, await this.identityOf(feed), seq, this.space(feed))
  }

  private async identityOf(feed: string): Promise<FeedIdentity> {
    this.own ??= await feedIdentityOf(this.stateDir)
    const own = this.own
    if (feed === own.feedId) return own
    const membership = this.agent.membership
    if (feed === membership.ownerFeed)
      return {
        kind: 'owner',
        fleetId: own.fleetId,
        feedId: feed,
        feedKey: membership.ownerKey,
        trust: { genesis: own.trust.genesis }
      }
    const signed = membership.member(feed)?.signed
    if (signed === undefined || own.trust.enrolment === undefined) throw new FeedNotHeldError(feed)
    const trust = {
      genesis: own.trust.genesis,
      enrolment: {
        record: toBase64(signed.record),
        p256: toBase64(signed.signature.p256),
        mldsa65: toBase64(signed.signature.mldsa65),
        policy: own.trust.enrolment.policy
      }
    }
    try {
      return feedIdentityFromTrust(trust, feed)
    } catch {
      throw new FeedNotHeldError(feed)
    }
  }

  /**
   * The newest alerts: each feed's last maxAlertsPerFeed among its newest alertScanEntries
   * entries (read once: later calls read only what was added), newest first by the entry's time
   * taken no later than now (a writer's clock, or a hostile writer, cannot date its alerts ahead
   * of the others'; nor can one feed crowd the others out).
   */
  private async alerts(feeds: readonly ConsoleFeed[]): Promise<ConsoleAlert[]> {
    const now = Date.now()
    const out: ConsoleAlert[] = []
    for (const { feed, size } of feeds) {
      let kept = this.alertsByFeed.get(feed)
      // A replica moved to a new epoch (rewound): read again.
      if (kept === undefined || kept.scanned > size) kept = { scanned: 0, alerts: [] }
      for await (const entry of this.entries(feed, Math.max(kept.scanned, size - CONSOLE_LIMITS.alertScanEntries))) {
        if (entry.seq >= size) break
        if (ALERT.test(entry.type)) {
          kept.alerts.push({ feed, seq: entry.seq, type: entry.type, time: entry.time, summary: summarise(entry.body) })
          if (kept.alerts.length > CONSOLE_LIMITS.maxAlertsPerFeed) kept.alerts.shift()
        }
      }
      kept.scanned = size
      this.alertsByFeed.set(feed, kept)
      out.push(...kept.alerts)
    }
    const shown = (a: ConsoleAlert): number => Math.min(a.time, now)
    return out.sort((a, b) => shown(b) - shown(a)).slice(0, CONSOLE_LIMITS.maxAlerts)
  }

  private space(feed: string): LedgerSpace {
    const store = this.agent.feed.store
    return feed === this.deviceId ? store : replicaSpace(store, feed)
  }

  private async *entries(feed: string, from: number): AsyncGenerator<Entry> {
    for await (const { bytes } of new EntryRuns(feedSublevels(this.space(feed)).entries).entries(from))
      yield decodeEntry(bytes).entry
  }

  private record(deviceId: string): { hostname: string; role: string } | undefined {
    const kept = this.records.get(deviceId)
    if (kept !== undefined) return kept
    const signed = this.agent.membership.member(deviceId)?.signed
    if (signed === undefined) return undefined
    try {
      const record = verifyEnrolmentRecord(signed, {
        key: this.agent.membership.ownerKey,
        fleetId: this.agent.membership.fleetId
      })
      const shown = { hostname: record.hostname, role: record.role }
      if (this.records.size < CONSOLE_LIMITS.maxRecordsKept) this.records.set(deviceId, shown)
      return shown
    } catch {
      return undefined
    }
  }
}

/** Witnesses on a checkpoint note: the names on its signature lines but the feed's own. */
function witnessesOn(note: string | undefined): number {
  if (note === undefined) return 0
  const peeked = peekCheckpoint(note)
  return peeked === undefined ? 0 : Math.max(0, peeked.names.size - 1)
}

/** A feed this agent does not hold was asked for. */
export class FeedNotHeldError extends FleetError {
  constructor(feed: string) {
    super(`no feed ${feed.slice(0, 64)} is held here`, { code: 'ERR_CONSOLE_FEED_NOT_HELD' })
  }
}
