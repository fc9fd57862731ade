/**
 * Every size and count cap of the TPM 2.0 decoders and builders. Real structures are far below
 * them; they exist so that hostile input cannot make a decoder allocate or loop without bound.
 */
export const TPM2_LIMITS = {
  /** Default cap of a TPM2B buffer whose own type has no tighter one. */
  maxBufferSize: 1024,
  /** TPM2B_DIGEST, TPM2B_DATA, TPM2B_NONCE: sizeof(TPMU_HA), the largest digest (SHA-512). */
  maxDigestSize: 64,
  /** TPM2B_NAME: a u16 algorithm then a digest, or a 4-byte handle. */
  maxNameSize: 2 + 64,
  /** TPM2B_PUBLIC_KEY_RSA and RSA signatures: RSA 4096. */
  maxRsaKeyBytes: 512,
  /** TPM2B_ECC_PARAMETER: P-521 coordinates are 66 bytes; 128 leaves room for any TPM curve. */
  maxEccParameterSize: 128,
  /** Banks in a TPML_PCR_SELECTION (tpm2-tss TPM2_NUM_PCR_BANKS). */
  maxPcrBanks: 16,
  /** Bytes of a PCR bitmap (tpm2-tss TPM2_PCR_SELECT_MAX). */
  maxSizeofSelect: 4,
  /** sizeofSelect this project writes: 24 PCRs. */
  writtenSizeofSelect: 3,
  /** Digests in one TPML_DIGEST (the TPM returns at most 8). */
  maxDigests: 8,
  /** A whole TPMS_ATTEST, TPMT_PUBLIC or TPMT_SIGNATURE. */
  maxStructureSize: 4096,
  /** tpm2-tools serialized PCR file: TPML_DIGEST structures (tpm2-tools holds TPM2_MAX_PCRS = 32, reads no more). */
  maxSerializedDigestLists: 32,
  /** A JSON PCR file, in bytes. */
  maxPcrJsonSize: 256 * 1024,
  /** A tpm2-tools PCR selection spec, in characters. */
  maxPcrSpecLength: 256,
  /** Capability entries parsed from one TPMS_CAPABILITY_DATA. */
  maxCapabilityEntries: 256,
  /** An EK certificate or trust-store file, in bytes. */
  maxCertificateSize: 64 * 1024,
  /** Files read from a trust-store folder. */
  maxTrustStoreFiles: 256,
  /** Elements of one DER structure read from an EK certificate (extensions, names, attributes). */
  maxCertificateElements: 64,
  /** Bytes of one OID in an EK certificate (TCG and X.509 OIDs have about ten). */
  maxOidBytes: 64,
  /** Certificates from the EK certificate up to and including the root. */
  maxChainLength: 6,
  /** Attempts to draw a valid ephemeral ECC private key from the injected random source. */
  maxEphemeralKeyAttempts: 8
} as const
