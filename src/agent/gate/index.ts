/**
 * The gate: workloads run only on a device in good standing (keys released under an approved
 * boot, PCRs unchanged since, not revoked, not quarantined, a quorum of peers' fresh trusted
 * verdicts when asked), and get their secrets, sealed in the TPM alike with the device's keys,
 * only then.
 *   secrets.ts   the secret files (AES-256-GCM, data key sealed in the TPM)
 *   reseal.ts    the secrets follow the keys to a new policy, staged, committed with the device
 *                state and swapped in; an interrupted one settled forward or back
 *   verdicts.ts  peers' latest verdicts on this device, from their replicated feeds
 *   gate.ts      the standing a workload starts and runs under; its start and stop on the record
 *   grants.ts    which local users may ask the gate socket, and for which secrets
 *   pcr-change.ts  why a PCR changed since the release, in the boot event log's words
 */
export * from './errors.js'
export { GATE_LIMITS } from './limits.js'
export { Gate, checkQuorum, type GateComponents, type WorkloadStart, type WorkloadStop } from './gate.js'
export {
  SECRETS_DIR,
  checkSecretName,
  listSecrets,
  openSecret,
  removeSecret,
  sealSecret,
  secretFile,
  type OwnerRelease,
  type SecretListing
} from './secrets.js'
export {
  REPLACED_SECRETS_DIR,
  STAGED_SECRETS_DIR,
  resealSecrets,
  settleSecretReseal,
  stageResealedSecrets,
  type ResealOptions,
  type ResealStep,
  type SettleOptions,
  type SettleOutcome
} from './reseal.js'
export { VerdictsOnSelf } from './verdicts.js'
export {
  GRANTS_FILE,
  GRANTS_LOCK,
  GrantsReader,
  allowGrant,
  denyGrant,
  readGrants,
  type GateGrants
} from './grants.js'
export { SECRETS_LOCK, lockSecrets, tryLockFile, type HeldLock } from './lock.js'
export { keepOwnerCopies, keepSecretOwnerKeys, type OwnerCopies } from './owner-copies.js'
