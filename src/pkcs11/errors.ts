import { FleetError, MalformedInputError } from '../common/index.js'
import { ckrName } from './return-codes.js'

/** Thrown when the PKCS#11 module file is refused (path, ownership, mode) or cannot be loaded and initialised. */
export class Pkcs11ModuleNotLoadableError extends FleetError {
  readonly path: string
  readonly reason: string
  constructor(path: string, reason: string, cause?: unknown) {
    super(`PKCS#11 module ${path} cannot be loaded: ${reason}`, { code: 'ERR_PKCS11_MODULE_NOT_LOADABLE', cause })
    this.path = path
    this.reason = reason
  }
}

/**
 * Thrown when the module is already initialised in this process (C_Initialize answered
 * CKR_CRYPTOKI_ALREADY_INITIALIZED): one Pkcs11Module per library; open several tokens through it.
 */
export class Pkcs11ModuleInUseError extends FleetError {
  readonly path: string
  constructor(path: string) {
    super(`PKCS#11 module ${path} is already initialised in this process; open its tokens through one loadModule()`, {
      code: 'ERR_PKCS11_MODULE_IN_USE'
    })
    this.path = path
  }
}

/** Thrown when a Pkcs11Module is used after close(): its library is finalised and unloaded. */
export class Pkcs11ModuleClosedError extends FleetError {
  readonly path: string
  constructor(path: string) {
    super(`PKCS#11 module ${path} is closed`, { code: 'ERR_PKCS11_MODULE_CLOSED' })
    this.path = path
  }
}

/** Thrown when no initialised token has the label asked for; `seen` lists the labels that are there. */
export class Pkcs11TokenNotFoundError extends FleetError {
  readonly label: string
  readonly seen: string[]
  constructor(label: string, seen: string[]) {
    const list = seen.length === 0 ? 'none' : seen.map((s) => JSON.stringify(s)).join(', ')
    super(`no PKCS#11 token labelled ${JSON.stringify(label)} (tokens seen: ${list})`, {
      code: 'ERR_PKCS11_TOKEN_NOT_FOUND'
    })
    this.label = label
    this.seen = seen
  }
}

/** Thrown when several tokens carry the label asked for; `serials` tells them apart. */
export class Pkcs11TokenAmbiguousError extends FleetError {
  readonly label: string
  readonly serials: string[]
  constructor(label: string, serials: string[]) {
    super(`${serials.length} PKCS#11 tokens are labelled ${JSON.stringify(label)} (serials ${serials.join(', ')})`, {
      code: 'ERR_PKCS11_TOKEN_AMBIGUOUS'
    })
    this.label = label
    this.serials = serials
  }
}

/** Thrown when a token is opened twice through one module (a second login would not check its PIN). */
export class Pkcs11TokenInUseError extends FleetError {
  readonly label: string
  constructor(label: string) {
    super(`PKCS#11 token ${JSON.stringify(label)} is already open through this module`, {
      code: 'ERR_PKCS11_TOKEN_IN_USE'
    })
    this.label = label
  }
}

/**
 * Thrown when the token refused the user PIN (CKR_PIN_INCORRECT). `countLow` and `finalTry` are
 * the token's own flags read after the refusal: a token that counts tries says it is close to
 * locking.
 */
export class Pkcs11PinIncorrectError extends FleetError {
  readonly token: string
  readonly countLow: boolean
  readonly finalTry: boolean
  constructor(token: string, flags: { countLow: boolean; finalTry: boolean }) {
    const warning = flags.finalTry ? ' (the next wrong PIN locks it)' : flags.countLow ? ' (few tries left)' : ''
    super(`PKCS#11 token ${JSON.stringify(token)} refused the PIN${warning}`, { code: 'ERR_PKCS11_PIN_INCORRECT' })
    this.token = token
    this.countLow = flags.countLow
    this.finalTry = flags.finalTry
  }
}

/** Thrown when the user PIN is locked (CKR_PIN_LOCKED, or CKF_USER_PIN_LOCKED before a try): the SO must reset it. */
export class Pkcs11PinLockedError extends FleetError {
  readonly token: string
  constructor(token: string) {
    super(`the user PIN of PKCS#11 token ${JSON.stringify(token)} is locked`, { code: 'ERR_PKCS11_PIN_LOCKED' })
    this.token = token
  }
}

/**
 * Thrown when the token, or the session on it, went away during `operation`: removed, unplugged,
 * its session closed or its module finalised under us. Nothing of the operation was returned.
 * `ckr` is what the module answered.
 */
export class Pkcs11TokenAbsentError extends FleetError {
  readonly token: string
  readonly operation: string
  readonly ckr: number
  readonly ckrName: string
  constructor(token: string, operation: string, ckr: number) {
    super(`PKCS#11 token ${JSON.stringify(token)} is gone (${operation}: ${ckrName(ckr)})`, {
      code: 'ERR_PKCS11_TOKEN_ABSENT'
    })
    this.token = token
    this.operation = operation
    this.ckr = ckr
    this.ckrName = ckrName(ckr)
  }
}

/** Thrown when a PKCS#11 call fails for any reason not named by another class; names the call and its CKR. */
export class Pkcs11OperationError extends FleetError {
  readonly operation: string
  readonly ckr: number
  readonly ckrName: string
  constructor(operation: string, ckr: number) {
    super(`PKCS#11 ${operation} failed: ${ckrName(ckr)}`, { code: 'ERR_PKCS11_OPERATION' })
    this.operation = operation
    this.ckr = ckr
    this.ckrName = ckrName(ckr)
  }
}

/** Thrown when a token session is used after close(). */
export class Pkcs11SessionClosedError extends FleetError {
  readonly token: string
  constructor(token: string) {
    super(`the session on PKCS#11 token ${JSON.stringify(token)} is closed`, { code: 'ERR_PKCS11_SESSION_CLOSED' })
    this.token = token
  }
}

/** Which kind of key a key error is about. */
export type TokenKeyKind = 'p256' | 'aes-wrap'

/** Thrown when no key of the kind asked for has the label on the token. */
export class Pkcs11KeyNotFoundError extends FleetError {
  readonly token: string
  readonly label: string
  readonly kind: TokenKeyKind
  constructor(token: string, label: string, kind: TokenKeyKind) {
    super(`no ${kind} key labelled ${JSON.stringify(label)} on PKCS#11 token ${JSON.stringify(token)}`, {
      code: 'ERR_PKCS11_KEY_NOT_FOUND'
    })
    this.token = token
    this.label = label
    this.kind = kind
  }
}

/** Thrown when more than one object answers to a key's label and class: which one signs would be a guess. */
export class Pkcs11KeyAmbiguousError extends FleetError {
  readonly token: string
  readonly label: string
  readonly kind: TokenKeyKind
  readonly count: number
  constructor(token: string, label: string, kind: TokenKeyKind, count: number) {
    super(`${count} ${kind} keys are labelled ${JSON.stringify(label)} on PKCS#11 token ${JSON.stringify(token)}`, {
      code: 'ERR_PKCS11_KEY_AMBIGUOUS'
    })
    this.token = token
    this.label = label
    this.kind = kind
    this.count = count
  }
}

/** Thrown when a key is to be generated under a label that a key object on the token already has. */
export class Pkcs11KeyExistsError extends FleetError {
  readonly token: string
  readonly label: string
  readonly kind: TokenKeyKind
  constructor(token: string, label: string, kind: TokenKeyKind) {
    super(`PKCS#11 token ${JSON.stringify(token)} already holds a key labelled ${JSON.stringify(label)}`, {
      code: 'ERR_PKCS11_KEY_EXISTS'
    })
    this.token = token
    this.label = label
    this.kind = kind
  }
}

/** One attribute that a hardware-bound key must have and this key has not. `actual` is undefined when unreadable. */
export interface FailedKeyAttribute {
  readonly attribute: string
  readonly expected: boolean
  readonly actual: boolean | undefined
}

/**
 * Thrown when a key is not provably made on the token and kept there: extractable, not sensitive,
 * imported (CKA_LOCAL false), or extractable or readable at some time in its life
 * (CKA_NEVER_EXTRACTABLE, CKA_ALWAYS_SENSITIVE false). `failing` names each attribute that fails.
 */
export class Pkcs11KeyNotHardwareBoundError extends FleetError {
  readonly token: string
  readonly label: string
  readonly failing: FailedKeyAttribute[]
  constructor(token: string, label: string, failing: FailedKeyAttribute[]) {
    const list = failing.map((f) => `${f.attribute} is ${f.actual === undefined ? 'unreadable' : String(f.actual)}`)
    super(`key ${JSON.stringify(label)} on token ${JSON.stringify(token)} is not hardware-bound: ${list.join(', ')}`, {
      code: 'ERR_PKCS11_KEY_NOT_HARDWARE_BOUND'
    })
    this.token = token
    this.label = label
    this.failing = failing
  }
}

/**
 * Thrown when a key is of the wrong kind for its use: another curve or key type or size, usable
 * without the PIN (CKA_PRIVATE false), without the needed usage, or a public key object that is
 * not the private key's other half.
 */
export class Pkcs11KeyUnsuitableError extends FleetError {
  readonly token: string
  readonly label: string
  readonly reason: string
  constructor(token: string, label: string, reason: string) {
    super(`key ${JSON.stringify(label)} on PKCS#11 token ${JSON.stringify(token)} is unsuitable: ${reason}`, {
      code: 'ERR_PKCS11_KEY_UNSUITABLE'
    })
    this.token = token
    this.label = label
    this.reason = reason
  }
}

/** Thrown when an attribute value from the token (CKA_EC_POINT, CKA_EC_PARAMS, a flag) does not decode. */
export class Pkcs11AttributeMalformedError extends FleetError {
  readonly attribute: string
  readonly reason: string
  constructor(attribute: string, reason: string) {
    super(`${attribute} from the PKCS#11 token is malformed: ${reason}`, { code: 'ERR_PKCS11_ATTRIBUTE_MALFORMED' })
    this.attribute = attribute
    this.reason = reason
  }
}

/**
 * Thrown when a certificate object on the token is not a readable X.509 certificate: not DER, not
 * a certificate, larger than CERTIFICATE_MAX_BYTES, or (for an attestation statement) a Yubico
 * extension that does not decode. The token's answer is refused whole: exit code 1.
 */
export class Pkcs11CertificateMalformedError extends FleetError {
  readonly token: string
  readonly label: string
  readonly reason: string
  constructor(token: string, label: string, reason: string, cause?: unknown) {
    super(
      `certificate object ${JSON.stringify(label)} on PKCS#11 token ${JSON.stringify(token)} is not a readable ` +
        `X.509 certificate: ${reason}`,
      { code: 'ERR_PKCS11_CERTIFICATE_MALFORMED', cause }
    )
    this.token = token
    this.label = label
    this.reason = reason
  }
}

/** Thrown when a token holds more certificate objects than are read (CERTIFICATE_OBJECTS_MAX). */
export class Pkcs11TooManyCertificatesError extends FleetError {
  readonly token: string
  readonly max: number
  constructor(token: string, max: number) {
    super(`PKCS#11 token ${JSON.stringify(token)} holds more than ${max} certificate objects, the most read`, {
      code: 'ERR_PKCS11_TOO_MANY_CERTIFICATES'
    })
    this.token = token
    this.max = max
  }
}

/**
 * Thrown when attestation roots are named and no certificate on the token certifies the key:
 * none has the key's SubjectPublicKeyInfo (whatever its label says). `certificates` is how many
 * certificate objects the token holds.
 */
export class Pkcs11AttestationMissingError extends FleetError {
  readonly token: string
  readonly keyLabel: string
  readonly certificates: number
  constructor(token: string, keyLabel: string, certificates: number) {
    const held =
      certificates === 0
        ? 'the token holds no certificates'
        : `none of its ${certificates} certificates is over that key`
    super(
      `no attestation of key ${JSON.stringify(keyLabel)} on PKCS#11 token ${JSON.stringify(token)}: ${held}, ` +
        'and an attestation root is named',
      { code: 'ERR_PKCS11_ATTESTATION_MISSING' }
    )
    this.token = token
    this.keyLabel = keyLabel
    this.certificates = certificates
  }
}

/**
 * Thrown when certificates over the key are on the token but none chains to a named attestation
 * root: each with why (expired, self-signed, issued by no certificate of the token or root, a
 * signature that does not verify, a chain too long or too large to record).
 */
export class Pkcs11AttestationUntrustedError extends FleetError {
  readonly token: string
  readonly keyLabel: string
  readonly reasons: string[]
  constructor(token: string, keyLabel: string, reasons: string[]) {
    super(
      `the attestation of key ${JSON.stringify(keyLabel)} on PKCS#11 token ${JSON.stringify(token)} does not ` +
        `chain to a named root: ${reasons.join('; ')}`,
      { code: 'ERR_PKCS11_ATTESTATION_UNTRUSTED' }
    )
    this.token = token
    this.keyLabel = keyLabel
    this.reasons = reasons
  }
}

/** Thrown when sealed seed bytes are not a well-formed sealed seed of a known version. Exit code 2. */
export class Pkcs11SealedSeedMalformedError extends MalformedInputError {
  readonly reason: string
  readonly length: number
  constructor(reason: string, length: number) {
    super(`sealed ML-DSA seed (${length} bytes) is malformed: ${reason}`, { code: 'ERR_PKCS11_SEALED_SEED_MALFORMED' })
    this.reason = reason
    this.length = length
  }
}

/**
 * Thrown when the token will not unseal a sealed seed: the AES-GCM tag does not verify, because
 * the bytes were changed or were sealed under another key (another token's key of the same label).
 */
export class Pkcs11UnsealRefusedError extends FleetError {
  readonly token: string
  readonly wrapKeyLabel: string
  readonly ckr: number
  readonly ckrName: string
  constructor(token: string, wrapKeyLabel: string, ckr: number) {
    super(
      `PKCS#11 token ${JSON.stringify(token)} refused to unseal with key ${JSON.stringify(wrapKeyLabel)} ` +
        `(${ckrName(ckr)}): changed, or sealed under another key`,
      { code: 'ERR_PKCS11_UNSEAL_REFUSED' }
    )
    this.token = token
    this.wrapKeyLabel = wrapKeyLabel
    this.ckr = ckr
    this.ckrName = ckrName(ckr)
  }
}

/** Thrown when an unsealed seed derives another ML-DSA-65 public key than the one recorded for it. */
export class Pkcs11SeedMismatchError extends FleetError {
  readonly token: string
  readonly wrapKeyLabel: string
  constructor(token: string, wrapKeyLabel: string) {
    super(
      `the seed unsealed by ${JSON.stringify(wrapKeyLabel)} on PKCS#11 token ${JSON.stringify(token)} ` +
        'derives another ML-DSA-65 public key than the recorded one',
      { code: 'ERR_PKCS11_SEED_MISMATCH' }
    )
    this.token = token
    this.wrapKeyLabel = wrapKeyLabel
  }
}

/** Where a PIN was to come from, for messages: `fd 3`, `credential token-pin`, `tty`. */
export type PinSourceName = string

/** Thrown when a PIN source cannot give a PIN: no TTY, $CREDENTIALS_DIRECTORY unset, an unreadable fd or file. */
export class PinUnavailableError extends FleetError {
  readonly source: PinSourceName
  readonly reason: string
  constructor(source: PinSourceName, reason: string, cause?: unknown) {
    super(`no PIN from ${source}: ${reason}`, { code: 'ERR_PIN_UNAVAILABLE', cause })
    this.source = source
    this.reason = reason
  }
}

/** Thrown when a PIN source gave no usable PIN: too short or long, several lines, NUL, not UTF-8. Exit code 2. */
export class PinMalformedError extends MalformedInputError {
  readonly source: PinSourceName
  readonly reason: string
  constructor(source: PinSourceName, reason: string) {
    super(`the PIN from ${source} is unusable: ${reason}`, { code: 'ERR_PIN_MALFORMED' })
    this.source = source
    this.reason = reason
  }
}
