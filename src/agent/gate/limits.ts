/** Every bound of the gate room (workload secrets, the standing a workload runs under). */
export const GATE_LIMITS = {
  /** Secrets one device holds (files in DIR/secrets). */
  maxSecrets: 64,
  /**
   * One secret's value, bytes (a password, a key, a small credentials file): 32 KiB, so that its
   * base64 in a `secret.seal` request stays under the control socket's 64 KiB request cap.
   */
  maxSecretBytes: 32 * 1024,
  /** A secret file on disk: the value's ciphertext in base64 and the sealed data key. */
  maxSecretFileBytes: 48 * 1024,
  /** A secret's name: letters, digits, . _ - (it is also its file name). */
  maxNameLength: 64,
  /**
   * Looks at the secrets folders one settle of an interrupted re-seal takes at most: each step
   * another process settling at the same time took first costs one more.
   */
  maxSettleRounds: 4,
  /** Secrets one workload asks for at once. */
  maxSecretsPerWorkload: 16,
  /** Peers whose verdicts on this device are remembered (one entry a peer feed). */
  maxVerdictPeers: 4096,
  /** The quorum a workload may ask for. */
  maxQuorum: 64,
  /**
   * How old a peer's trusted verdict on this device may be and still count for a quorum, ms:
   * two of the default re-attestation intervals (5 min), so one missed round does not stop a workload.
   */
  verdictFreshMs: 10 * 60_000,
  /** How far ahead of this device's clock a verdict may be dated and still count, ms (clock skew). */
  verdictSkewMs: 2 * 60_000,
  /** How often the gate's watch asks the agent whether the workload may go on running, ms. */
  watchIntervalMs: 500,
  /**
   * How long the watch waits for an answer, and goes on asking through failures that may pass (the
   * gate socket busy, a connection reset), ms: after that the workload is stopped.
   */
  watchAnswerMs: 10_000,
  /** The PCRs are read again at most this often, ms (each read is one TPM command). */
  pcrRecheckMs: 1_000,
  /**
   * Events logged since the release that a changed PCR's reason names ("and N more" after them):
   * a reason is one line, and the feed keeps a stop's reason to 512 characters.
   */
  maxEventsNamed: 4,
  /** One named event's description (variable name, or the event data's printable start), characters. */
  maxEventDescriptionChars: 48,
  /** Why the event log could not be read, as a changed PCR's reason says it, characters. */
  maxLogErrorChars: 120,
  /** SIGTERM to SIGKILL, ms, unless the command says otherwise (within 1 ms .. 5 min). */
  defaultGraceMs: 10_000,
  maxGraceMs: 300_000,
  /** Local users (uids) holding a grant of the gate socket. */
  maxGrantUids: 128,
  /** The grants file (DIR/gate-grants.json): 128 users with 64 names of 64 characters each fit. */
  maxGrantsFileBytes: 1024 * 1024,
  /** Workloads admitted and not yet stopped, one user's (fleet exec processes). */
  maxAdmittedPerUid: 64,
  /** Workloads admitted and not yet stopped, all users'. */
  maxAdmitted: 1024,
  /**
   * Connections the gate socket serves at once, all users' (anyone may connect; those without a
   * grant are refused), and one user's: a user holding many open cannot keep the others' out.
   */
  gateSocketConnections: 1024,
  gateConnectionsPerUid: 16,
  /** How long a gate-socket connection may take to send its request, ms. */
  gateRequestIdleMs: 10_000,
  /** Workload starts one user may ask the gate socket for in a minute (each is two feed entries). */
  admissionsPerUidPerMinute: 60,
  /** Refused gate-socket requests the agent logs in a minute (anyone can be refused at any rate). */
  refusalLogsPerMinute: 60,
  /** Names in the user's folder on /dev/shm a fleet exec looks at for secret-files folders a killed one left. */
  maxSweptEntries: 256
} as const
