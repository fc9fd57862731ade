/** Caps for every TPM structure decoder. Real structures are far below them. */
export const TPM2_LIMITS = {
  /** Any TPM2B buffer (TPM2B_PUBLIC_KEY_RSA is at most 512 bytes for RSA-4096). */
  maxBufferSize: 1024,
  /** Banks in a TPML_PCR_SELECTION (TPM2 supports at most HASH_COUNT, 16 in tpm2-tss). */
  maxPcrBanks: 16,
  /** Bytes of a PCR bitmap (PCR_SELECT_MAX). */
  maxSizeofSelect: 4,
  /** Digests in one TPML_DIGEST (the TPM returns at most 8). */
  maxDigests: 8,
  /** A whole TPMS_ATTEST or TPMT_PUBLIC. */
  maxStructureSize: 4096,
  /** tpm2-tools serialized PCR file: TPML_DIGEST structures in it. */
  maxSerializedDigestLists: 32,
  /** Capability entries parsed from one TPMS_CAPABILITY_DATA. */
  maxCapabilityEntries: 256
} as const
