/** TPM 2.0 constants (TPM 2.0 Part 2; TCG Algorithm Registry). Only what this project uses. */
export const TPM_ALG = {
  RSA: 0x0001,
  SHA1: 0x0004,
  HMAC: 0x0005,
  AES: 0x0006,
  KEYEDHASH: 0x0008,
  XOR: 0x000a,
  SHA256: 0x000b,
  SHA384: 0x000c,
  SHA512: 0x000d,
  NULL: 0x0010,
  RSASSA: 0x0014,
  RSAES: 0x0015,
  RSAPSS: 0x0016,
  OAEP: 0x0017,
  ECDSA: 0x0018,
  ECDH: 0x0019,
  ECDAA: 0x001a,
  ECSCHNORR: 0x001c,
  ECC: 0x0023,
  SYMCIPHER: 0x0025,
  CFB: 0x0043
} as const

export const TPM_ST = {
  ATTEST_CERTIFY: 0x8017,
  ATTEST_QUOTE: 0x8018
} as const

/** Every TPM-generated attestation starts with this ("\xffTCG"). */
export const TPM_GENERATED_VALUE = 0xff544347

export const TPMA_OBJECT = {
  fixedTPM: 1 << 1,
  stClear: 1 << 2,
  fixedParent: 1 << 4,
  sensitiveDataOrigin: 1 << 5,
  userWithAuth: 1 << 6,
  adminWithPolicy: 1 << 7,
  noDA: 1 << 10,
  encryptedDuplication: 1 << 11,
  restricted: 1 << 16,
  decrypt: 1 << 17,
  sign: 1 << 18
} as const

export const TPM_CC = {
  PolicySecret: 0x00000151,
  PolicyAuthorize: 0x0000016a,
  PolicyPCR: 0x0000017f
} as const

export const TPM_RH_ENDORSEMENT = 0x4000000b

export const TPM_ECC_CURVE = {
  NIST_P256: 0x0003,
  NIST_P384: 0x0004
} as const

/**
 * NV indices of EK certificates (TCG EK Credential Profile): RSA 2048 (template L-1) and ECC NIST
 * P-256 (template L-2), the EKs this project uses.
 */
export const EK_CERTIFICATE_NV_INDEX = {
  rsa: [0x01c00002],
  ecc: [0x01c0000a]
} as const
