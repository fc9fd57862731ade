import { FleetError, MalformedInputError } from '../../common/errors.js'

// --- unreadable input (exit code 2) ----------------------------------------------------------

/** Thrown when bytes do not decode as the TPM structure expected (truncated, oversized, bad tag, trailing bytes). */
export class MalformedTpmStructureError extends MalformedInputError {
  readonly structure: string
  readonly offset: number
  constructor (structure: string, offset: number, reason: string) {
    super(`${structure}: ${reason} (at byte ${offset})`, { code: 'ERR_MALFORMED_TPM_STRUCTURE' })
    this.structure = structure
    this.offset = offset
  }
}

/** Thrown when a PCR selection names an unknown bank, a PCR out of range, a duplicate, or a value is missing. */
export class InvalidPcrSelectionError extends MalformedInputError {
  constructor (reason: string) {
    super(`PCR selection: ${reason}`, { code: 'ERR_INVALID_PCR_SELECTION' })
  }
}

/** Thrown when a JSON PCR file does not parse or does not have the {"pcrs": {bank: {pcr: hex}}} shape. */
export class MalformedPcrFileError extends MalformedInputError {
  constructor (reason: string) {
    super(`PCR file: ${reason}`, { code: 'ERR_MALFORMED_PCR_FILE' })
  }
}

/** Thrown when a structure uses an algorithm, scheme or curve this project does not support (e.g. HMAC signatures). */
export class UnsupportedAlgorithmError extends MalformedInputError {
  readonly what: string
  readonly algorithm: number
  constructor (what: string, id: number) {
    super(`unsupported ${what}: 0x${id.toString(16).padStart(4, '0')}`, { code: 'ERR_UNSUPPORTED_ALGORITHM' })
    this.what = what
    this.algorithm = id
  }
}

/** Thrown when a value given to be marshalled does not fit its field (e.g. a TPM2B over 65535 bytes, a negative u32). */
export class FieldOverflowError extends MalformedInputError {
  readonly field: string
  readonly value: string
  constructor (field: string, value: string) {
    super(`${value} does not fit a ${field} field`, { code: 'ERR_FIELD_OVERFLOW' })
    this.field = field
    this.value = value
  }
}

/** Thrown when a TPM public area decodes but is not a usable key (point off the curve, wrong modulus size). */
export class InvalidPublicKeyError extends MalformedInputError {
  constructor (reason: string, cause?: unknown) {
    super(`the TPM public key is not usable: ${reason}`, { code: 'ERR_INVALID_PUBLIC_KEY', cause })
  }
}

/** Thrown when a TPM object Name has the wrong shape (it must be nameAlg ‖ digest of that size). */
export class InvalidObjectNameError extends MalformedInputError {
  readonly objectName: string
  constructor (nameHex: string, reason: string) {
    super(`object Name ${nameHex || '(empty)'} is invalid: ${reason}`, { code: 'ERR_INVALID_OBJECT_NAME' })
    this.objectName = nameHex
  }
}

/** Thrown when a MakeCredential secret is larger than the EK's nameAlg digest (the TPM would refuse it). */
export class CredentialTooLargeError extends MalformedInputError {
  readonly size: number
  readonly max: number
  constructor (size: number, max: number) {
    super(`the credential has ${size} bytes; the EK allows at most ${max}`, { code: 'ERR_CREDENTIAL_TOO_LARGE' })
    this.size = size
    this.max = max
  }
}

/** Thrown when the injected random source returns the wrong number of bytes or never a usable key. */
export class RandomSourceError extends MalformedInputError {
  constructor (reason: string) {
    super(`the random source is unusable: ${reason}`, { code: 'ERR_RANDOM_SOURCE' })
  }
}

/** Thrown when a policy digest given as the previous policy is not a SHA-256 digest. */
export class PolicyDigestSizeError extends MalformedInputError {
  readonly size: number
  constructor (size: number) {
    super(`a policy digest has 32 bytes (SHA-256 sessions), not ${size}`, { code: 'ERR_POLICY_DIGEST_SIZE' })
    this.size = size
  }
}

/** Thrown when a certificate (EK or trust store) is not decodable X.509 (DER or PEM). */
export class MalformedCertificateError extends MalformedInputError {
  constructor (what: string, reason: string, cause?: unknown) {
    super(`${what} is not an X.509 certificate: ${reason}`, { code: 'ERR_MALFORMED_CERTIFICATE', cause })
  }
}

/** Thrown when the trust-store folder cannot be read. Exit code 2: nothing was verified. */
export class TrustStoreUnreadableError extends FleetError {
  readonly dir: string
  constructor (dir: string, reason: string) {
    super(`cannot read the trust store ${dir}: ${reason}`, { code: 'ERR_TRUST_STORE_UNREADABLE', exitCode: 2 })
    this.dir = dir
  }
}

/** Thrown when the trust store holds no certificate at all. Exit code 2: nothing was verified. */
export class EmptyTrustStoreError extends FleetError {
  constructor () {
    super('the trust store holds no certificate', { code: 'ERR_TRUST_STORE_EMPTY', exitCode: 2 })
  }
}

// --- refused verification (exit code 1) ------------------------------------------------------

/** Base of quote/certify/EK-certificate refusals; each subclass carries its evidence. Exit code 1. */
export class AttestationVerificationError extends FleetError {}

/** Thrown when the quote's signature does not verify with the given attestation key. */
export class QuoteSignatureError extends AttestationVerificationError {
  readonly scheme: string
  readonly hash: string
  constructor (scheme: string, hash: string) {
    super(`the quote signature (${scheme}/${hash}) does not verify with this attestation key`, { code: 'ERR_QUOTE_SIGNATURE' })
    this.scheme = scheme
    this.hash = hash
  }
}

/** Thrown when the certification's signature does not verify with the given signing key. */
export class CertifySignatureError extends AttestationVerificationError {
  readonly scheme: string
  readonly hash: string
  constructor (scheme: string, hash: string) {
    super(`the certification signature (${scheme}/${hash}) does not verify with this key`, { code: 'ERR_CERTIFY_SIGNATURE' })
    this.scheme = scheme
    this.hash = hash
  }
}

/** Thrown when the signature's scheme or hash is not the one the key's public area fixes (a TPM never does that). */
export class SignatureSchemeMismatchError extends AttestationVerificationError {
  readonly expected: string
  readonly actual: string
  constructor (expected: string, actual: string) {
    super(`the key signs with ${expected}, but the signature is ${actual}`, { code: 'ERR_SIGNATURE_SCHEME_MISMATCH' })
    this.expected = expected
    this.actual = actual
  }
}

/** Thrown when a TPMS_ATTEST does not start with TPM_GENERATED_VALUE (it was not made by a TPM). */
export class AttestMagicError extends AttestationVerificationError {
  readonly expected: number
  readonly actual: number
  constructor (expected: number, actual: number) {
    super(`the attestation was not generated by a TPM (magic 0x${actual.toString(16)}, expected 0x${expected.toString(16)})`, { code: 'ERR_ATTEST_MAGIC' })
    this.expected = expected
    this.actual = actual
  }
}

/** Thrown when the TPMS_ATTEST is of another type than the one being verified. */
export class AttestTypeError extends AttestationVerificationError {
  readonly expected: number
  readonly actual: number
  constructor (expected: number, actual: number) {
    super(`the attestation is of type 0x${actual.toString(16)}, expected 0x${expected.toString(16)}`, { code: 'ERR_ATTEST_TYPE' })
    this.expected = expected
    this.actual = actual
  }
}

/** Thrown when the quote's extraData is not the verifier's nonce (a replayed or relayed quote). */
export class QuoteNonceMismatchError extends AttestationVerificationError {
  readonly expected: string
  readonly actual: string
  constructor (expected: string, actual: string) {
    super(`the quote is not over this nonce (expected ${expected || '(empty)'}, quote has ${actual || '(empty)'})`, { code: 'ERR_QUOTE_NONCE_MISMATCH' })
    this.expected = expected
    this.actual = actual
  }
}

/** Thrown when the certification's extraData is not the verifier's nonce. */
export class CertifyNonceMismatchError extends AttestationVerificationError {
  readonly expected: string
  readonly actual: string
  constructor (expected: string, actual: string) {
    super(`the certification is not over this nonce (expected ${expected || '(empty)'}, it has ${actual || '(empty)'})`, { code: 'ERR_CERTIFY_NONCE_MISMATCH' })
    this.expected = expected
    this.actual = actual
  }
}

/** Thrown when the PCR values given do not hash to the quote's pcrDigest. */
export class QuotePcrDigestMismatchError extends AttestationVerificationError {
  readonly expected: string
  readonly actual: string
  constructor (expected: string, actual: string) {
    super(`the PCR values do not match the quote (quoted digest ${expected}, the values hash to ${actual})`, { code: 'ERR_QUOTE_PCR_DIGEST' })
    this.expected = expected
    this.actual = actual
  }
}

/** Thrown when the quote selects a PCR for which no value was given. */
export class QuotePcrMissingError extends AttestationVerificationError {
  readonly bank: string
  readonly pcr: number
  constructor (bank: string, pcr: number) {
    super(`the quote covers ${bank} PCR ${pcr}, but no value was given for it`, { code: 'ERR_QUOTE_PCR_MISSING' })
    this.bank = bank
    this.pcr = pcr
  }
}

/** Thrown when SHA-1 appears (signature hash or quoted PCR bank) and was not explicitly allowed. */
export class Sha1NotAllowedError extends AttestationVerificationError {
  readonly where: string
  constructor (where: string) {
    super(`SHA-1 is refused (${where}); pass --allow-sha1 to accept it`, { code: 'ERR_SHA1_NOT_ALLOWED' })
    this.where = where
  }
}

/**
 * Base of refusals of a key's public area: its attributes (or nameAlg) do not make it the kind of
 * key it is trusted as. `key` says which role it was checked for; `missing` and `forbidden` name
 * TPMA_OBJECT attributes it lacks or must not have. Catch it to handle any of them.
 */
export class KeyAttributesError extends AttestationVerificationError {
  readonly key: string
  readonly objectAttributes: number
  readonly missing: readonly string[]
  readonly forbidden: readonly string[]
  constructor (message: string, code: string, detail: { key: string, objectAttributes: number, missing?: readonly string[], forbidden?: readonly string[] }) {
    super(message, { code })
    this.key = detail.key
    this.objectAttributes = detail.objectAttributes
    this.missing = [...(detail.missing ?? [])]
    this.forbidden = [...(detail.forbidden ?? [])]
  }
}

/**
 * Thrown when a key trusted as an AK or DSK lacks fixedTPM, fixedParent or sensitiveDataOrigin:
 * it was made outside the TPM (e.g. a software key brought in with TPM2_Import) or can leave it,
 * so whoever made it can sign anything with it, without the TPM.
 */
export class KeyNotMadeInTpmError extends KeyAttributesError {
  constructor (key: string, objectAttributes: number, missing: readonly string[]) {
    super(`the ${key} is not ${missing.join('/')}: made outside the TPM (attributes 0x${hex32(objectAttributes)})`, 'ERR_KEY_NOT_MADE_IN_TPM', { key, objectAttributes, missing })
  }
}

/**
 * Thrown when the signing key is not a restricted signing key. A non-restricted key signs any
 * digest with TPM2_Sign, including the digest of bytes shaped like a quote (the TPM2_Sign forgery).
 */
export class NotRestrictedKeyError extends KeyAttributesError {
  constructor (objectAttributes: number, detail: { key?: string, missing?: readonly string[], forbidden?: readonly string[] } = {}) {
    const key = detail.key ?? 'AK'
    const wrong = [...(detail.missing ?? []).map((a) => `not ${a}`), ...(detail.forbidden ?? [])]
    super(`the ${key} is not a restricted signing key (${wrong.length > 0 ? `${wrong.join(', ')}; ` : ''}attributes 0x${hex32(objectAttributes)}): it could have signed forged quote-shaped bytes`,
      'ERR_NOT_RESTRICTED_KEY', { key, objectAttributes, ...detail })
  }
}

/** Thrown when a key trusted as a signing key cannot sign, or also decrypts (one key, one purpose). */
export class KeyUsageAttributesError extends KeyAttributesError {
  constructor (key: string, objectAttributes: number, missing: readonly string[], forbidden: readonly string[]) {
    const wrong = [...missing.map((a) => `not ${a}`), ...forbidden]
    super(`the ${key} is not a signing-only key (${wrong.join(', ')}; attributes 0x${hex32(objectAttributes)})`, 'ERR_KEY_USAGE_ATTRIBUTES', { key, objectAttributes, missing, forbidden })
  }
}

/** Thrown when a key's Name is not computed with SHA-256 (the Name is what certifications and credentials bind). */
export class KeyNameAlgError extends KeyAttributesError {
  readonly nameAlg: string
  constructor (key: string, objectAttributes: number, nameAlg: string) {
    super(`the ${key} has nameAlg ${nameAlg}, not sha256`, 'ERR_KEY_NAME_ALG', { key, objectAttributes })
    this.nameAlg = nameAlg
  }
}

/**
 * Thrown when an EK public area is not exactly one of the TCG EK Credential Profile templates:
 * the TPM derives a different key for every template, so accepting others would let one TPM
 * present as many identities as it has templates. `closest` names the template it differs least
 * from, `differences` the fields that differ.
 */
export class EkTemplateMismatchError extends AttestationVerificationError {
  readonly closest: string
  readonly differences: readonly string[]
  constructor (closest: string, differences: readonly string[]) {
    super(`the EK is not a TCG EK template (closest ${closest}: ${differences.join('; ')})`, { code: 'ERR_EK_TEMPLATE_MISMATCH' })
    this.closest = closest
    this.differences = [...differences]
  }
}

function hex32 (value: number): string {
  return (value >>> 0).toString(16).padStart(8, '0')
}

/** Thrown when a certification names another object than the one expected. */
export class CertifiedNameMismatchError extends AttestationVerificationError {
  readonly expected: string
  readonly actual: string
  constructor (expected: string, actual: string) {
    super(`the certification is for object ${actual}, not ${expected}`, { code: 'ERR_CERTIFIED_NAME_MISMATCH' })
    this.expected = expected
    this.actual = actual
  }
}

/** Base of EK certificate refusals; catch it to handle any of them. */
export class EkCertificateError extends AttestationVerificationError {}

/** Thrown when no certificate of the trust store issued (and validly signed) a certificate of the chain. */
export class EkCertificateUntrustedError extends EkCertificateError {
  readonly subject: string
  readonly issuer: string
  constructor (subject: string, issuer: string) {
    super(`EK certificate refused: no trusted issuer for "${subject}" (issuer "${issuer}")`, { code: 'ERR_EK_CERTIFICATE_UNTRUSTED' })
    this.subject = subject
    this.issuer = issuer
  }
}

/** Thrown when a certificate of the chain has expired at the verification time. */
export class EkCertificateExpiredError extends EkCertificateError {
  readonly subject: string
  readonly validTo: string
  readonly now: string
  constructor (subject: string, validTo: string, now: Date) {
    super(`EK certificate refused: "${subject}" expired ${validTo}`, { code: 'ERR_EK_CERTIFICATE_EXPIRED' })
    this.subject = subject
    this.validTo = validTo
    this.now = now.toISOString()
  }
}

/** Thrown when a certificate of the chain is not valid yet at the verification time. */
export class EkCertificateNotYetValidError extends EkCertificateError {
  readonly subject: string
  readonly validFrom: string
  readonly now: string
  constructor (subject: string, validFrom: string, now: Date) {
    super(`EK certificate refused: "${subject}" is not valid before ${validFrom}`, { code: 'ERR_EK_CERTIFICATE_NOT_YET_VALID' })
    this.subject = subject
    this.validFrom = validFrom
    this.now = now.toISOString()
  }
}

/** Thrown when the certificate that signed another one is not a CA (basicConstraints CA:TRUE). */
export class EkCertificateIssuerNotCaError extends EkCertificateError {
  readonly issuer: string
  constructor (issuer: string) {
    super(`EK certificate refused: its issuer "${issuer}" is not a CA certificate`, { code: 'ERR_EK_CERTIFICATE_ISSUER_NOT_CA' })
    this.issuer = issuer
  }
}

/** Thrown when the EK certificate certifies another public key than the TPM's EK. */
export class EkCertificateKeyMismatchError extends EkCertificateError {
  readonly expected: string
  readonly actual: string
  constructor (expected: string, actual: string) {
    super(`EK certificate refused: it certifies key ${actual}, not this TPM's EK ${expected} (SHA-256 of the SPKI)`, { code: 'ERR_EK_CERTIFICATE_KEY_MISMATCH' })
    this.expected = expected
    this.actual = actual
  }
}

/**
 * Thrown when the EK certificate breaks a rule of the TCG EK Credential Profile that every EK
 * certificate keeps: it is a CA, its keyUsage does not allow keyEncipherment (RSA) or
 * keyAgreement (ECC), its extendedKeyUsage leaves out tcg-kp-EKCertificate, or its
 * subjectAltName has no TPM manufacturer, model and version.
 */
export class EkCertificateProfileError extends EkCertificateError {
  readonly subject: string
  readonly rule: string
  constructor (subject: string, rule: string) {
    super(`EK certificate refused: "${subject}" ${rule}`, { code: 'ERR_EK_CERTIFICATE_PROFILE' })
    this.subject = subject
    this.rule = rule
  }
}

/** Thrown when the chain does not reach a self-signed root of the trust store within the length cap. */
export class EkCertificateChainTooLongError extends EkCertificateError {
  readonly max: number
  constructor (max: number) {
    super(`EK certificate refused: no root within ${max} certificates`, { code: 'ERR_EK_CERTIFICATE_CHAIN_TOO_LONG' })
    this.max = max
  }
}
