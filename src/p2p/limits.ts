/** Every cap of the p2p module in one place. */
export const P2P_LIMITS = {
  /** Largest length-prefixed frame accepted on any fleet protocol. */
  maxFrameBytes: 4 * 1024 * 1024,
  /** How long a peer may take to send the next expected frame. */
  frameTimeoutMs: 10_000,
  /** Inbound streams per protocol per connection. */
  maxInboundStreams: 8,
  maxOutboundStreams: 8,
  maxConnections: 300
} as const

/**
 * Caps of circuit relay v2 as hubs run it (src/p2p/node.ts): how many devices may hold a
 * reservation on one hub, for how long, and what one relayed link may carry before the hub
 * resets it (the two ends then dial through the hub again: the link is renewed).
 */
export const RELAY_LIMITS = {
  /** Hubs one agent may be given (its config's `hubs`). */
  maxHubs: 8,
  /** Reservations one hub holds at once (one per device behind it; within P2P_LIMITS.maxConnections). */
  maxReservations: 256,
  /** How long a reservation lasts; the device refreshes it before it ends. */
  reservationTtlMs: 60 * 60_000,
  /** How long one relayed link may stay open before the hub resets it. */
  linkDurationMs: 30 * 60_000,
  /** Bytes one relayed link may carry (both ways together) before the hub resets it. */
  linkDataBytes: 256n * 1024n * 1024n,
  /** Relayed links one hub carries at once (each an outbound STOP stream to the device reached). */
  maxLinks: 1024,
  /** Reservations and relayed links a device asks for at once, on every hub it is connected to. */
  maxClientLinks: 256,
  /** How long a hub waits for a device asking for a reservation to be attested on its connection… */
  attestWaitMs: 30_000,
  /** …and how long the device waits for the hub's answer: longer. */
  reservationAnswerMs: 40_000,
  /** Hop requests (reservations, links) one connection may have open at a hub at once. */
  maxHopStreams: 2
} as const

/**
 * For the fleet's own protocols (attestation, replication): they run over links a hub relays,
 * which carry the hub's limits (RELAY_LIMITS) and so count as limited connections in libp2p.
 */
export const OVER_RELAYS = { runOnLimitedConnection: true } as const

/** Caps of the private network's key file (network-key.ts). */
export const NETWORK_KEY_LIMITS = {
  /** A PSK v1 file is 95 bytes; anything much larger is not one. */
  maxFileBytes: 256
} as const
