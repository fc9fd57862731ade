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
  maxBookBytes: 16 * 1024,
  /** Peers the address book keeps (the least recently attested go first)… */
  maxBookedPeers: 512,
  /** …each with at most this many addresses. */
  maxAddressesPerPeer: 4,
  /** The most an address book (DIR/address-book.json) read back may hold. */
  maxAddressBookBytes: 256 * 1024,
  /** How long a change to the address book waits before it is written (changes in between go with it). */
  addressBookSaveMs: 5_000
} as const
