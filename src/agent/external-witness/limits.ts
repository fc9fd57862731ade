/** Every cap of the external witness service (external witnesses the owner listed). */
export const EXTERNAL_WITNESS_LIMITS = {
  /** External witnesses an agent submits to (the owner's later statements past this are not taken). */
  maxWitnesses: 8,
  /** One add-checkpoint request, from sending it to the last byte of the answer (ms). */
  requestTimeoutMs: 10_000,
  /** After a failed submission, the next waits this long, doubled per failure in a row (ms)… */
  backoffBaseMs: 5_000,
  /** …up to this (ms). */
  backoffMaxMs: 15 * 60 * 1000,
  /** At most one split-view alert per witness in this long (ms): a hostile witness cannot fill the ledger. */
  alertIntervalMs: 6 * 60 * 60 * 1000,
  /** At most this many split-view alerts over all witnesses in alertWindowMs. */
  maxAlertsPerWindow: 4,
  alertWindowMs: 24 * 60 * 60 * 1000,
  /** The witness's answer kept as an alert's evidence, bytes (a longer one is cut). */
  maxEvidenceBytes: 1024,
  /** A witness's URL, characters. */
  maxUrlLength: 2048
} as const
