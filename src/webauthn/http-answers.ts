import type { ServerResponse } from 'node:http'
import { type FleetError, MalformedInputError } from '../common/index.js'
import { renderPage, type PageContent } from './approval-page.js'
import {
  AlreadyInProgressError,
  HostRefusedError,
  NotPendingError,
  RequestOriginRefusedError,
  RequestTooLargeError,
  UnsupportedMediaTypeError
} from './errors.js'
import { PAGE_CSP } from './page-assets.js'

/**
 * The approval server's answers: pages, JSON, and the HTTP status of each refusal. Every answer
 * says it is not to be cached, sniffed, framed, shared with other origins or referred.
 */

/** The HTTP status of a refusal: 403 for every verification refusal, 500 only for the unexpected. */
export function statusOf(error: FleetError): number {
  if (error instanceof HostRefusedError || error instanceof RequestOriginRefusedError) return 403
  if (error instanceof RequestTooLargeError) return 413
  if (error instanceof UnsupportedMediaTypeError) return 415
  if (error instanceof NotPendingError) return 404
  if (error instanceof AlreadyInProgressError) return 409
  if (error instanceof MalformedInputError) return 400
  if (error.code === 'ERR_WEBAUTHN_INTERNAL') return 500
  return 403
}

/** The headers of every answer: not to be cached, sniffed, framed, shared with other origins or referred. */
export function secureHeaders(response: ServerResponse, contentType: string): void {
  response.setHeader('content-type', contentType)
  response.setHeader('cache-control', 'no-store')
  response.setHeader('x-content-type-options', 'nosniff')
  response.setHeader('referrer-policy', 'no-referrer')
  response.setHeader('x-frame-options', 'DENY')
  response.setHeader('cross-origin-opener-policy', 'same-origin')
  response.setHeader('cross-origin-resource-policy', 'same-origin')
  response.setHeader(
    'permissions-policy',
    'publickey-credentials-get=(self), publickey-credentials-create=(self), camera=(), microphone=(), geolocation=()'
  )
}

/** A page, under the CSP that lets only its own script and style run. */
export function sendPage(response: ServerResponse, content: PageContent): void {
  const html = renderPage(content)
  secureHeaders(response, 'text/html; charset=utf-8')
  response.setHeader('content-security-policy', PAGE_CSP)
  response.writeHead(200)
  response.end(html)
}

/** A JSON answer; after a refusal the connection is closed (an unread body is not read). */
export function sendJson(response: ServerResponse, status: number, value: unknown): void {
  secureHeaders(response, 'application/json; charset=utf-8')
  response.setHeader('content-security-policy', "default-src 'none'; frame-ancestors 'none'")
  if (status >= 400) response.setHeader('connection', 'close')
  response.writeHead(status)
  response.end(JSON.stringify(value))
}
