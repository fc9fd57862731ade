/**
 * The audit ledger's pure core: entries in deterministic, strictly decoded CBOR (the codec
 * module's); the ontology of typed actions, their bodies described in the codec's schema language,
 * and the roles allowed to perform them; RFC 9162 Merkle trees with inclusion and consistency
 * proofs. (Storage, checkpoints and replication build on these.) Every store is a LedgerStore
 * given to the code that uses it: LevelDB on disk by default, or in memory.
 *
 * @example
 * const bytes = encodeEntry(entry)
 * const { entry: decoded, hash } = decodeEntry(bytes)          // strict; unverified
 * checkEntryAgainstOntology(decoded, BASE_ONTOLOGY)             // typed action, allowed role, exact body
 * const frontier = new MerkleFrontier().append(leafHash(bytes))
 */
export { encodeEntry, decodeEntry, decodeEntryUnhashed, entryHash, checkEntryShape } from './entry.js'
export type { Entry, UnverifiedEntry } from './entry.js'
export {
  ACTOR_PROOF_KINDS,
  actorStatement,
  encodeActorProof,
  decodeActorProof,
  readActorProof,
  verifyActorProof,
  verifyActorProofs,
  requiresActorProof,
  ACTOR_PROOF_ROLES,
  encodeWorkloadEvidence,
  decodeWorkloadEvidence
} from './actor-proof.js'
export type {
  ActorProof,
  ActorProofKind,
  ActorAction,
  ActorDirectory,
  ActorCheck,
  CloneHandling,
  ActorCheckOptions,
  WorkloadEvidence
} from './actor-proof.js'
export {
  BASE_ONTOLOGY,
  ROLES,
  checkEntryAgainstOntology,
  applyVerifiedOntologyUpdate,
  ONTOLOGY_LIMITS
} from './ontology.js'
export type { Ontology, ActionSpec, Role } from './ontology.js'
export {
  parseOntologyActions,
  formatOntologyActions,
  applyOntologyUpdateEntry,
  ontologyAfter
} from './ontology-update.js'
export { definesAction, missingActions, OntologyConflictError } from './well-known-actions.js'
export {
  leafHash,
  nodeHash,
  subtreeRoot,
  levelsRoot,
  MerkleFrontier,
  inclusionProof,
  verifyInclusion,
  consistencyProof,
  verifyConsistency,
  EMPTY_ROOT
} from './merkle.js'
export { LEDGER_LIMITS, SYNC_LIMITS, ACTOR_PROOF_LIMITS, STORE_LIMITS } from './limits.js'
export {
  MalformedEntryError,
  UnknownActionError,
  ActorRoleError,
  BodySchemaError,
  ProofError,
  ProofHashLengthError,
  RollbackDetectedError,
  LedgerWriteError,
  LedgerStoreFullError,
  ledgerWriteError,
  FeedVerificationError,
  EvidenceRejectedError,
  FeedRoleError,
  UnauthorisedEpochError,
  MissingActorProofError,
  MalformedActorProofError,
  ActorProofTimeError,
  UnexpectedActorProofError,
  ActorProofUncheckedError,
  ExportViewMismatchError
} from './errors.js'
export { ownerFeedId } from './owner-feed.js'
export { epochAuthorisationOf, epochsOf, checkEpoch, isAuthorisedFork, EpochSequence } from './epochs.js'
export type { EpochAuthorisation } from './epochs.js'
export {
  formatCheckpointBody,
  signCheckpoint,
  cosignCheckpoint,
  parseCheckpoint,
  peekCheckpoint,
  verifyCheckpoint,
  requireCurrentFormat,
  keyId,
  checkpointKeyIds,
  CHECKPOINT_LIMITS,
  CHECKPOINT_FORMAT_VERSION,
  SIGNATURE_TYPES,
  MalformedCheckpointError,
  CheckpointSignatureError,
  CheckpointVersionError
} from './checkpoint.js'
export type { CheckpointBody, UnverifiedCheckpoint, VerifiedCheckpoint, SignatureLine } from './checkpoint.js'
export { FeedLedger } from './feed-ledger.js'
export type {
  FeedLedgerComponents,
  FeedLedgerInit,
  AppendInput,
  TpmClockSource,
  RollbackCounter
} from './feed-ledger.js'
export { verifyStoredFeed } from './verify.js'
export type { FeedReport, EntrySummary } from './verify.js'
export {
  detectEquivocation,
  verifyEquivocationEvidence,
  encodeEvidence,
  decodeEvidence,
  withoutCosignatures,
  withSignaturesOf,
  evidenceId,
  forkOf,
  EVIDENCE_LIMITS
} from './equivocation.js'
export type { EquivocationEvidence, EquivocationFork } from './equivocation.js'
export { makeProofBundle, verifyProofBundle, MalformedProofBundleError, PROOF_BUNDLE_LIMITS } from './proof.js'
export type { ProofBundle, VerifiedProof } from './proof.js'
export { exportFeed, verifyExport, isExportFormat, EXPORT_LIMITS, EXPORT_FORMAT, EXPORT_FORMATS } from './export.js'
export type { ExportLine, ExportEntryLine, ExportCheckpointLine, ExportEndLine, ExportFormat } from './export.js'
export { entryView, checkEntryView, isoTime } from './export-view.js'
export type { EntryView, ViewValue } from './export-view.js'
export { nodeCryptoHasher } from './hasher.js'
export type { Hasher } from './hasher.js'
export { EntryRuns, encodeRun, decodeRun, MalformedRunError, RUN_LIMITS, seqKey } from './entry-runs.js'
export type { Run } from './entry-runs.js'
export {
  LevelLedgerStore,
  MemoryLedgerStore,
  LEVEL_OPTIONS,
  LEDGER_SUBLEVELS,
  feedSublevels,
  replicaSpace,
  checkSublevelName,
  LedgerStoreClosedError,
  LedgerStoreLockedError,
  LedgerStoreWriteFailedError,
  InvalidSublevelNameError,
  ForeignSublevelError,
  LedgerBatchClosedError,
  LedgerIteratorClosedError
} from './store/index.js'
export type {
  LedgerStore,
  LedgerSpace,
  LedgerSublevel,
  LedgerRange,
  LedgerIterator,
  LedgerWrite,
  LedgerBatch,
  WriteOptions,
  FeedSublevels
} from './store/index.js'
export { ReplicaStore } from './replica.js'
export type { ReplicaTrust, ApplyResult } from './replica.js'
export { FeedSource, ownFeedSource } from './feed-source.js'
export { ReplicaRejectedError, EquivocationDetectedError } from './replica-errors.js'
export type { RejectedBatch } from './replica-errors.js'
export type { SyncBatch } from './sync-batch.js'
/** The C2SP tlog-witness protocol, log side (its own folder, see its index). */
export * from './tlog-witness/index.js'
