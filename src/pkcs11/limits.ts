/**
 * Every bound of the pkcs11 module in one place.
 */

/** Shortest PIN accepted (PKCS#11 tokens commonly require 4; PIV requires 6 to 8). */
export const PIN_MIN_BYTES = 4

/** Longest PIN accepted, in UTF-8 bytes (SoftHSM2 allows 255; PIV 8; HSM passwords are longer). */
export const PIN_MAX_BYTES = 64

/** Bytes read from a PIN source at most: the longest PIN and a CR LF after it. */
export const PIN_READ_MAX_BYTES = PIN_MAX_BYTES + 2

/** Longest systemd credential name accepted (a file name under $CREDENTIALS_DIRECTORY). */
export const CREDENTIAL_NAME_MAX_BYTES = 255

/** Longest token label (CK_TOKEN_INFO.label is 32 bytes, blank-padded). */
export const TOKEN_LABEL_MAX_BYTES = 32

/** Longest key label this module creates or looks up, in UTF-8 bytes. */
export const KEY_LABEL_MAX_BYTES = 64

/** Slots looked at when a token is searched by label. */
export const SLOTS_MAX = 256

/** Objects asked for per search: two are enough to tell "one" from "more than one". */
export const OBJECTS_PER_SEARCH = 8

/** Largest attribute value read from a token (an EC point, parameters, a label). */
export const ATTRIBUTE_MAX_BYTES = 1024

/**
 * Certificate objects read from a token at most; a token with more is refused. A YubiKey through
 * ykcs11 shows 25 slot certificates and at most 24 attestation statements.
 */
export const CERTIFICATE_OBJECTS_MAX = 64

/** Largest certificate (a certificate object's CKA_VALUE) read, in bytes: a PIV certificate object holds about 3 KB. */
export const CERTIFICATE_MAX_BYTES = 8 * 1024

/**
 * Certificates of the token taken into one attestation chain: the statement over the key, the
 * attestation certificate that signed it (PIV slot f9), and up to two intermediates above it.
 */
export const ATTESTATION_CHAIN_MAX = 4

/** The attestation chain recorded as actor.enrol's evidence, in bytes (the ontology's bound). */
export const ATTESTATION_EVIDENCE_MAX_BYTES = 16 * 1024

/** Elements of one DER structure read from an attestation certificate's extensions. */
export const CERTIFICATE_ELEMENTS_MAX = 64

/** Bytes of one OID read from an attestation certificate (X.509 and Yubico OIDs have about ten). */
export const OID_MAX_BYTES = 64

/** Bytes of a YubiKey serial number (a DER INTEGER of a 32-bit number, with a leading zero). */
export const YUBICO_SERIAL_MAX_BYTES = 5

/** Characters of a certificate's name kept when it is named in words. */
export const CERTIFICATE_NAME_MAX_CHARS = 48

/** Output buffer for C_Sign: a P-256 signature is 64 bytes (r‖s); more is refused. */
export const SIGNATURE_BUFFER_BYTES = 132

/** CKA_ID given to keys this module generates (random, so tools can pair the two halves). */
export const KEY_ID_BYTES = 16

/** AES-GCM: 96-bit IV, 128-bit tag, 256-bit wrap key. */
export const GCM_IV_BYTES = 12
export const GCM_TAG_BYTES = 16
export const WRAP_KEY_BYTES = 32
