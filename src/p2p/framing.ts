import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import { P2P_LIMITS } from './limits.js'
import { FrameTimeoutError, FrameTooLargeError, StreamEndedError } from './errors.js'

/**
 * Length-prefixed frames over a libp2p stream with a size cap and a per-frame deadline: the
 * default lpStream has no size limit, and a peer that stalls must not hold a handler forever.
 */
export class FramedStream {
  private readonly lp: LengthPrefixedStream<Stream>
  readonly stream: Stream
  private readonly maxBytes: number
  private readonly timeoutMs: number

  constructor(stream: Stream, options: { maxBytes?: number; timeoutMs?: number } = {}) {
    this.stream = stream
    this.maxBytes = options.maxBytes ?? P2P_LIMITS.maxFrameBytes
    this.timeoutMs = options.timeoutMs ?? P2P_LIMITS.frameTimeoutMs
    this.lp = lpStream(stream, { maxDataLength: this.maxBytes })
  }

  /** Reads the next frame; `timeoutMs` overrides the stream's deadline for this frame (e.g. while a human confirms). */
  async read(options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<Uint8Array> {
    const timeoutMs = options.timeoutMs ?? this.timeoutMs
    const deadline = AbortSignal.timeout(timeoutMs)
    const signal = options.signal === undefined ? deadline : AbortSignal.any([deadline, options.signal])
    try {
      const list = await this.lp.read({ signal })
      return list.subarray()
    } catch (err) {
      const name = (err as Error).name
      if (deadline.aborted) throw new FrameTimeoutError(timeoutMs)
      if (
        name === 'InvalidDataLengthError' ||
        name === 'InvalidDataLengthLengthError' ||
        name === 'InvalidMessageLengthError'
      ) {
        throw new FrameTooLargeError(this.maxBytes, err)
      }
      if (name === 'UnexpectedEOFError') throw new StreamEndedError()
      throw err
    }
  }

  async write(frame: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<void> {
    if (frame.length > this.maxBytes) throw new FrameTooLargeError(this.maxBytes)
    await this.lp.write(frame, options)
  }

  async close(): Promise<void> {
    await this.stream.close().catch(() => undefined)
  }

  abort(reason: Error): void {
    this.stream.abort(reason)
  }
}
