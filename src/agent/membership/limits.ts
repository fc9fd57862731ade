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
  maxProvenRevocations: 4096,
  /** Actors the owner enrolled (actor.enrol), revoked ones included. */
  maxActors: 65_536,
  /** Devices whose TPM tier the owner recorded (device.tpm). */
  maxTpmTiers: 65_536,
  /**
   * WebAuthn signature counters remembered, one per actor, enrolment and feed; as many credentials'
   * sightings, and as many clones told (per actor and feed). Each table forgets the row it learnt
   * first when full; all three are kept across restarts (counter-memory.ts).
   */
  maxActorCounters: 262_144,
  /** Actor signatures remembered to refuse the same one at another entry (the oldest is forgotten first). */
  maxRecentProofs: 262_144
} as const

/** How enrolled actors' keys are kept and judged (actors.ts). */
export const ACTOR_LIMITS = {
  /** Enrolments kept per actor (rotations); the oldest is forgotten first. */
  maxKeysPerActor: 16,
  /** An action signed this close to an enrolment (ms) is checked against the keys on both sides of it. */
  enrolSkewMs: 60 * 1000,
  /** WebAuthn signatures remembered per credential, across feeds, for the clone check. */
  maxSightings: 64,
  /**
   * A stored row of the counter memory, in bytes: a credential's full sightings are 64 of about
   * 100 bytes each (a bigger row is refused as damaged).
   */
  maxCounterRowBytes: 8 * 1024,
  /** Two signatures of one credential further apart than this (ms) must agree in order by time and counter. */
  cloneSkewMs: 2 * 60 * 1000,
  /** Programs the owner allowed services to act through (workload.allow), revoked ones included. */
  maxWorkloadAllowances: 4096
} as const
