import { FleetError, MalformedInputError } from '../../common/index.js'

/*
 * Errors of input that does not decode or cannot be used (exit code 2): nothing was verified. The
 * refusals of verification are in verification-errors.ts and ekcert-errors.ts.
 */

/** Thrown when bytes do not decode as the TPM structure expected (truncated, oversized, bad tag, trailing bytes). */
export class MalformedTpmStructureError extends MalformedInputError {
  readonly structure: string
  readonly offset: number
  constructor(structure: string, offset: number, reason: string) {
    super(`${structure}: ${reason} (at byte ${offset})`, { code: 'ERR_MALFORMED_TPM_STRUCTURE' })
    this.structure = structure
    this.offset = offset
  }
}

/** Thrown when a PCR selection names an unknown bank, a PCR out of range, a duplicate, or a value is missing. */
export class InvalidPcrSelectionError extends MalformedInputError {
  constructor(reason: string) {
    super(`PCR selection: ${reason}`, { code: 'ERR_INVALID_PCR_SELECTION' })
  }
}

/** Thrown when a JSON PCR file does not parse or does not have the {"pcrs": {bank: {pcr: hex}}} shape. */
export class MalformedPcrFileError extends MalformedInputError {
  constructor(reason: string) {
    super(`PCR file: ${reason}`, { code: 'ERR_MALFORMED_PCR_FILE' })
  }
}

/** Thrown when a structure uses an algorithm, scheme or curve this project does not support (e.g. HMAC signatures). */
export class UnsupportedAlgorithmError extends MalformedInputError {
  readonly what: string
  readonly algorithm: number
  constructor(what: string, id: number) {
    super(`unsupported ${what}: 0x${id.toString(16).padStart(4, '0')}`, { code: 'ERR_UNSUPPORTED_ALGORITHM' })
    this.what = what
    this.algorithm = id
  }
}

/** Thrown when a value given to be marshalled does not fit its field (e.g. a TPM2B over 65535 bytes, a negative u32). */
export class FieldOverflowError extends MalformedInputError {
  readonly field: string
  readonly value: string
  constructor(field: string, value: string) {
    super(`${value} does not fit a ${field} field`, { code: 'ERR_FIELD_OVERFLOW' })
    this.field = field
    this.value = value
  }
}

/** Thrown when a TPM public area decodes but is not a usable key (point off the curve, wrong modulus size). */
export class InvalidPublicKeyError extends MalformedInputError {
  constructor(reason: string, cause?: unknown) {
    super(`the TPM public key is not usable: ${reason}`, { code: 'ERR_INVALID_PUBLIC_KEY', cause })
  }
}

/** Thrown when a TPM object Name has the wrong shape (it must be nameAlg ‖ digest of that size). */
export class InvalidObjectNameError extends MalformedInputError {
  readonly objectName: string
  constructor(nameHex: string, reason: string) {
    super(`object Name ${nameHex || '(empty)'} is invalid: ${reason}`, { code: 'ERR_INVALID_OBJECT_NAME' })
    this.objectName = nameHex
  }
}

/** Thrown when a MakeCredential secret is larger than the EK's nameAlg digest (the TPM would refuse it). */
export class CredentialTooLargeError extends MalformedInputError {
  readonly size: number
  readonly max: number
  constructor(size: number, max: number) {
    super(`the credential has ${size} bytes; the EK allows at most ${max}`, { code: 'ERR_CREDENTIAL_TOO_LARGE' })
    this.size = size
    this.max = max
  }
}

/** Thrown when the injected random source returns the wrong number of bytes or never a usable key. */
export class RandomSourceError extends MalformedInputError {
  constructor(reason: string) {
    super(`the random source is unusable: ${reason}`, { code: 'ERR_RANDOM_SOURCE' })
  }
}

/** Thrown when a policy digest given as the previous policy is not a SHA-256 digest. */
export class PolicyDigestSizeError extends MalformedInputError {
  readonly size: number
  constructor(size: number) {
    super(`a policy digest has 32 bytes (SHA-256 sessions), not ${size}`, { code: 'ERR_POLICY_DIGEST_SIZE' })
    this.size = size
  }
}

/** Thrown when a certificate (EK or trust store) is not decodable X.509 (DER or PEM). */
export class MalformedCertificateError extends MalformedInputError {
  constructor(what: string, reason: string, cause?: unknown) {
    super(`${what} is not an X.509 certificate: ${reason}`, { code: 'ERR_MALFORMED_CERTIFICATE', cause })
  }
}

/** Thrown when the trust-store folder cannot be read. Exit code 2: nothing was verified. */
export class TrustStoreUnreadableError extends FleetError {
  readonly dir: string
  constructor(dir: string, reason: string) {
    super(`cannot read the trust store ${dir}: ${reason}`, { code: 'ERR_TRUST_STORE_UNREADABLE', exitCode: 2 })
    this.dir = dir
  }
}

/** Thrown when the trust store holds no certificate at all. Exit code 2: nothing was verified. */
export class EmptyTrustStoreError extends FleetError {
  constructor() {
    super('the trust store holds no certificate', { code: 'ERR_TRUST_STORE_EMPTY', exitCode: 2 })
  }
}
