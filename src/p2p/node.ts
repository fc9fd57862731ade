import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { mdns } from '@libp2p/mdns'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { P2P_LIMITS } from './limits.js'
import { fleetNoiseCrypto } from './noise-crypto.js'

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
}

export type FleetNode = Libp2p<{
  identify: ReturnType<ReturnType<typeof identify>>
  ping: ReturnType<ReturnType<typeof ping>>
}>

/**
 * A libp2p node with the fleet's stack: TCP, Noise, Yamux, mDNS, identify, ping. Connections are
 * gated by `admission` after Noise (inbound and outbound). Loopback is always allowed by the
 * connection manager's rate limits, since simnet runs many agents on 127.0.0.1; the connection
 * monitor is off because the fleet's own attestation traffic already proves liveness.
 */
export async function createFleetNode(init: FleetNodeInit): Promise<FleetNode> {
  const deny = (peerId: PeerId): boolean => !init.admission.allows(peerId.toString())
  return (await createLibp2p({
    start: init.start ?? true,
    privateKey: init.privateKey,
    addresses: { listen: init.listen ?? ['/ip4/0.0.0.0/tcp/0'] },
    transports: [tcp()],
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
      denyOutboundEncryptedConnection: deny
    },
    connectionManager: {
      maxConnections: P2P_LIMITS.maxConnections,
      allow: ['/ip4/127.0.0.0/ipcidr/8']
    },
    connectionMonitor: { enabled: false },
    services: { identify: identify(), ping: ping() }
  })) as FleetNode
}
