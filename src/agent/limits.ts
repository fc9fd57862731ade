/** Every cap of the agent's protocols: enrolment, attestation, ledger sync. */
import { LEDGER_LIMITS, SYNC_LIMITS } from '../ledger/limits.js'

export const ENROL_LIMITS = {
  /** An event log sent during enrolment (real logs are tens to hundreds of KiB). */
  maxEventLogBytes: 2 * 1024 * 1024,
  maxFrameBytes: 2 * 1024 * 1024 + 16 * 1024,
  /** Per protocol step, for machines. */
  stepTimeoutMs: 15_000,
  /** While a person compares the digits. */
  confirmTimeoutMs: 300_000
} as const

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
  maxCloneTallies: 1024
} as const

export const SYNC_PROTOCOL_LIMITS = {
  maxFrameBytes: SYNC_LIMITS.maxBatchBytes + LEDGER_LIMITS.maxEntryBytes + 256 * 1024,
  /** Batches served in one pull (the puller comes back for more). */
  maxBatchesPerPull: 16,
  stepTimeoutMs: 10_000,
  /** A pull from a peer whose attestation is still being judged waits this long, then is refused. */
  attestedWaitMs: 2_000,
  /** Pulls take turns; one that runs longer than this lets the next one start. */
  pullTurnMs: 2_000,
  /** A whole pull (up to maxBatchesPerPull batches) is cut off after this long. */
  pullDeadlineMs: 60_000,
  /** Pulls of the owner's feed, one after another, on one announce of it by a peer that is not attested. */
  maxOwnerFeedPulls: 16,
  /** Peers whose heads are kept (forgotten on disconnect; above P2P_LIMITS.maxConnections). */
  maxPeersTracked: 512,
  /** A peer's announce stream is closed after this long without an announce (the next opens another). */
  announceIdleMs: 120_000
} as const

/** What owner statements and peers' alerts make an agent keep. */
export const MEMBERSHIP_LIMITS = {
  /** Pieces of equivocation evidence the owner cleared. */
  maxCleared: 65_536,
  /** Feed epochs the owner authorised, per device. */
  maxEpochsPerFeed: 64,
  /** Owner revocations an agent passes on (alert.revocation) when it finds the owner's feed forked. */
  maxRevocationsPassedOn: 256,
  /** A revocation proof carried by an alert.revocation, in bytes (the body field's cap). */
  maxRevocationProofBytes: 24 * 1024,
  /** Revocations proved by peers' alerts kept across restarts. */
  maxProvenRevocations: 4096
} as const
