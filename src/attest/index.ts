/**
 * Attestation: the TPM (device access through tpm2-tss, or a software TPM), TPM 2.0 structures and
 * quote verification, TCG event logs, boot policy, self-measurement and identity from the EK.
 *
 * Parsing is not verification: `parseX` gives unverified data; only `verifyX` gives data that
 * downstream code may trust.
 *
 * @example
 * const tpm = await EsysTpm.open({ tcti: 'swtpm:path=/tmp/dev1/tpm.sock' })
 * const ak = await tpm.createKey('attestation')
 * const quote = await tpm.quote(ak, nonce, [{ hash: 'sha256', pcrs: [0, 1, 2, 3, 7] }])
 * const verified = verifyQuote({ ak: parsePublic(ak.public), ...quote, nonce, pcrs: await tpm.readPcrs(selection) })
 */
export * from './pcrs.js'
export { deviceIdFromEndorsementKey, fingerprint } from './device-id.js'
export { readAttestationKey } from './ak-file.js'
export {
  measureAgent,
  extendAgentMeasurement,
  expectedAgentPcr,
  AgentMeasurementMismatchError,
  DEFAULT_AGENT_PCR
} from './measure.js'
export type { AgentMeasurement } from './measure.js'
export * from './policy/index.js'
export * from './tpm2/index.js'
export { EsysTpm } from './tpm/esys-tpm.js'
export type { EsysTpmInit, TpmObserver } from './tpm/esys-tpm.js'
export {
  nativeHasher,
  nativeP256Verifier,
  nativeBindingFile,
  NativeBindingError,
  peerCredentials,
  flockNonBlocking,
  FileLockError,
  InvalidDescriptorError,
  NotASocketError,
  NotAUnixSocketError,
  NoPeerProcessError,
  PeerCredentialsError
} from './tpm/native.js'
export type { NativeHasher, PeerCredentials } from './tpm/native.js'
export type { NativeP256Verifier } from './tpm/p256-verifier.js'
export { SwtpmDevice } from './tpm/swtpm.js'
export type { SwtpmInit } from './tpm/swtpm.js'
export { parseTcti, unreachableHint } from './tpm/tcti.js'
export type { Tcti } from './tpm/tcti.js'
export type {
  Tpm,
  TpmCallOptions,
  KeyBlob,
  KeyKind,
  EndorsementKey,
  EndorsementKeyKind,
  TpmClock,
  TpmInfo,
  AttestResult,
  UnsealPolicy,
  AuthorizedPolicy
} from './tpm/tpm.js'
export {
  TpmCommandError,
  TpmUnavailableError,
  TpmTimeoutError,
  TpmClosedError,
  TpmLostError,
  InvalidTctiError,
  TpmKeyLoadError,
  UnsealRefusedError,
  NvCounterUntrustedError,
  ApprovalWithdrawnError,
  SwtpmError,
  TPM_RC
} from './tpm/errors.js'
export { counterNvName, counterNvPublic, counterBytes, COUNTER_ATTRIBUTES } from './tpm/nv-counter.js'
export * from './eventlog/index.js'
export {
  sealedToJson,
  sealedFromJson,
  sealToPcrs,
  sealToAuthority,
  sealAlike,
  approvePcrState,
  approvedPolicyDigest,
  releaseSecret,
  differingPcrs,
  KeyReleaseRefusedError
} from './release.js'
export type { SealedSecretJson, SealedSecret, PcrApproval, ApprovalEpoch } from './release.js'
export { verifyBoot } from './verify-boot.js'
export type { BootEvidence, VerifiedBoot } from './verify-boot.js'
export { tpmP256Signer } from './tpm-signer.js'
export {
  simulatedBootEvents,
  simulatedBootLog,
  simulatedBootPolicy,
  bootDevice,
  BOOT_VARIANTS
} from './simulated-boot.js'
export type { BootVariant } from './simulated-boot.js'
