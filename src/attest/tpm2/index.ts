/**
 * TPM 2.0 structures in pure TypeScript: TPM2B_PUBLIC (and key templates), TPMS_ATTEST,
 * TPMT_SIGNATURE, PCR selections, tpm2-tools PCR files; quote and certify verification;
 * MakeCredential; EK certificate chains; software policy digests. No I/O except reading a
 * trust-store folder. Every decoder is strict and bounded (limits.ts) and fails with typed errors.
 *
 * @example
 * const verified = verifyQuote({ ak: parsePublic(akPub), attest, signature, nonce, pcrs })
 * verified.clockInfo.resetCount // trusted only after verifyQuote returned
 */
export * from './constants.js'
export { TPM2_LIMITS } from './limits.js'
export { TpmReader, TpmWriter } from './reader.js'
export { marshalPcrSelection, parsePcrSelection, readPcrSelection, parsePcrSelectionSpec } from './pcr-selection.js'
export {
  parsePublic, parsePublicArea, marshalPublic, marshalPublicArea, objectName, isRestrictedSigningKey, publicKey, publicToPem, eccPoint,
  attestationKeyTemplate, signingKeyTemplate, storageKeyTemplate, sealedDataTemplate, rsaEkTemplate, eccEkTemplate, externalVerificationKey, EK_POLICY_A
} from './public.js'
export type { TpmPublic, RsaPublic, EccPublic, KeyedHashPublic } from './public.js'
export { parseAttest } from './attest.js'
export type { UnverifiedAttest, ClockInfo, Attested } from './attest.js'
export { parseSignature, marshalSignature, signatureToDer, signatureToP1363, p1363ToSignature } from './signature.js'
export type { TpmSignature } from './signature.js'
export { parseSerializedPcrs, serializePcrs, parseJsonPcrs, readPcrsFile, pcrValuesToJson } from './pcrs-file.js'
export type { PcrFile } from './pcrs-file.js'
export { verifyQuote, verifyCertify, verifyTpmSignature } from './quote.js'
export type { VerifiedQuote, VerifyQuoteInput, VerifyCertifyInput } from './quote.js'
export { makeCredential, kdfa, kdfe } from './credential.js'
export type { MadeCredential } from './credential.js'
export { verifyEkCertificate, loadTrustStore } from './ekcert.js'
export type { VerifiedEkCertificate } from './ekcert.js'
export { policyPcr, policySecret, policyAuthorize, pcrCompositeDigest, permanentHandleName, ZERO_POLICY } from './policy.js'
export { parseCapabilityData } from './capability.js'
export type { CapabilityData } from './capability.js'
export * from './errors.js'
