/**
 * The gate: workloads run only on a device in good standing (keys released under an approved
 * boot, PCRs unchanged since, not revoked, not quarantined, a quorum of peers' fresh trusted
 * verdicts when asked), and get their secrets, sealed in the TPM alike with the device's keys,
 * only then.
 *   secrets.ts   the secret files (AES-256-GCM, data key sealed in the TPM)
 *   verdicts.ts  peers' latest verdicts on this device, from their replicated feeds
 *   gate.ts      the standing a workload starts and runs under; its start and stop on the record
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
  resealSecrets,
  sealSecret,
  secretFile,
  type SecretListing
} from './secrets.js'
export { VerdictsOnSelf } from './verdicts.js'
