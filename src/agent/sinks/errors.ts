import { FleetError } from '../../common/index.js'

/**
 * Thrown when a webhook answered with a status other than 2xx: nothing of the batch is taken as
 * delivered, and it is sent again (a receiver that refuses must not make events disappear).
 */
export class SinkHttpStatusError extends FleetError {
  readonly status: number
  /** The start of the response body, as the receiver gave it (SINK_LIMITS.maxErrorDetailChars). */
  readonly detail: string
  constructor(status: number, detail: string) {
    super(`the webhook answered HTTP ${status}${detail === '' ? '' : `: ${detail}`}`, {
      code: 'ERR_SINK_HTTP_STATUS'
    })
    this.status = status
    this.detail = detail
  }
}

/**
 * Thrown when a sink could not be reached or the exchange broke: refused or reset connection,
 * a server certificate that does not verify against the configured CA, a name that does not
 * resolve. `reason` is the system's or TLS's code when there is one (ECONNREFUSED, UNABLE_TO_VERIFY_LEAF_SIGNATURE, …).
 */
export class SinkTransportError extends FleetError {
  readonly reason: string
  constructor(target: string, reason: string, cause?: unknown) {
    super(`could not deliver to ${target}: ${reason}`, { code: 'ERR_SINK_TRANSPORT', cause })
    this.reason = reason
  }
}

/** Thrown when a sink did not answer within SINK_LIMITS.requestTimeoutMs. */
export class SinkTimeoutError extends FleetError {
  constructor(target: string, ms: number) {
    super(`${target} did not answer within ${ms} ms`, { code: 'ERR_SINK_TIMEOUT' })
  }
}

/** Thrown when a stored delivery cursor is not what this module writes (a safe integer in 8 bytes, then a hash). */
export class SinkCursorError extends FleetError {
  readonly key: string
  constructor(key: string) {
    super(`the delivery cursor ${key} is malformed`, { code: 'ERR_SINK_CURSOR' })
    this.key = key
  }
}
