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
