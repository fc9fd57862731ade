/** Caps of an actor's proof (entry version 2's `proof`: src/ledger/actor-proof.ts). */
export const ACTOR_PROOF_LIMITS = {
  /** The encoded proof (a WebAuthn assertion's authenticator data, client data and signature fit). */
  maxProofBytes: 4 * 1024,
  /** The proof's signature bytes (P-256 r‖s: 64; a stored WebAuthn assertion: up to 3 KiB). */
  maxSignatureBytes: 3 * 1024,
  /** How long before its entry's time an action may have been signed (ms): an approval is appended at once. */
  maxSignedBeforeMs: 10 * 60 * 1000,
  /** How far after its entry's time (ms): the two clocks may differ a little. */
  maxSignedAfterMs: 60 * 1000,
  /** Entries whose proofs offline verification checks together (a directory verifies a run's token signatures at once). */
  verifyRun: 512
} as const

/** Every cap of the ledger module. */
export const LEDGER_LIMITS = {
  /** Encoded entry size. (Depth, item count and text length are capped by the codec's CBOR_LIMITS.) */
  maxEntryBytes: 64 * 1024,
  /** Feed length, so sizes and indexes stay exact numbers. */
  maxFeedSize: Number.MAX_SAFE_INTEGER,
  /** Proof length (a tree of 2^64 leaves needs at most 64 hashes per side). */
  maxProofHashes: 128
} as const

/**
 * Caps of a checkpoint note (C2SP signed-note: verifiers MUST accept at least 16 signatures, and
 * post-quantum ones run to nearly 5 kB). Lines by keys a verifier does not know are parsed and
 * ignored up to these caps.
 */
export const CHECKPOINT_LIMITS = {
  /** Peer lines of one body. */
  maxPeers: 256,
  /** Body text (five lines and maxPeers peer lines of at most 130 bytes each). */
  maxBodyBytes: 40 * 1024,
  /** Signature lines of one note (ours: 2 by the feed, 2 per cosigner). */
  maxSignatureLines: 64,
  /** Key name of a signature line, UTF-8 bytes. */
  maxKeyNameBytes: 256,
  /** Signature bytes after the 4-byte key ID, on any line (ML-DSA-65: 3309, SLH-DSA-128s: 7856). */
  maxSignatureBytes: 8 * 1024,
  /**
   * The whole note, UTF-8 bytes: a body at its cap and 16 lines whose signatures are 5,000 bytes
   * (6.9 kB of text each) fit, as do 26 lines of ours (the feed's pair and SYNC_LIMITS.maxCosigners pairs).
   */
  maxNoteBytes: 192 * 1024
} as const

/** Caps of one sync batch. */
export const SYNC_LIMITS = {
  maxBatchEntries: 2_000,
  maxBatchBytes: 1024 * 1024,
  /** Feeds named in one heads message. */
  maxFeeds: 1024,
  /** Cosigners kept on one stored checkpoint (each pair is ~4.5 KB of note text). */
  maxCosigners: 12
} as const

/** Evidence bytes are capped: two notes without cosignatures, a proof, a root. */
export const EVIDENCE_LIMITS = { maxBytes: 32 * 1024 } as const

/**
 * Caps of an ontology update: actions added at once, fields per action, and field bounds (a
 * strings field's maxItems at most maxListItems). maxUpdateBytes: the encoded actions of one
 * ontology.update (its body field's cap).
 */
export const ONTOLOGY_LIMITS = {
  maxActions: 64,
  maxFields: 32,
  maxFieldBytes: 32 * 1024,
  maxPattern: 256,
  maxChoices: 64,
  maxListItems: 1024,
  maxUpdateBytes: 32 * 1024
} as const

export const PROOF_BUNDLE_LIMITS = {
  /** Inclusion path length (a tree of 2^64 leaves needs 64). */
  maxProofHashes: 64,
  /** Checkpoint note text, UTF-8 bytes. */
  maxCheckpointBytes: 16 * 1024
} as const

export const EXPORT_LIMITS = {
  /**
   * One line, in characters: an entry at its size cap (87,384 characters of base64) with its
   * derived view at its cap and the line's other fields, or an escaped checkpoint note at its cap.
   */
  maxLineLength: 256 * 1024,
  /**
   * An entry's derived view (export-view.ts), its JSON in characters. A body whose view would be
   * longer (bytes double as hex, control characters grow six-fold as JSON escapes) is left out of
   * the view, which says so: the entry's bytes still hold it.
   */
  maxViewLength: 160 * 1024,
  /** The header line, in characters: the trust chain and the owner's statements that go with the feed. */
  maxHeaderLength: 4 * 1024 * 1024,
  /** Lines in one export (entries, checkpoints and the end line). */
  maxLines: 10_000_000
} as const

/** The ledger store (LevelDB). */
export const STORE_LIMITS = {
  /** A synced write this slow (ms) is reported (LevelLedgerStore.onSlowSync): the disk holds appends up. */
  slowSyncMs: 1_000
} as const
