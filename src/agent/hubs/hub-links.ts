/**
 * Sites joined through hubs: the agent keeps a connection to each hub it is given (by its config,
 * or listed by the owner: the list is asked again every round, so the owner's changes are followed;
 * each hub attested like any peer, redialled with backoff when it drops), holds a relay reservation on them (so members
 * at other sites can reach it), and reaches the members it is not connected to through a hub it
 * has attested. The links are end to end: Noise and mutual attestation run between the two
 * devices over the hub's circuit, and the hub sees ciphertext only.
 */
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import type { FleetNode } from '../../p2p/index.js'
import type { Logger } from '../ops/index.js'
import { HUB_LIMITS } from './limits.js'

export interface HubLinksInit {
  node: FleetNode
  /** The hubs' addresses now, each naming its peer (/p2p/…): asked again every round. */
  hubs: () => readonly Multiaddr[]
  /** Whether this agent trusts the peer now (attested on a live connection). */
  attested: (peerId: string) => boolean
  /** The members to reach (PeerIds), without this agent and without revoked or quarantined ones. */
  members: () => string[]
  logger?: Logger
  /** How often to look for members not connected (default HUB_LIMITS.reachIntervalMs). */
  reachIntervalMs?: number
}

/** What the agent does to stay in touch across sites; counts for status and metrics. */
export class HubLinks {
  /** Links opened through a hub, and dials through a hub that failed. */
  readonly counts = { relayedDials: 0, relayedDialsFailed: 0, hubRedials: 0 }
  private readonly init: HubLinksInit
  private readonly backoff = new Map<string, number>()
  private readonly timers = new Set<NodeJS.Timeout>()
  /** Hubs with a redial pending. */
  private readonly pending = new Set<string>()
  private reachTimer: NodeJS.Timeout | undefined
  private reaching = false
  private stopped = false
  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => {
    const peer = evt.detail.toString()
    if (this.addresses().has(peer)) this.later(peer)
  }

  constructor(init: HubLinksInit) {
    this.init = init
  }

  /** The hubs now, by PeerId. */
  private addresses(): Map<string, Multiaddr> {
    const hubs = new Map<string, Multiaddr>()
    for (const addr of this.init.hubs()) {
      const peer = addr.getComponents().find((c) => c.name === 'p2p')?.value
      if (peer !== undefined && !hubs.has(peer)) hubs.set(peer, addr)
    }
    return hubs
  }

  /** Dials every hub, and from now on each round: hubs listed since, and members to reach through them. */
  start(): void {
    this.init.node.addEventListener('peer:disconnect', this.onDisconnect)
    this.dialNewHubs()
    this.reachTimer = setInterval(() => {
      this.dialNewHubs()
      void this.reach()
    }, this.init.reachIntervalMs ?? HUB_LIMITS.reachIntervalMs)
  }

  /** Dials the hubs not connected and not waiting for a redial. */
  private dialNewHubs(): void {
    const connected = this.connected()
    for (const hub of this.addresses().keys()) if (!connected.has(hub) && !this.backoff.has(hub)) void this.dialHub(hub)
  }

  stop(): void {
    this.stopped = true
    this.init.node.removeEventListener('peer:disconnect', this.onDisconnect)
    clearInterval(this.reachTimer)
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
  }

  /** The hubs this agent is given now (PeerIds). */
  hubs(): string[] {
    return [...this.addresses().keys()]
  }

  /** The hubs this agent holds an attested connection to now. */
  attestedHubs(): string[] {
    return this.hubs().filter((hub) => this.init.attested(hub))
  }

  /**
   * Dials, through an attested hub, every member this agent is not connected to (a few at a time).
   * A member with no reservation on that hub is refused by it at once; it is tried again next round.
   */
  async reach(): Promise<void> {
    if (this.reaching || this.stopped) return
    this.reaching = true
    try {
      const hubs = this.attestedHubs()
      if (hubs.length === 0) return
      const self = this.init.node.peerId.toString()
      const connected = this.connected()
      const hubIds = this.addresses()
      const missing = this.init
        .members()
        .filter((peer) => peer !== self && !hubIds.has(peer) && !connected.has(peer))
        .slice(0, HUB_LIMITS.maxDialsPerRound)
      for (let i = 0; i < missing.length && !this.stopped; i += HUB_LIMITS.dialConcurrency) {
        await Promise.all(
          missing.slice(i, i + HUB_LIMITS.dialConcurrency).map(async (peer, j) => {
            const hub = hubs[(i + j) % hubs.length]!
            const address = hubIds.get(hub)!.encapsulate(`/p2p-circuit/p2p/${peer}`)
            try {
              await this.init.node.dial(address, { signal: AbortSignal.timeout(HUB_LIMITS.dialTimeoutMs) })
              this.counts.relayedDials++
            } catch (err) {
              this.counts.relayedDialsFailed++
              this.init.logger?.debug(
                { peer, hub, err: (err as Error).message },
                'could not reach a member through a hub'
              )
            }
          })
        )
      }
    } finally {
      this.reaching = false
    }
  }

  private connected(): Set<string> {
    return new Set(this.init.node.getConnections().map((connection) => connection.remotePeer.toString()))
  }

  private async dialHub(hub: string): Promise<void> {
    const address = this.addresses().get(hub)
    // A hub no longer listed is not dialled again.
    if (this.stopped || address === undefined || this.connected().has(hub)) {
      this.backoff.delete(hub)
      return
    }
    try {
      await this.init.node.dial(address, { signal: AbortSignal.timeout(HUB_LIMITS.dialTimeoutMs) })
      this.backoff.delete(hub)
    } catch (err) {
      this.init.logger?.warn({ hub, err: (err as Error).message }, 'could not reach a hub; trying again later')
      this.later(hub)
    }
  }

  /** The hub is dialled again after a pause that doubles, up to HUB_LIMITS.maxBackoffMs. */
  private later(hub: string): void {
    // One redial pending per hub: a hub that drops again meanwhile is not dialled twice.
    if (this.stopped || this.pending.has(hub)) return
    this.pending.add(hub)
    const wait = Math.min((this.backoff.get(hub) ?? HUB_LIMITS.minBackoffMs / 2) * 2, HUB_LIMITS.maxBackoffMs)
    this.backoff.set(hub, wait)
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      this.pending.delete(hub)
      this.counts.hubRedials++
      void this.dialHub(hub)
    }, wait)
    this.timers.add(timer)
  }
}

/** The hub's PeerId when the address is a relayed one (…/p2p/HUB/p2p-circuit/…), else undefined. */
export function relayOf(address: Multiaddr): string | undefined {
  const parts = address.getComponents()
  const circuit = parts.findIndex((c) => c.name === 'p2p-circuit')
  if (circuit < 1) return undefined
  const hub = parts[circuit - 1]
  return hub?.name === 'p2p' ? hub.value : undefined
}

/** A hub's address from the config: a multiaddr naming its peer, else an Error saying why. */
export function parseHubAddress(text: string): Multiaddr {
  const addr = multiaddr(text)
  if (addr.getComponents().find((c) => c.name === 'p2p') === undefined)
    throw new Error(`hub address ${text} names no peer (/p2p/…)`)
  if (addr.getComponents().some((c) => c.name === 'p2p-circuit'))
    throw new Error(`hub address ${text} is itself relayed`)
  return addr
}
