/** Every bound of EAR issuance (attestation results as signed JWTs). */
export const EAR_LIMITS = {
  /** eat_nonce: at least 64 bits and at most 64 bytes, as EAT requires of a nonce. */
  minNonceBytes: 8,
  maxNonceBytes: 64,
  /** aud: characters of the audience a relying party names. */
  maxAudienceChars: 256,
  /**
   * How old a verdict may be and still back a result: two rounds of re-attestation (every 5
   * minutes by default), as the gate counts a peer's verdict fresh. A result expires when its
   * verdict stops being fresh (exp), so no result outlives what it rests on.
   */
  verdictFreshMs: 10 * 60_000,
  /** A verdict dated ahead of this agent's clock by more than this is no verdict (a broken clock). */
  verdictSkewMs: 60_000,
  /**
   * Signed results kept for reuse (by subject, audience and verdict) until they expire: a result
   * without a nonce is signed in the TPM once per verdict, not once per request. The oldest go first.
   */
  maxCachedResults: 1024
} as const
