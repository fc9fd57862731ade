/**
 * Membership: who is in the fleet and in what standing. The enrolment records held, the owner's
 * statements (revocations, policy, ontology, epochs), the enrolled actors and the check of their
 * signatures (actors.ts), witnessing and the quarantine of devices that equivocate.
 */
export { MEMBER_ID_BYTES, MemberRecords, type KnownMembers } from './member-records.js'
export {
  ActorRegistry,
  type ActorKind,
  type EnrolledActor,
  type ActorRegistryInit,
  type CloneReport,
  type P256Verifier
} from './actors.js'
export { ACTOR_LIMITS, MEMBERSHIP_LIMITS } from './limits.js'
export {
  storedActors,
  storedActorProofs,
  actorsFromHeader,
  ownFeedActors,
  MAX_EXPORTED_ACTOR_STATEMENTS,
  MAX_ACTOR_STATEMENTS_PER_ACTOR
} from './stored-actors.js'
export {
  ActorCounterStoreError,
  ActorKindError,
  ActorRoleMismatchError,
  ActorSignatureError,
  ReplayedActorProofError,
  RevokedActorError,
  TooManyActorsError,
  UnknownActorError,
  WorkloadNotAllowedError,
  TooManyWorkloadsError
} from './actor-errors.js'
export { WorkloadAllowances, type WorkloadAllowance } from './workloads.js'
export { Membership, type Member } from './members.js'
export { TPM_TIER_ACTIONS, TpmTiers } from './tpm-tiers.js'
export {
  adoptOwnEpoch,
  applyOwnerStatements,
  applyRevocationAlert,
  provenRevocation,
  type OwnerStatementTargets
} from './owner-statements.js'
export { Witnessing } from './witnessing.js'
export { DEFAULT_WITNESSES_PER_FEED, witnessSet } from './witness-set.js'
export { quarantineSublevel } from './quarantine-store.js'
export { makeProofFile, PROOF_FILE_FORMAT, type ProofFile } from './proof-file.js'
