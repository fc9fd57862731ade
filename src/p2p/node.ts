import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { mdns } from '@libp2p/mdns'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { preSharedKey } from '@libp2p/pnet'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { P2P_LIMITS, RELAY_LIMITS } from './limits.js'
import { fleetNoiseCrypto } from './noise-crypto.js'

/**
 * Who may use a hub's relay, and which relays a device takes links from. Every answer is for
 * peers this node has attested on a live connection: a stranger, a revoked or quarantined device,
 * or one not yet attested is refused (a hub waits, bounded, for an attestation under way).
 */
export interface RelayGate {
  /** Whether `peerId` may hold a reservation on this hub (asked on the hub). */
  mayReserve(peerId: string): Promise<boolean>
  /** Whether this hub may carry a link from `source` to `destination` (asked on the hub). */
  mayRelay(source: string, destination: string): boolean
  /** Whether a link relayed by `relay` may reach this device (asked on the device). */
  relayTrusted(relay: string): boolean
}

/**
 * Who may hold an encrypted connection to this node. The gater asks it after the Noise handshake,
 * when the remote PeerId is known; protocol handlers still check what each peer may do.
 */
export interface Admission {
  /** True for enrolled, unrevoked, unquarantined peers, and for anyone while an enrolment window is open. */
  allows(peerId: string): boolean
}

export interface FleetNodeInit {
  /** Ed25519 key: the Noise identity. In the agent it is unsealed from the TPM. */
  privateKey: PrivateKey
  admission: Admission
  /** Default: all interfaces, an ephemeral port. */
  listen?: string[]
  /** mDNS service tag: one per fleet, so fleets (and tests) on one link do not see each other. */
  serviceTag?: string
  /** mDNS discovery on (default) or off (peers given by address only). */
  mdns?: boolean
  mdnsIntervalMs?: number
  /** Start listening at once (default). Pass false to attach event listeners first, then call start(). */
  start?: boolean
  /**
   * Circuit relay v2 (through hubs), gated by `gate`: with `serve`, this node is a hub and relays
   * for the peers the gate allows; `reservations` is how many hubs to hold a reservation on (each
   * an address other members dial this node through). Without `relay`, no relaying at all.
   */
  relay?: {
    gate: RelayGate
    serve?: boolean
    reservations?: number
    /** A hub's limits of one relayed link (default RELAY_LIMITS.linkDurationMs, linkDataBytes). */
    linkLimits?: { durationMs: number; dataBytes: bigint }
  }
  /** The fleet's private network key (readNetworkKey): every connection proves it first. Default: none. */
  networkKey?: Uint8Array
}

export type FleetNode = Libp2p<{
  identify: ReturnType<ReturnType<typeof identify>>
  ping: ReturnType<ReturnType<typeof ping>>
  relay?: ReturnType<ReturnType<typeof circuitRelayServer>>
}>

/**
 * A libp2p node with the fleet's stack: TCP, Noise, Yamux, mDNS, identify, ping. Connections are
 * gated by `admission` after Noise (inbound and outbound). Loopback is always allowed by the
 * connection manager's rate limits, since simnet runs many agents on 127.0.0.1; the connection
 * monitor is off because the fleet's own attestation traffic already proves liveness.
 */
export async function createFleetNode(init: FleetNodeInit): Promise<FleetNode> {
  const deny = (peerId: PeerId): boolean => !init.admission.allows(peerId.toString())
  const relay = init.relay
  const gate = relay?.gate
  // `/p2p-circuit` once per hub to hold a reservation on: found among the connected peers that relay.
  const circuits = Array.from({ length: relay?.reservations ?? 0 }, () => '/p2p-circuit')
  return (await createLibp2p({
    start: init.start ?? true,
    privateKey: init.privateKey,
    addresses: { listen: [...(init.listen ?? ['/ip4/0.0.0.0/tcp/0']), ...circuits] },
    transports:
      relay === undefined
        ? [tcp()]
        : [
            tcp(),
            circuitRelayTransport({
              maxInboundStopStreams: RELAY_LIMITS.maxClientLinks,
              maxOutboundStopStreams: RELAY_LIMITS.maxClientLinks,
              // The hub answers once this device is attested there: wait for it.
              reservationCompletionTimeout: RELAY_LIMITS.reservationAnswerMs
            })
          ],
    ...(init.networkKey === undefined ? {} : { connectionProtector: preSharedKey({ psk: init.networkKey }) }),
    connectionEncrypters: [noise({ crypto: fleetNoiseCrypto })],
    streamMuxers: [yamux()],
    peerDiscovery:
      init.mdns === false
        ? []
        : [mdns({ serviceTag: init.serviceTag ?? '_fleet._udp.local', interval: init.mdnsIntervalMs ?? 2_000 })],
    connectionGater: {
      denyDialMultiaddr: () => false,
      denyDialPeer: deny,
      denyInboundEncryptedConnection: deny,
      denyOutboundEncryptedConnection: deny,
      // A hub: reservations and links only for the peers the gate allows. A device: links only
      // through relays it trusts (the remote end then attests as on any connection).
      denyInboundRelayReservation: async (source: PeerId) =>
        gate === undefined || !(await gate.mayReserve(source.toString())),
      denyOutboundRelayedConnection: (source: PeerId, destination: PeerId) =>
        gate === undefined || !gate.mayRelay(source.toString(), destination.toString()),
      denyInboundRelayedConnection: (relayPeer: PeerId, remote: PeerId) =>
        gate === undefined || !gate.relayTrusted(relayPeer.toString()) || deny(remote)
    },
    connectionManager: {
      maxConnections: P2P_LIMITS.maxConnections,
      allow: ['/ip4/127.0.0.0/ipcidr/8']
    },
    connectionMonitor: { enabled: false },
    services: {
      identify: identify(),
      ping: ping(),
      ...(relay?.serve === true
        ? {
            relay: circuitRelayServer({
              maxOutboundStopStreams: RELAY_LIMITS.maxLinks,
              maxInboundHopStreams: RELAY_LIMITS.maxHopStreams,
              hopTimeout: RELAY_LIMITS.reservationAnswerMs,
              reservations: {
                maxReservations: RELAY_LIMITS.maxReservations,
                reservationTtl: RELAY_LIMITS.reservationTtlMs,
                applyDefaultLimit: true,
                defaultDurationLimit: relay.linkLimits?.durationMs ?? RELAY_LIMITS.linkDurationMs,
                defaultDataLimit: relay.linkLimits?.dataBytes ?? RELAY_LIMITS.linkDataBytes
              }
            })
          }
        : {})
    }
  })) as FleetNode
}
