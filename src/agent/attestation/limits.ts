/** Every cap of mutual attestation and of what it keeps per peer. */
export const ATTEST_LIMITS = {
  maxEventLogBytes: 2 * 1024 * 1024,
  maxFrameBytes: 2 * 1024 * 1024 + 32 * 1024,
  stepTimeoutMs: 10_000,
  /**
   * Peers whose last verdict is kept (for attested() and the status list). Past it, the least
   * recently judged peer that is not attested on an open connection is forgotten first. Above
   * P2P_LIMITS.maxConnections, so every connected, attested peer fits.
   */
  maxPeerStatuses: 512,
  /** PeerIds of clones and revoked devices kept out by the connection gater; the oldest go first. */
  maxRefusedPeers: 512,
  /** PeerIds of strangers (records that enrol another PeerId) kept out by the gater; the oldest go first. */
  maxStrangers: 512,
  /** Devices whose last TPM clock is kept (one per member). */
  maxClocks: 4096,
  /**
   * One alert.clone_suspected per claimed device per window, however many peers present its
   * record; the count of the window's attempts is recorded when the next window opens.
   */
  cloneAlertWindowMs: 60 * 60_000,
  /** Claimed devices whose attempts are being counted; the oldest window goes first. */
  maxCloneTallies: 1024,
  /** Requests waiting for a peer's attestation at once (a hub's reservations); more are refused at once… */
  maxAttestWaiters: 64,
  /** …and at most this many for any one peer. */
  maxAttestWaitersPerPeer: 2
} as const
