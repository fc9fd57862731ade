/**
 * How an agent stays in touch beyond its own LAN, composed for the agent: the links to its hubs
 * (its config's and those the owner listed; the list kept in the hub book for the next start) and
 * the address book of peers it attested, dialled again at its next start.
 */
import type { Multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import type { FleetNode, FleetNodeInit, RelayGate } from '../../p2p/index.js'
import type { Logger } from '../ops/index.js'
import { AddressBook } from './address-book.js'
import { ownerListedHubs, readHubBook, writeHubBook, type HubMembers } from './hub-book.js'
import { HubLinks, parseHubAddress } from './hub-links.js'
import { HUB_LIMITS } from './limits.js'

/** What the agent knew of hubs when its node was made. */
export interface HubsAtStart {
  /** The hubs of its config. */
  config: Multiaddr[]
  /** How many hubs the hub book held. */
  booked: number
  /** Whether the node relays at all (a hub, or a device that knew of hubs). */
  relayOn: boolean
  isHub: boolean
}

/** What the agent knows of hubs before its node is made: its role, its config's hubs, its hub book. */
export async function hubsAtStart(dir: string, role: string, config: readonly string[] = []): Promise<HubsAtStart> {
  const isHub = role === 'hub'
  const given = config.map(parseHubAddress)
  const booked = (await readHubBook(dir)).length
  return { config: given, booked, relayOn: isHub || given.length + booked > 0, isHub }
}

/**
 * The node's relay: a hub relays for the members it has attested; a device that knows of hubs
 * (its config's, or those the owner listed as of its last run) holds a reservation on up to two
 * of them, and takes relayed links only through hubs it has attested. Undefined: no relaying.
 */
export function nodeRelay(
  hubs: HubsAtStart,
  gate: RelayGate,
  linkLimits?: { durationMs: number; dataBytes: bigint }
): FleetNodeInit['relay'] {
  if (!hubs.relayOn) return undefined
  return {
    serve: hubs.isHub,
    reservations: hubs.isHub ? 0 : Math.min(hubs.config.length + hubs.booked, 2),
    gate,
    linkLimits
  }
}

export interface SiteLinksInit {
  node: FleetNode
  dir: string
  membership: HubMembers & { list(): Array<{ deviceId: string; peerId: string }> }
  attested: (peerId: string) => boolean
  hubs: HubsAtStart
  logger?: Logger
  reachIntervalMs?: number
}

export class SiteLinks {
  /** The links kept to hubs and, through them, to members at other sites (not on a hub). */
  readonly hubLinks: HubLinks | undefined
  /** Where each attested peer was last reached directly. */
  readonly addressBook: AddressBook
  private readonly init: SiteLinksInit
  /** What the hub book holds: unknown (written at the first look) when it held hubs at the start. */
  private booked: string | undefined
  private warned = false
  private running = false

  constructor(init: SiteLinksInit) {
    this.init = init
    this.addressBook = new AddressBook(init.dir)
    this.booked = init.hubs.booked === 0 ? '' : undefined
    this.hubLinks = init.hubs.isHub
      ? undefined
      : new HubLinks({
          node: init.node,
          hubs: () => this.currentHubs(),
          attested: init.attested,
          members: () => this.members(),
          logger: init.logger,
          reachIntervalMs: init.reachIntervalMs
        })
  }

  /** Before the node starts: the address book written before. */
  async load(): Promise<void> {
    await this.addressBook.load()
  }

  /** Once the node runs: the hubs, and the booked peers dialled again. */
  start(): void {
    this.running = true
    this.hubLinks?.start()
    void this.dialBooked()
  }

  async stop(): Promise<void> {
    this.running = false
    this.hubLinks?.stop()
    await this.addressBook.flush()
  }

  /** Books where an attested peer listens (its announced addresses, relayed ones left out). */
  async notePeer(peerId: string): Promise<void> {
    try {
      const peer = await this.init.node.peerStore.get(peerIdFromString(peerId))
      this.addressBook.note(
        peerId,
        peer.addresses.map((a) => a.multiaddr)
      )
    } catch {
      // Not in the peer store (gone already): nothing to book.
    }
  }

  private members(): string[] {
    const { membership } = this.init
    return membership
      .list()
      .filter((m) => !membership.isRevoked(m.deviceId) && !membership.isQuarantined(m.deviceId))
      .map((m) => m.peerId)
  }

  /**
   * The hubs now: the config's and the owner's list (its changes written to the hub book). With no
   * relay on this node (no hub known when it started), a listed hub takes a restart, said once.
   */
  private currentHubs(): Multiaddr[] {
    const { init } = this
    const listed = ownerListedHubs(init.membership, init.node.peerId.toString())
    const text = listed.map((addr) => addr.toString()).join(' ')
    if (text !== this.booked) {
      this.booked = text
      void writeHubBook(init.dir, listed).catch((err: unknown) =>
        init.logger?.warn({ err: (err as Error).message }, 'the hub book could not be written')
      )
    }
    if (init.hubs.relayOn) return [...init.hubs.config, ...listed]
    if (listed.length > 0 && !this.warned) {
      this.warned = true
      init.logger?.warn(
        { hubs: listed.map((addr) => addr.toString()) },
        'the owner listed hubs after this agent started: restart it to reach the fleet through them'
      )
    }
    return []
  }

  /**
   * Dials the members in good standing the address book knows, a few at a time, so that peers
   * reached before (across a WAN, where mDNS does not go) are reached again. Each is attested on
   * its new connection like any peer.
   */
  private async dialBooked(): Promise<void> {
    const { node } = this.init
    const connected = new Set(node.getConnections().map((c) => c.remotePeer.toString()))
    const self = node.peerId.toString()
    const targets = this.members().filter(
      (peer) => peer !== self && !connected.has(peer) && this.addressBook.addresses(peer).length > 0
    )
    for (let i = 0; i < targets.length && this.running; i += HUB_LIMITS.dialConcurrency)
      await Promise.all(
        targets.slice(i, i + HUB_LIMITS.dialConcurrency).map(async (peer) => {
          await node
            .dial(this.addressBook.addresses(peer), { signal: AbortSignal.timeout(HUB_LIMITS.dialTimeoutMs) })
            .catch((err: unknown) =>
              this.init.logger?.debug({ peer, err: (err as Error).message }, 'a booked peer did not answer')
            )
        })
      )
  }
}
