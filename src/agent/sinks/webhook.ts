/**
 * The webhook sink: batches of events POSTed as one compact JWS each (RFC 7515), signed ES256 by
 * this device's TPM-held DSK (the key `fleet attest keys` publishes in the fleet's JWKS, kid =
 * device id), over HTTPS with the server's certificate verified against the configured CA (or
 * Node's roots); plain HTTP only to 127.0.0.1 or [::1]. A 2xx answer acknowledges the whole
 * batch; anything else acknowledges nothing.
 *
 * The JWS payload (frozen; add fields, never rename): {"iss": device id, "iat": seconds,
 * "v": 1, "events": [SinkEvent…]} with the events of one feed in seq order.
 */
import http from 'node:http'
import https from 'node:https'
import type { Clock } from '../../common/index.js'
import { encodeEar, type EarSigner } from '../ear/index.js'
import type { WebhookSinkConfig } from '../ops/index.js'
import type { SinkEvent } from './event.js'
import { SINK_LIMITS } from './limits.js'
import { SinkHttpStatusError, SinkTimeoutError, SinkTransportError } from './errors.js'
import type { Sink } from './sink.js'

/** The JWS header of an event batch: typ tells it apart from an EAR signed with the same key. */
export function eventsHeader(deviceId: string): { alg: 'ES256'; kid: string; typ: 'fleet-events+jwt' } {
  return { alg: 'ES256', kid: deviceId, typ: 'fleet-events+jwt' }
}

export interface WebhookRequest {
  url: URL
  body: string
  headers: Record<string, string>
  timeoutMs: number
  signal?: AbortSignal
}

/** What a webhook answered: its status, and the start of its body (SINK_LIMITS.maxResponseBytes at most). */
export interface WebhookResponse {
  status: number
  body: string
}

/**
 * Sends one request and reads a bounded answer. Throws SinkTransportError when the exchange
 * breaks (refused, reset, a certificate that does not verify), SinkTimeoutError past timeoutMs.
 */
export interface WebhookTransport {
  post(request: WebhookRequest): Promise<WebhookResponse>
  close(): void
}

/**
 * node:http(s) with connections kept alive. `ca`: the PEM the server's certificate must chain
 * to (absent: Node's roots). Verification is never turned off: there is no option for it.
 */
export function nodeWebhookTransport(options: { ca?: string } = {}): WebhookTransport {
  const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: options.ca, rejectUnauthorized: true })
  const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  return {
    post: async (request) =>
      await new Promise<WebhookResponse>((resolve, reject) => {
        const target = request.url.origin
        const secure = request.url.protocol === 'https:'
        let settled = false
        const fail = (err: Error): void => {
          if (settled) return
          settled = true
          req.destroy()
          reject(err)
        }
        const body = Buffer.from(request.body, 'utf8')
        const send = secure ? https.request : http.request
        const req = send(request.url, {
          method: 'POST',
          agent: secure ? httpsAgent : httpAgent,
          headers: { ...request.headers, 'content-length': String(body.length) },
          signal: request.signal
        })
        const timer = setTimeout(() => fail(new SinkTimeoutError(target, request.timeoutMs)), request.timeoutMs)
        req.on('error', (err: NodeJS.ErrnoException) => {
          clearTimeout(timer)
          fail(new SinkTransportError(target, err.code ?? err.message, err))
        })
        req.on('response', (response) => {
          const chunks: Buffer[] = []
          let read = 0
          response.on('data', (chunk: Buffer) => {
            if (read >= SINK_LIMITS.maxResponseBytes) return
            chunks.push(chunk)
            read += chunk.length
            // Past the bound the rest is not read: the connection is dropped, the answer stands.
            if (read >= SINK_LIMITS.maxResponseBytes) finish()
          })
          const finish = (): void => {
            clearTimeout(timer)
            if (settled) return
            settled = true
            if (read >= SINK_LIMITS.maxResponseBytes) response.destroy()
            resolve({
              status: response.statusCode ?? 0,
              body: Buffer.concat(chunks).subarray(0, SINK_LIMITS.maxResponseBytes).toString('utf8')
            })
          }
          response.on('end', finish)
          response.on('error', (err: NodeJS.ErrnoException) => {
            clearTimeout(timer)
            fail(new SinkTransportError(target, err.code ?? err.message, err))
          })
        })
        req.end(body)
      }),
    close: () => {
      httpsAgent.destroy()
      httpAgent.destroy()
    }
  }
}

export interface WebhookSinkParts {
  deviceId: string
  signer: EarSigner
  clock: Clock
  transport: WebhookTransport
}

/** One webhook: its batches, their signatures and their POSTs. */
export class WebhookSink implements Sink {
  readonly name: string
  readonly kind = 'webhook'
  readonly target: string
  readonly maxBatch: number
  private readonly url: URL
  private readonly parts: WebhookSinkParts

  constructor(config: WebhookSinkConfig, parts: WebhookSinkParts) {
    this.name = config.name
    this.url = new URL(config.url)
    this.target = this.url.origin + this.url.pathname
    this.maxBatch = config.batchEvents ?? SINK_LIMITS.webhookBatchEvents
    this.parts = parts
  }

  /** How many of `events` fit one body (base64url grows JSON by 4/3; at least one is always taken). */
  take(events: readonly SinkEvent[]): number {
    let bytes = 512
    let n = 0
    for (const event of events) {
      if (n >= this.maxBatch) break
      bytes += Math.ceil((JSON.stringify(event).length + 1) * 1.34)
      if (n > 0 && bytes > SINK_LIMITS.maxWebhookBodyBytes) break
      n++
    }
    return n
  }

  /** The signed body of a batch: one TPM signature. */
  async sign(events: readonly SinkEvent[], options: { signal?: AbortSignal } = {}): Promise<string> {
    const payload = { iss: this.parts.deviceId, iat: Math.floor(this.parts.clock.now() / 1000), v: 1, events }
    return await encodeEar(eventsHeader(this.parts.deviceId), payload, this.parts.signer, options)
  }

  /** Resolves when the webhook acknowledged the batch (2xx); throws otherwise. */
  async deliver(events: readonly SinkEvent[], options: { signal?: AbortSignal } = {}): Promise<void> {
    const body = await this.sign(events, options)
    const response = await this.parts.transport.post({
      url: this.url,
      body,
      headers: { 'content-type': 'application/jose', 'user-agent': 'fleet-agent' },
      timeoutMs: SINK_LIMITS.requestTimeoutMs,
      signal: options.signal
    })
    if (response.status < 200 || response.status > 299)
      throw new SinkHttpStatusError(
        response.status,
        // A receiver's text goes into a status line: its control characters do not.
        response.body
          .slice(0, SINK_LIMITS.maxErrorDetailChars)
          .replace(/[^ -~\u00a0-\uffff]/g, ' ')
          .trim()
      )
  }

  async close(): Promise<void> {
    this.parts.transport.close()
  }
}
