import { FleetError, MalformedInputError } from '../../common/index.js'

/** Thrown when a genesis statement is malformed or its hybrid signature does not verify. */
export class GenesisError extends FleetError {
  constructor(reason: string) {
    super(`genesis statement: ${reason}`, { code: 'ERR_GENESIS' })
  }
}

/**
 * Thrown when owner.json is missing, unreadable, too large, or not an owner state of a known
 * version and form (a field missing, unknown, of the wrong type or size, or disagreeing with the
 * genesis statement). Exit code 2. `field` names the first field refused, when there is one.
 */
export class OwnerStateError extends MalformedInputError {
  readonly file: string
  readonly field: string | undefined
  readonly reason: string
  constructor(file: string, reason: string, field?: string) {
    super(`owner state ${file}: ${field === undefined ? reason : `bad field "${field}": ${reason}`}`, {
      code: 'ERR_OWNER_STATE'
    })
    this.file = file
    this.field = field
    this.reason = reason
  }
}

/**
 * Thrown when the PKCS#11 module an owner names is not one this machine allows to run with the
 * owner's PIN: a path outside the allowed locations (`patterns`), or one that does not resolve.
 * Nothing is loaded and no PIN is asked for.
 */
export class OwnerModuleRefusedError extends FleetError {
  readonly path: string
  readonly reason: string
  readonly patterns: readonly string[]
  constructor(path: string, reason: string, patterns: readonly string[]) {
    super(`PKCS#11 module ${path} refused for the fleet owner: ${reason}`, { code: 'ERR_OWNER_MODULE_REFUSED' })
    this.path = path
    this.reason = reason
    this.patterns = patterns
  }
}

/**
 * Thrown when the token with the owner's label is not the owner's token: its serial is not the
 * one recorded at `fleet owner init`. Found before the PIN is asked for, so that a token planted
 * under the owner's label never receives it. `serials` are those of the tokens with that label.
 */
export class OwnerTokenMismatchError extends FleetError {
  readonly label: string
  readonly expectedSerial: string
  readonly serials: string[]
  constructor(label: string, expectedSerial: string, serials: string[]) {
    super(
      `the token labelled ${JSON.stringify(label)} is not the fleet owner's: serial ${serials.join(', ')}, ` +
        `not ${expectedSerial} as recorded`,
      { code: 'ERR_OWNER_TOKEN_MISMATCH' }
    )
    this.label = label
    this.expectedSerial = expectedSerial
    this.serials = serials
  }
}

/**
 * Thrown when the key a token holds under the owner's label is not the owner's key named in the
 * genesis statement (and recorded in owner.json): the key was replaced, or owner.json names
 * another token's keys. `expected` and `actual` are the SEC1 points, in hex.
 */
export class OwnerKeyMismatchError extends FleetError {
  readonly token: string
  readonly label: string
  readonly expected: string
  readonly actual: string
  constructor(token: string, label: string, expected: string, actual: string) {
    super(
      `the P-256 key ${JSON.stringify(label)} on token ${JSON.stringify(token)} is not the fleet owner's ` +
        `(its public key ${actual.slice(0, 18)}…, the genesis statement's ${expected.slice(0, 18)}…)`,
      { code: 'ERR_OWNER_KEY_MISMATCH' }
    )
    this.token = token
    this.label = label
    this.expected = expected
    this.actual = actual
  }
}

/**
 * Thrown when an owner is unlocked without what its keys need: a TPM for a TPM-held owner, a PIN
 * source for a token.
 */
export class OwnerAccessMissingError extends FleetError {
  readonly kind: 'tpm' | 'pkcs11'
  readonly missing: string
  constructor(kind: 'tpm' | 'pkcs11', missing: string) {
    super(`the fleet owner's keys are ${kind === 'tpm' ? 'in a TPM' : 'on a PKCS#11 token'}: ${missing} is needed`, {
      code: 'ERR_OWNER_ACCESS_MISSING'
    })
    this.kind = kind
    this.missing = missing
  }
}
