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

/** Thrown when the gate's grants file is not one (altered, not a regular file, too large): every gate-socket request is refused. Exit 1. */
export class GrantsFileError extends FleetError {
  readonly file: string
  constructor(file: string, reason: string) {
    super(`grants file ${file}: ${reason} (the gate socket refuses everyone until it is mended)`, {
      code: 'ERR_GATE_GRANTS_FILE'
    })
    this.file = file
  }
}

/** Thrown when a grant would pass GATE_LIMITS.maxGrantUids users or GATE_LIMITS.maxSecrets secrets. Exit 1. */
export class TooManyGrantsError extends FleetError {
  constructor(message: string) {
    super(message, { code: 'ERR_TOO_MANY_GRANTS' })
  }
}

/** Thrown when a gate-socket caller's uid holds no grant, or asks for a secret not granted to it. Exit 1. */
export class NotGrantedError extends FleetError {
  readonly uid: number
  readonly secrets: readonly string[]
  constructor(uid: number, secrets: readonly string[]) {
    super(
      secrets.length === 0
        ? `uid ${uid} may not use the gate (fleet gate allow --user … grants it)`
        : `uid ${uid} is not granted secret${secrets.length > 1 ? 's' : ''} ${secrets.join(', ')} (fleet gate allow --user … --secret NAME)`,
      { code: 'ERR_GATE_NOT_GRANTED' }
    )
    this.uid = uid
    this.secrets = secrets
  }
}

/** Thrown when a stop is recorded for a workload the gate did not admit to that caller. Exit 1. */
export class NotAdmittedError extends FleetError {
  constructor(pid: number) {
    super(`process ${pid} has no workload admitted by the gate: its stop is not recorded`, {
      code: 'ERR_GATE_NOT_ADMITTED'
    })
  }
}

/** Thrown when a user runs GATE_LIMITS.maxAdmittedPerUid gated workloads already (or the gate its total). Exit 1. */
export class TooManyGatedWorkloadsError extends FleetError {
  constructor(uid: number, max: number) {
    super(`uid ${uid} runs ${max} gated workloads already (the most admitted at once)`, {
      code: 'ERR_GATE_TOO_MANY_WORKLOADS'
    })
  }
}

/**
 * Thrown when a secret does not open under the device keys' old policy or does not seal under
 * the new one while its secrets are staged for a re-seal: nothing was committed, the device state
 * and its secrets are as they were. Exit 1.
 */
export class SecretResealError extends FleetError {
  readonly secret: string
  constructor(name: string, cause: unknown) {
    super(
      `secret ${name} could not be re-sealed (${cause instanceof Error ? cause.message : String(cause)}): ` +
        'nothing was changed, the device state and its secrets are as they were',
      { code: 'ERR_SECRET_RESEAL', cause }
    )
    this.secret = name
  }
}

/**
 * Thrown when the secrets folders are in a state no interrupted re-seal leaves (secrets,
 * secrets.next and secrets.old at once) or keep changing while they are settled: nothing is
 * touched, since any choice could drop the only copy of a secret. Exit 1.
 */
export class SecretResealStuckError extends FleetError {
  readonly dir: string
  constructor(dir: string, reason: string) {
    super(`the workload secrets of ${dir} cannot be settled: ${reason}`, { code: 'ERR_SECRET_RESEAL_STUCK' })
    this.dir = dir
  }
}

/** Thrown when `fleet release install` is re-sealing the secrets (it holds DIR/workload-secrets.lock exclusive): try again once it ended. Exit 1. */
export class SecretResealBusyError extends FleetError {
  readonly dir: string
  constructor(dir: string) {
    super(`the workload secrets of ${dir} are being re-sealed (fleet release install): try again once it ended`, {
      code: 'ERR_SECRET_RESEAL_BUSY'
    })
    this.dir = dir
  }
}

/** Thrown when a re-seal cannot start: the agent or a `fleet secret` command holds the secrets (DIR/workload-secrets.lock). Exit 1. */
export class SecretsInUseError extends FleetError {
  readonly dir: string
  constructor(dir: string) {
    super(
      `the workload secrets of ${dir} are in use (its agent is running, or a fleet secret command is): stop it, then install the approval`,
      { code: 'ERR_SECRETS_IN_USE' }
    )
    this.dir = dir
  }
}

/** Thrown when another `fleet gate allow|deny` is changing the grants (it holds DIR/gate-grants.lock). Exit 1. */
export class GrantsBusyError extends FleetError {
  constructor(dir: string) {
    super(`the grants of ${dir} are being changed by another command: try again`, { code: 'ERR_GATE_GRANTS_BUSY' })
  }
}
