import { FleetError, MalformedInputError } from '../../common/index.js'

/**
 * The refusals of the gate room, one class per condition, each with a code and its evidence as
 * fields.
 */

/** Thrown when a workload may not start (or must stop): every reason, in words. Exit 1. */
export class GateRefusedError extends FleetError {
  readonly reasons: readonly string[]
  constructor(reasons: readonly string[]) {
    super(`the workload may not run: ${reasons.join('; ')}`, { code: 'ERR_GATE_REFUSED' })
    this.reasons = reasons
  }
}

/** Thrown when a secret's name is not one a secret can have. Exit 2. */
export class SecretNameError extends MalformedInputError {
  constructor(name: string) {
    super(
      `"${name.slice(0, 80)}" is not a secret name (1 to 64 letters, digits, . _ -, starting with a letter or digit)`,
      { code: 'ERR_SECRET_NAME' }
    )
  }
}

/** Thrown when a workload asks for a secret this device does not hold. Exit 1. */
export class SecretUnknownError extends FleetError {
  readonly secret: string
  constructor(name: string) {
    super(`no secret named ${name} is sealed on this device (fleet secret list)`, { code: 'ERR_SECRET_UNKNOWN' })
    this.secret = name
  }
}

/** Thrown when a secret file is not one this device wrote for that name (altered, moved, truncated). Exit 1. */
export class SecretFileError extends FleetError {
  readonly file: string
  constructor(file: string, reason: string) {
    super(`secret file ${file}: ${reason}`, { code: 'ERR_SECRET_FILE' })
    this.file = file
  }
}

/** Thrown when a secret's value is empty or larger than GATE_LIMITS.maxSecretBytes. Exit 2. */
export class SecretSizeError extends MalformedInputError {
  constructor(bytes: number, max: number) {
    super(`a secret is 1 to ${max} bytes; this one is ${bytes}`, { code: 'ERR_SECRET_SIZE' })
  }
}

/** Thrown when sealing one more secret would pass GATE_LIMITS.maxSecrets. Exit 1. */
export class TooManySecretsError extends FleetError {
  constructor(max: number) {
    super(`this device holds ${max} secrets already (the most it keeps): remove one first`, {
      code: 'ERR_TOO_MANY_SECRETS'
    })
  }
}

/** Thrown when a quorum is not a whole number of peers from 0 to GATE_LIMITS.maxQuorum. Exit 2. */
export class QuorumError extends MalformedInputError {
  constructor(quorum: unknown, max: number) {
    super(`a quorum is 0 to ${max} peers, not ${String(quorum).slice(0, 32)}`, { code: 'ERR_QUORUM' })
  }
}
