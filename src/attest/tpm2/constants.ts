/**
 * TPM 2.0 constants (TPM 2.0 Library Part 2, TCG Algorithm Registry, TCG EK Credential Profile).
 * Only what this project parses, builds or checks; values are spelled in hex as in the spec.
 */

/** TPM_ALG_ID. */
export const TPM_ALG = {
  RSA: 0x0001,
  SHA1: 0x0004,
  HMAC: 0x0005,
  AES: 0x0006,
  MGF1: 0x0007,
  KEYEDHASH: 0x0008,
  XOR: 0x000a,
  SHA256: 0x000b,
  SHA384: 0x000c,
  SHA512: 0x000d,
  NULL: 0x0010,
  SM3_256: 0x0012,
  SM4: 0x0013,
  RSASSA: 0x0014,
  RSAES: 0x0015,
  RSAPSS: 0x0016,
  OAEP: 0x0017,
  ECDSA: 0x0018,
  ECDH: 0x0019,
  ECDAA: 0x001a,
  SM2: 0x001b,
  ECSCHNORR: 0x001c,
  ECMQV: 0x001d,
  KDF1_SP800_56A: 0x0020,
  KDF2: 0x0021,
  KDF1_SP800_108: 0x0022,
  ECC: 0x0023,
  SYMCIPHER: 0x0025,
  CAMELLIA: 0x0026,
  CTR: 0x0040,
  OFB: 0x0041,
  CBC: 0x0042,
  CFB: 0x0043,
  ECB: 0x0044
} as const

/** TPM_ST: structure tags; the ATTEST_* values are TPMS_ATTEST.type. */
export const TPM_ST = {
  NO_SESSIONS: 0x8001,
  SESSIONS: 0x8002,
  ATTEST_NV: 0x8014,
  ATTEST_COMMAND_AUDIT: 0x8015,
  ATTEST_SESSION_AUDIT: 0x8016,
  ATTEST_CERTIFY: 0x8017,
  ATTEST_QUOTE: 0x8018,
  ATTEST_TIME: 0x8019,
  ATTEST_CREATION: 0x801a,
  ATTEST_NV_DIGEST: 0x801c,
  CREATION: 0x8021,
  VERIFIED: 0x8022,
  AUTH_SECRET: 0x8023,
  HASHCHECK: 0x8024,
  AUTH_SIGNED: 0x8025
} as const

/**
 * Every TPMS_ATTEST the TPM makes starts with this ("\xffTCG"); a restricted signing key refuses
 * to sign external data that starts with it, which is what makes quotes unforgeable.
 */
export const TPM_GENERATED_VALUE = 0xff544347

/** TPMA_OBJECT bits. */
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
  sign: 1 << 18,
  x509sign: 1 << 19
} as const

/** TPM_CC: the commands named in policy digests, and the ones this project's tests send raw. */
export const TPM_CC = {
  Create: 0x00000153,
  CreatePrimary: 0x00000131,
  ActivateCredential: 0x00000147,
  Certify: 0x00000148,
  Duplicate: 0x0000014b,
  NV_Read: 0x0000014e,
  PolicyNV: 0x00000149,
  PolicySecret: 0x00000151,
  Quote: 0x00000158,
  Sign: 0x0000015d,
  Unseal: 0x0000015e,
  PolicySigned: 0x00000160,
  MakeCredential: 0x00000168,
  PolicyAuthorize: 0x0000016a,
  PolicyAuthValue: 0x0000016b,
  PolicyCommandCode: 0x0000016c,
  PolicyOR: 0x00000171,
  GetCapability: 0x0000017a,
  PCR_Read: 0x0000017e,
  PolicyPCR: 0x0000017f,
  PolicyPassword: 0x0000018c
} as const

/** TPM_RH: permanent handles (hierarchies) and the password session handle. */
export const TPM_RH = {
  OWNER: 0x40000001,
  NULL: 0x40000007,
  PW: 0x40000009,
  LOCKOUT: 0x4000000a,
  ENDORSEMENT: 0x4000000b,
  PLATFORM: 0x4000000c
} as const

/** Kept as its own name: code outside this folder imports it. */
export const TPM_RH_ENDORSEMENT = TPM_RH.ENDORSEMENT

/** TPM_ECC_CURVE. */
export const TPM_ECC_CURVE = {
  NIST_P192: 0x0001,
  NIST_P224: 0x0002,
  NIST_P256: 0x0003,
  NIST_P384: 0x0004,
  NIST_P521: 0x0005,
  BN_P256: 0x0010,
  BN_P638: 0x0011,
  SM2_P256: 0x0020
} as const

/** TPM_CAP: the capability groups of TPM2_GetCapability. */
export const TPM_CAP = {
  ALGS: 0x00000000,
  HANDLES: 0x00000001,
  COMMANDS: 0x00000002,
  PP_COMMANDS: 0x00000003,
  AUDIT_COMMANDS: 0x00000004,
  PCRS: 0x00000005,
  TPM_PROPERTIES: 0x00000006,
  PCR_PROPERTIES: 0x00000007,
  ECC_CURVES: 0x00000008
} as const

/** TPM_PT: TPM properties (PT_FIXED group: set at manufacture; PT_VAR: change at run time). */
export const TPM_PT = {
  PT_FIXED: 0x100,
  FAMILY_INDICATOR: 0x100,
  LEVEL: 0x101,
  REVISION: 0x102,
  DAY_OF_YEAR: 0x103,
  YEAR: 0x104,
  MANUFACTURER: 0x105,
  VENDOR_STRING_1: 0x106,
  VENDOR_STRING_2: 0x107,
  VENDOR_STRING_3: 0x108,
  VENDOR_STRING_4: 0x109,
  VENDOR_TPM_TYPE: 0x10a,
  FIRMWARE_VERSION_1: 0x10b,
  FIRMWARE_VERSION_2: 0x10c,
  INPUT_BUFFER: 0x10d,
  HR_TRANSIENT_MIN: 0x10e,
  HR_PERSISTENT_MIN: 0x10f,
  HR_LOADED_MIN: 0x110,
  ACTIVE_SESSIONS_MAX: 0x111,
  PCR_COUNT: 0x112,
  PCR_SELECT_MIN: 0x113,
  NV_INDEX_MAX: 0x117,
  MAX_DIGEST: 0x120,
  PT_VAR: 0x200,
  PERMANENT: 0x200,
  STARTUP_CLEAR: 0x201
} as const

/**
 * NV indices of EK certificates (TCG EK Credential Profile §2.2.1.4): RSA 2048 (template L-1),
 * ECC NIST P-256 (L-2) and ECC NIST P-384 (H-3, the one swtpm_setup provisions).
 */
export const readEkCertificateNvIndices = {
  rsa2048: 0x01c00002,
  eccNistP256: 0x01c0000a,
  eccNistP384: 0x01c00016
} as const

/**
 * Where to look for the certificate of each EK kind this project creates (RSA: L-1, ECC: L-2).
 * Kept in this shape because code outside this folder iterates it.
 */
export const EK_CERTIFICATE_NV_INDEX = {
  rsa: [readEkCertificateNvIndices.rsa2048],
  ecc: [readEkCertificateNvIndices.eccNistP256]
} as const
