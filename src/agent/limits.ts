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
  stepTimeoutMs: 10_000
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
