/**
 * Every bound of the owner room in one place.
 */

/** Largest owner.json read (a TPM owner's is about 10 KiB, a token owner's about 9 KiB). */
export const OWNER_STATE_MAX_BYTES = 256 * 1024

/** Longest fleet name, in characters (the genesis statement's own bound). */
export const FLEET_NAME_MAX = 128

/** Largest genesis statement decoded, in bytes. */
export const GENESIS_STATEMENT_MAX_BYTES = 8 * 1024

/** Longest TCTI string recorded (as in a device's state). */
export const TCTI_MAX = 512

/** Longest PKCS#11 module path recorded, in UTF-8 bytes (PATH_MAX). */
export const MODULE_PATH_MAX_BYTES = 4096

/** Longest token label (CK_TOKEN_INFO.label is 32 bytes) and serial (16 characters). */
export const TOKEN_LABEL_MAX_BYTES = 32
export const TOKEN_SERIAL_MAX_BYTES = 16

/** Longest key label on a token, in UTF-8 bytes: the pkcs11 module's own bound. */
export const KEY_LABEL_MAX_BYTES = 64

/** Longest base64 text of a TPM blob (TPM2B_PUBLIC, TPM2B_PRIVATE) in owner.json. */
export const TPM_BLOB_BASE64_MAX = 4096

/** Most PCR banks and PCRs in a sealing selection. */
export const SELECTION_BANKS_MAX = 4
export const PCR_COUNT = 24
