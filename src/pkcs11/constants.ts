/**
 * The PKCS#11 numbers this module uses (PKCS#11 Base Specification 2.40 / 3.0, pkcs11t.h). They
 * are fixed by the standard; keeping them here lets the pure parts and the tests run without the
 * native binding.
 */

/** Session and slot flags (CK_FLAGS). */
export const CKF = {
  TOKEN_PRESENT: 0x1,
  RW_SESSION: 0x2,
  SERIAL_SESSION: 0x4,
  /** C_Initialize: the module may use the OS's own locking (our async calls run on worker threads). */
  OS_LOCKING_OK: 0x2,
  USER_PIN_INITIALIZED: 0x8,
  TOKEN_INITIALIZED: 0x400,
  USER_PIN_COUNT_LOW: 0x10000,
  USER_PIN_FINAL_TRY: 0x20000,
  USER_PIN_LOCKED: 0x40000
} as const

export const CKU_USER = 1

/** Object classes. */
export const CKO = {
  CERTIFICATE: 1,
  PUBLIC_KEY: 2,
  PRIVATE_KEY: 3,
  SECRET_KEY: 4
} as const

/** Certificate types (CKA_CERTIFICATE_TYPE): only X.509 public-key certificates are read. */
export const CKC_X_509 = 0

/** Key types. */
export const CKK = {
  EC: 0x3,
  AES: 0x1f
} as const

/** Attribute types. */
export const CKA = {
  CLASS: 0x0,
  TOKEN: 0x1,
  PRIVATE: 0x2,
  LABEL: 0x3,
  VALUE: 0x11,
  CERTIFICATE_TYPE: 0x80,
  KEY_TYPE: 0x100,
  ID: 0x102,
  SENSITIVE: 0x103,
  ENCRYPT: 0x104,
  DECRYPT: 0x105,
  WRAP: 0x106,
  UNWRAP: 0x107,
  SIGN: 0x108,
  VERIFY: 0x10a,
  DERIVE: 0x10c,
  VALUE_LEN: 0x161,
  EXTRACTABLE: 0x162,
  LOCAL: 0x163,
  NEVER_EXTRACTABLE: 0x164,
  ALWAYS_SENSITIVE: 0x165,
  EC_PARAMS: 0x180,
  EC_POINT: 0x181
} as const

/** Attribute names for messages and error evidence. */
export const CKA_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(CKA).map(([name, value]) => [value, `CKA_${name}`])
)

/** Mechanisms. */
export const CKM = {
  EC_KEY_PAIR_GEN: 0x1040,
  ECDSA: 0x1041,
  AES_KEY_GEN: 0x1080,
  AES_GCM: 0x1087
} as const

/** DER of the OID prime256v1 (1.2.840.10045.3.1.7), the only CKA_EC_PARAMS accepted. */
export const PRIME256V1_PARAMS = Uint8Array.of(0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07)
