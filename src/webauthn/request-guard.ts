import type { IncomingMessage } from 'node:http'
import {
  HostRefusedError,
  MalformedWebAuthnError,
  RequestOriginRefusedError,
  RequestTooLargeError,
  UnsupportedMediaTypeError
} from './errors.js'

/**
 * The checks every request to the loopback approval server passes before it is routed: it names
 * the server's own host and port (a page on another name that resolves to 127.0.0.1 — DNS
 * rebinding — names its own), comes from the server's own origin when it has one, and a body is
 * JSON within its bound.
 */

/** The hosts the server answers to, each with its port. */
export function ownHosts(port: number): readonly string[] {
  return [`127.0.0.1:${port}`, `localhost:${port}`]
}

/** The request's Host if it is one of `hosts` (HostRefusedError otherwise), lowercased. */
export function checkHost(request: IncomingMessage, hosts: readonly string[]): string {
  const host = (request.headers.host ?? '').toLowerCase()
  if (!hosts.includes(host)) throw new HostRefusedError(host.slice(0, 256))
  return host
}

/**
 * Refuses a request made by a page of another origin (RequestOriginRefusedError). A request that
 * changes state (`required`) MUST carry the Origin header of the server's own origin; any other
 * request may carry none, and when it does it must be that origin. Fetch metadata, when sent,
 * must agree: only same-origin requests, or (for pages) a navigation the person made.
 */
export function checkRequestOrigin(request: IncomingMessage, ownOrigin: string, required: boolean): void {
  const origin = request.headers.origin
  if (origin === undefined ? required : origin !== ownOrigin) {
    throw new RequestOriginRefusedError((origin ?? '(none)').slice(0, 256))
  }
  const site = request.headers['sec-fetch-site']
  if (site === undefined || site === 'same-origin') return
  const navigation = request.headers['sec-fetch-mode'] === 'navigate'
  if (!required && navigation && (site === 'none' || site === 'cross-site' || site === 'same-site')) return
  throw new RequestOriginRefusedError(`(fetch site ${site.slice(0, 32)})`)
}

/** The media type of a request body (`application/json`, optionally with `; charset=utf-8`). */
export function checkJsonContentType(request: IncomingMessage): void {
  const type = request.headers['content-type'] ?? ''
  if (!/^application\/json\s*(;\s*charset=utf-8\s*)?$/i.test(type)) {
    throw new UnsupportedMediaTypeError(type.slice(0, 128))
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * The request body as JSON, read to at most `limit` bytes: a declared length over the limit is
 * refused before reading, a stream that passes it is refused as soon as it does
 * (RequestTooLargeError); bytes that are not UTF-8 JSON are MalformedWebAuthnError.
 */
export async function readJsonBody(request: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(request.headers['content-length'] ?? '0')
  if (declared > limit) throw new RequestTooLargeError(limit)
  const chunks: Buffer[] = []
  let length = 0
  for await (const chunk of request as AsyncIterable<Buffer>) {
    length += chunk.length
    if (length > limit) throw new RequestTooLargeError(limit)
    chunks.push(chunk)
  }
  try {
    return JSON.parse(utf8.decode(Buffer.concat(chunks, length)))
  } catch {
    throw new MalformedWebAuthnError('request body', 'is not UTF-8 JSON')
  }
}
