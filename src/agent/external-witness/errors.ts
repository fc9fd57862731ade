import { FleetError } from '../../common/index.js'

/** Thrown when a witness cannot be reached, redirects, or its connection fails before it answers. */
export class WitnessUnreachableError extends FleetError {
  readonly url: string
  constructor(url: string, reason: string, cause?: unknown) {
    super(`external witness ${url}: ${reason}`, { code: 'ERR_WITNESS_UNREACHABLE', cause })
    this.url = url
  }
}

/** Thrown when a witness does not answer in full within the request's deadline. */
export class WitnessTimeoutError extends FleetError {
  readonly url: string
  readonly timeoutMs: number
  constructor(url: string, timeoutMs: number) {
    super(`external witness ${url}: no complete answer within ${timeoutMs} ms`, { code: 'ERR_WITNESS_TIMEOUT' })
    this.url = url
    this.timeoutMs = timeoutMs
  }
}

/** Thrown when a witness's answer is larger than the protocol's answers can be; it is not read further. */
export class WitnessResponseTooLargeError extends FleetError {
  readonly url: string
  readonly maxBytes: number
  constructor(url: string, maxBytes: number) {
    super(`external witness ${url}: answer larger than ${maxBytes} bytes`, { code: 'ERR_WITNESS_RESPONSE_TOO_LARGE' })
    this.url = url
    this.maxBytes = maxBytes
  }
}

/**
 * Thrown when a witness answers with a refusal that is not a split view (400, 403, 404, another
 * status, or a second 409): `status` and the start of its body say which.
 */
export class WitnessRefusedError extends FleetError {
  readonly status: number
  constructor(witness: string, status: number, reason: string) {
    super(`external witness ${witness} refused the checkpoint (${status}): ${reason}`, { code: 'ERR_WITNESS_REFUSED' })
    this.status = status
  }
}
