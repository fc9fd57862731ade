/** Per-peer verdict bookkeeping of the attestation service: statuses, refusals, clocks, each map bounded. */
import type { Connection } from '@libp2p/interface'
import type { ClockInfo } from '../../attest/index.js'
import { ATTEST_LIMITS } from './limits.js'

export interface PeerStatus {
  peerId: string
  deviceId?: string
  hostname?: string
  role?: string
  trusted: boolean
  /** Why not, when not trusted. */
  kind?: string
  reasons: string[]
  /** For an untrusted boot: the boot policy's reason codes. */
  codes?: string[]
  /** The boot policy the verdict was reached by. */
  policyId?: string
  at: string
  /** Attestations of this peer that succeeded. */
  attestations: number
}

/** What the attestation service knows of each peer, oldest first in each map (bounded by ATTEST_LIMITS). */
export class PeerTable {
  readonly peers = new Map<string, PeerStatus>()
  /** PeerIds of clones and revoked devices kept out, oldest first (bounded by maxRefusedPeers). */
  readonly refused = new Set<string>()
  /**
   * PeerIds of strangers kept out, oldest first (bounded by maxStrangers): apart from `refused`,
   * so that a flood of fresh keys does not push a revoked device's PeerId out of it.
   */
  readonly strangers = new Set<string>()
  readonly revoked = new Set<string>()
  readonly clocks = new Map<string, ClockInfo>()
  /**
   * The open connections (by id) each peer attested on: a new connection must attest again.
   * Kept per peer so that attested(), asked for every announce, is a lookup.
   */
  readonly attestedOn = new Map<string, Set<string>>()

  refuse(peerId: string, set = this.refused, max: number = ATTEST_LIMITS.maxRefusedPeers): void {
    set.delete(peerId)
    set.add(peerId)
    for (const oldest of set) {
      if (set.size <= max) break
      set.delete(oldest)
    }
  }

  /**
   * The latest verdict on a device: of the peers that presented its record, the one judged last,
   * leaving out strangers (a copied record proves nothing about the device).
   */
  verdictOn(deviceId: string): PeerStatus | undefined {
    let latest: PeerStatus | undefined
    for (const status of this.peers.values()) {
      if (status.deviceId !== deviceId || status.kind === 'stranger') continue
      if (latest === undefined || Date.parse(status.at) >= Date.parse(latest.at)) latest = status
    }
    return latest
  }

  /** Keeps a peer's status, forgetting the least recently judged peers that are not attested when over the cap. */
  setStatus(status: PeerStatus): void {
    this.peers.delete(status.peerId)
    this.peers.set(status.peerId, status)
    if (this.peers.size <= ATTEST_LIMITS.maxPeerStatuses) return
    for (const [peerId] of this.peers) {
      if (this.peers.size <= ATTEST_LIMITS.maxPeerStatuses) return
      if (!this.attestedOn.has(peerId)) this.peers.delete(peerId)
    }
    for (const [peerId] of this.peers) {
      if (this.peers.size <= ATTEST_LIMITS.maxPeerStatuses) return
      this.peers.delete(peerId)
    }
  }

  setClock(deviceId: string, clock: ClockInfo): void {
    this.clocks.delete(deviceId)
    this.clocks.set(deviceId, clock)
    for (const [oldest] of this.clocks) {
      if (this.clocks.size <= ATTEST_LIMITS.maxClocks) break
      this.clocks.delete(oldest)
    }
  }

  /** True when the peer's last verdict is trusted and it attested on a connection that is still open. */
  attested(peerId: string): boolean {
    return this.peers.get(peerId)?.trusted === true && (this.attestedOn.get(peerId)?.size ?? 0) > 0
  }

  mark(connection: Connection, peerId: string): void {
    const ids = this.attestedOn.get(peerId) ?? new Set<string>()
    this.attestedOn.set(peerId, ids)
    ids.add(connection.id)
  }

  unmark(connection: Connection): void {
    const peerId = connection.remotePeer.toString()
    const ids = this.attestedOn.get(peerId)
    if (ids === undefined) return
    ids.delete(connection.id)
    if (ids.size === 0) this.attestedOn.delete(peerId)
  }

  list(): PeerStatus[] {
    return [...this.peers.values()].sort((a, b) => a.peerId.localeCompare(b.peerId))
  }
}
