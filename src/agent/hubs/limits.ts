/** Every cap of the hub links (hub-links.ts). The relay's own caps are RELAY_LIMITS in src/p2p. */
export const HUB_LIMITS = {
  /** How often the agent looks for members it is not connected to, to reach through a hub. */
  reachIntervalMs: 10_000,
  /** Members dialled through hubs in one round; the rest wait for the next. */
  maxDialsPerRound: 64,
  /** Dials through a hub at once. */
  dialConcurrency: 4,
  /** One dial's deadline (a hub, or a member through a hub). */
  dialTimeoutMs: 10_000,
  /** The first pause before a hub that dropped is dialled again; it doubles… */
  minBackoffMs: 1_000,
  /** …up to this. */
  maxBackoffMs: 60_000,
  /** The most a hub book (DIR/hubs.json) read back may hold. */
  maxBookBytes: 16 * 1024
} as const
