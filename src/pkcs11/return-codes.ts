/**
 * PKCS#11 return values (CK_RV) and what this module makes of them. Pure: no binding here.
 */

/** The return values this module names or reacts to (pkcs11t.h). */
export const CKR = {
  OK: 0x0,
  SLOT_ID_INVALID: 0x3,
  GENERAL_ERROR: 0x5,
  FUNCTION_FAILED: 0x6,
  ARGUMENTS_BAD: 0x7,
  ATTRIBUTE_SENSITIVE: 0x11,
  ATTRIBUTE_TYPE_INVALID: 0x12,
  ATTRIBUTE_VALUE_INVALID: 0x13,
  DATA_INVALID: 0x20,
  DATA_LEN_RANGE: 0x21,
  DEVICE_ERROR: 0x30,
  DEVICE_MEMORY: 0x31,
  DEVICE_REMOVED: 0x32,
  AEAD_DECRYPT_FAILED: 0x35,
  ENCRYPTED_DATA_INVALID: 0x40,
  ENCRYPTED_DATA_LEN_RANGE: 0x41,
  KEY_HANDLE_INVALID: 0x60,
  KEY_TYPE_INCONSISTENT: 0x63,
  KEY_FUNCTION_NOT_PERMITTED: 0x68,
  MECHANISM_INVALID: 0x70,
  MECHANISM_PARAM_INVALID: 0x71,
  OBJECT_HANDLE_INVALID: 0x82,
  OPERATION_ACTIVE: 0x90,
  OPERATION_NOT_INITIALIZED: 0x91,
  PIN_INCORRECT: 0xa0,
  PIN_INVALID: 0xa1,
  PIN_LEN_RANGE: 0xa2,
  PIN_EXPIRED: 0xa3,
  PIN_LOCKED: 0xa4,
  SESSION_CLOSED: 0xb0,
  SESSION_COUNT: 0xb1,
  SESSION_HANDLE_INVALID: 0xb3,
  TEMPLATE_INCOMPLETE: 0xd0,
  TEMPLATE_INCONSISTENT: 0xd1,
  TOKEN_NOT_PRESENT: 0xe0,
  TOKEN_NOT_RECOGNIZED: 0xe1,
  TOKEN_WRITE_PROTECTED: 0xe2,
  USER_ALREADY_LOGGED_IN: 0x100,
  USER_NOT_LOGGED_IN: 0x101,
  USER_PIN_NOT_INITIALIZED: 0x102,
  BUFFER_TOO_SMALL: 0x150,
  CRYPTOKI_NOT_INITIALIZED: 0x190,
  CRYPTOKI_ALREADY_INITIALIZED: 0x191
} as const

const NAMES: ReadonlyMap<number, string> = new Map(Object.entries(CKR).map(([name, value]) => [value, `CKR_${name}`]))

/** `CKR_PIN_INCORRECT` for 0xa0; a hex number for codes this module does not name. */
export function ckrName(ckr: number): string {
  return NAMES.get(ckr) ?? `CKR_0x${ckr.toString(16).padStart(8, '0')}`
}

/**
 * Answers that mean the token, or our session on it, is gone: a card pulled, an HSM unplugged,
 * the session closed by another handle in this process (C_CloseAllSessions), or the module
 * finalized under us (C_Finalize from elsewhere).
 */
export const TOKEN_GONE: ReadonlySet<number> = new Set([
  CKR.TOKEN_NOT_PRESENT,
  CKR.TOKEN_NOT_RECOGNIZED,
  CKR.DEVICE_REMOVED,
  CKR.SESSION_CLOSED,
  CKR.SESSION_HANDLE_INVALID,
  CKR.SLOT_ID_INVALID,
  CKR.CRYPTOKI_NOT_INITIALIZED
])

/**
 * Answers after which the token itself is asked whether it is still there before the error is
 * named. Workaround (SoftHSM2 2.6.1): when a token's store is removed under an open session,
 * C_Sign answers CKR_OBJECT_HANDLE_INVALID and C_GetTokenInfo CKR_GENERAL_ERROR, while the slot
 * still reports a token present. After C_CloseAllSessions from another handle, a new session
 * is no longer logged in (CKR_USER_NOT_LOGGED_IN) while the token is there: the check also asks
 * whether our own session still exists.
 */
export const PRESENCE_IN_DOUBT: ReadonlySet<number> = new Set([
  CKR.GENERAL_ERROR,
  CKR.FUNCTION_FAILED,
  CKR.DEVICE_ERROR,
  CKR.OBJECT_HANDLE_INVALID,
  CKR.KEY_HANDLE_INVALID,
  CKR.USER_NOT_LOGGED_IN
])

/**
 * Answers of C_Decrypt under AES-GCM that mean the tag did not verify: the sealed bytes were
 * changed, or they were sealed under another key. Workaround (SoftHSM2 2.6.1): a failed tag is
 * answered with CKR_GENERAL_ERROR; the token's presence is checked first, so a vanished token is
 * still reported as absent.
 */
export const TAG_REFUSED: ReadonlySet<number> = new Set([
  CKR.ENCRYPTED_DATA_INVALID,
  CKR.ENCRYPTED_DATA_LEN_RANGE,
  CKR.AEAD_DECRYPT_FAILED,
  CKR.GENERAL_ERROR
])
