/**
 * TPM 2.0 structures and verification in pure TypeScript — the only module other code imports
 * for them.
 *
 * - Decoders (strict, bounded by limits.ts, typed errors only; parsing is not verification):
 *   TPM2B_PUBLIC/TPMT_PUBLIC, TPMS_ATTEST, TPMT_SIGNATURE, TPML_PCR_SELECTION and tpm2-tools
 *   selection specs, tpm2-tools PCR files (serialized and JSON), TPMS_CAPABILITY_DATA, tpm2-tools
 *   credential files.
 * - Builders: key templates (AK, signing, storage, sealed data, TCG EK L-1/L-2), TPM2B_PUBLIC,
 *   TPMT_SIGNATURE, TPML_PCR_SELECTION, serialized PCR files, MakeCredential, policy digests.
 * - Verification: verifyQuote, verifyCertify (AKs made inside the TPM only — checkAttestationKey —
 *   unless the AK is a bare key, which the result records), checkDeviceSigningKey,
 *   checkEndorsementKey (one of the TCG EK templates), verifyEkCertificate (chains to a trust
 *   store, keeps the TCG EK certificate profile).
 *
 * No I/O except verifyEkCertificate/loadTrustStore reading a trust-store folder; randomness and
 * time are parameters.
 *
 * @example
 * const ak = parsePublic(readFileSync('ak.pub'))               // tpm2_createak -u ak.pub
 * const { values } = readPcrsFile(readFileSync('pcrs.out'))     // tpm2_quote -o pcrs.out
 * const quote = verifyQuote({ ak, attest: readFileSync('msg'), signature: readFileSync('sig'), nonce, pcrs: values })
 * quote.pcrs.sha256?.get(7)   // trusted only because verifyQuote returned
 */
export * from './constants.js'
export { TPM2_LIMITS } from './limits.js'
export { TpmReader } from './reader.js'
export { TpmWriter } from './writer.js'
export {
  marshalPcrSelection,
  parsePcrSelection,
  readPcrSelection,
  parsePcrSelectionSpec,
  formatPcrSelectionSpec,
  normalizePcrSelection
} from './pcr-selection.js'
export {
  parsePublic,
  parsePublicArea,
  readPublicArea,
  marshalPublic,
  marshalPublicArea,
  objectName,
  isRestrictedSigningKey,
  publicKey,
  publicToPem,
  eccPoint
} from './public.js'
export type { TpmPublic, RsaPublic, EccPublic, KeyedHashPublic, Scheme, SymmetricDef } from './public.js'
export {
  attestationKeyTemplate,
  signingKeyTemplate,
  storageKeyTemplate,
  sealedDataTemplate,
  rsaEkTemplate,
  eccEkTemplate,
  externalVerificationKey,
  EK_POLICY_A
} from './templates.js'
export { parseAttest, parseTpm2bAttest } from './attest.js'
export type { UnverifiedAttest, ClockInfo, Attested } from './attest.js'
export {
  parseSignature,
  marshalSignature,
  signatureToDer,
  signatureToP1363,
  p1363ToSignature,
  verifyTpmSignature
} from './signature.js'
export type { TpmSignature } from './signature.js'
export {
  parseSerializedPcrs,
  serializePcrs,
  parseJsonPcrs,
  readPcrsFile,
  pcrValuesToJson,
  orderedPcrValues
} from './pcrs-file.js'
export type { PcrFile } from './pcrs-file.js'
export { checkAttestationKey, checkDeviceSigningKey, attributeNames } from './key-attributes.js'
export { checkEndorsementKey, EK_TEMPLATES, EK_POLICY_B } from './ek-templates.js'
export { verifyQuote, verifyCertify } from './quote.js'
export type { VerifiedQuote, VerifyQuoteInput, VerifiedCertification, VerifyCertifyInput } from './quote.js'
export { makeCredential, encodeTpm2ToolsCredential, parseTpm2ToolsCredential } from './credential.js'
export type { MadeCredential, MakeCredentialInput } from './credential.js'
export { kdfa, kdfe } from './kdf.js'
export { verifyEkCertificate, loadTrustStore } from './ekcert.js'
export type { VerifiedEkCertificate, VerifyEkCertificateInput, ChainCertificate } from './ekcert.js'
export { checkEkCertificateProfile } from './ekcert-profile.js'
export type { EkCertificateProfile } from './ekcert-profile.js'
export {
  policyPcr,
  policySecret,
  policyNv,
  TPM_EO,
  policyAuthorize,
  policyCommandCode,
  pcrCompositeDigest,
  permanentHandleName,
  ZERO_POLICY
} from './policy.js'
export {
  parseCapabilityData,
  decodeManufacturer,
  decodeVendorString,
  firmwareVersion,
  formatFirmwareVersion,
  decodeTpmProperties
} from './capability.js'
export type { CapabilityData, TpmProperties } from './capability.js'
export * from './errors.js'
export * from './verification-errors.js'
export * from './ekcert-errors.js'
