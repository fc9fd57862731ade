import { FleetError } from '../common/index.js'

/** Thrown when a peer sends a frame larger than allowed, or a length prefix that is not valid. */
export class FrameTooLargeError extends FleetError {
  readonly limit: number
  constructor(limit: number, cause?: unknown) {
    super(`a peer sent a frame larger than ${limit} bytes`, { code: 'ERR_FRAME_TOO_LARGE', cause })
    this.limit = limit
  }
}

/** Thrown when a peer does not send the next frame in time (slow-loris defence). */
export class FrameTimeoutError extends FleetError {
  constructor(timeoutMs: number) {
    super(`a peer did not send the next frame within ${timeoutMs} ms`, { code: 'ERR_FRAME_TIMEOUT' })
  }
}

/** Thrown when a peer closes a stream before sending an expected frame. */
export class StreamEndedError extends FleetError {
  constructor() {
    super('the peer closed the stream early', { code: 'ERR_STREAM_ENDED' })
  }
}
