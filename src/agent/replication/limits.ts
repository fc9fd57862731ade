/** Every cap of ledger replication (/fleet/ledger-sync/1). */
import { LEDGER_LIMITS, SYNC_LIMITS } from '../../ledger/index.js'

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
  /** Feeds whose largest announced size is kept for the sync-lag metric. */
  maxFeedsAnnounced: 4096,
  /** A peer's announce stream is closed after this long without an announce (the next opens another). */
  announceIdleMs: 120_000,
  /** After a refused batch, this agent's checkpoint of the feed is shown to the peer at most this often (ms). */
  showHeldIntervalMs: 10_000,
  /** Peers and feeds whose last showing is remembered (the oldest is forgotten first). */
  maxShownHeld: 4096
} as const

/** Peers' alerts acted on at least once (peer-alerts.ts). */
export const ALERT_LIMITS = {
  /** Alerts about devices not enrolled here yet that wait for their enrolment, per reporting feed. */
  maxWaitingPerFeed: 16,
  /** The same, in all. */
  maxWaiting: 1024,
  /** Batches of one feed acted on past a gap, waiting for it to close before the alert cursor moves. */
  maxBatchesAhead: 64
} as const
