/**
 * Base of every error the project throws on purpose.
 *
 * Each condition has its own subclass with a stable `name` (tests match on it) and a `code`.
 * `exitCode` is what the CLI exits with: 1 when a verification refused or an operation failed,
 * 2 when the input itself was unreadable or the usage was wrong.
 */
export class FleetError extends Error {
  readonly code: string
  readonly exitCode: 1 | 2

  constructor(message: string, options: { code: string; exitCode?: 1 | 2; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = options.code
    this.exitCode = options.exitCode ?? 1
  }
}

/** Thrown when input (a file, a structure, an argument) cannot be decoded. Exit code 2. */
export class MalformedInputError extends FleetError {
  constructor(message: string, options: { code?: string; cause?: unknown } = {}) {
    super(message, { code: options.code ?? 'ERR_MALFORMED_INPUT', exitCode: 2, cause: options.cause })
  }
}

/** Thrown when a command-line argument or option has an invalid value. Exit code 2. */
export class UsageError extends FleetError {
  constructor(message: string) {
    super(message, { code: 'ERR_USAGE', exitCode: 2 })
  }
}

/** Thrown when an operation is cancelled through its AbortSignal or passes its deadline. */
export class AbortedError extends FleetError {
  constructor(message = 'the operation was aborted') {
    super(message, { code: 'ERR_ABORTED' })
  }
}
