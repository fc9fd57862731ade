/** Every cap of the tlog-witness protocol code (c2sp.org/tlog-witness, c2sp.org/tlog-cosignature). */
export const TLOG_WITNESS_LIMITS = {
  /** Consistency proof lines of one add-checkpoint request (the spec: a client MUST NOT send more than 63). */
  maxProofLines: 63,
  /** A witness's response body, bytes: a few cosignature lines, or a 409's size line. Larger is refused unread. */
  maxResponseBytes: 8 * 1024,
  /** Signature lines of one 200 response (a witness may sign with several keys; only the configured one counts). */
  maxResponseLines: 16,
  /** Verifier key text (`name+keyid+base64(type ‖ key)`), bytes. */
  maxVerifierKeyBytes: 512,
  /** A cosignature's timestamp, POSIX seconds (the spec: MUST NOT exceed 2^63 - 1). */
  maxTimestamp: 2n ** 63n - 1n,
  /**
   * How far a cosignature's timestamp may be from the submitting device's clock, seconds: ahead of
   * it (a timestamp in the future is refused), and before the request was sent (an older one is a
   * replay, not an answer to this request).
   */
  clockSkewSeconds: 300
} as const
