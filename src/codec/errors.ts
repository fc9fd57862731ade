import { MalformedInputError } from '../common/index.js'
import type { CBOR_LIMITS } from './limits.js'

/**
 * Thrown when bytes are not strict canonical CBOR (a longer head than needed, keys out of order or
 * repeated, an indefinite length, a float, a tag, trailing or missing bytes), or pass a cap of
 * CBOR_LIMITS (then `limit` names it). `offset` is where the offending item starts. Exit code 2.
 */
export class MalformedCborError extends MalformedInputError {
  readonly offset: number
  readonly reason: string
  readonly limit: keyof typeof CBOR_LIMITS | undefined
  constructor (offset: number, reason: string, limit?: keyof typeof CBOR_LIMITS) {
    super(`CBOR: ${reason} (at byte ${offset})`, { code: 'ERR_MALFORMED_CBOR' })
    this.offset = offset
    this.reason = reason
    this.limit = limit
  }
}
