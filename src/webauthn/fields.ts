import { fromBase64url } from '../common/index.js'
import { MalformedWebAuthnError } from './errors.js'

/** Checks that `bytes` is within `min..max` bytes; `field` and `limit` name it in the refusal. */
export function checkSize(bytes: Uint8Array, field: string, min: number, max: number, limit: string): void {
  if (bytes.length < min || bytes.length > max) {
    throw new MalformedWebAuthnError(field, `is ${bytes.length} bytes, not within ${min}..${max}`, limit)
  }
}

/**
 * Strict decoder of one base64url member of a WebAuthn JSON value: a string no longer than the
 * base64url of `max` bytes (checked before decoding), canonical, of `min..max` bytes.
 */
export function decodeBase64urlField(
  value: unknown,
  field: string,
  bounds: { min: number; max: number; limit: string }
): Uint8Array {
  if (typeof value !== 'string') throw new MalformedWebAuthnError(field, 'must be a base64url string')
  if (value.length > Math.ceil((bounds.max * 4) / 3)) {
    throw new MalformedWebAuthnError(field, `is longer than the base64url of ${bounds.max} bytes`, bounds.limit)
  }
  let bytes: Uint8Array
  try {
    bytes = fromBase64url(value, field)
  } catch {
    throw new MalformedWebAuthnError(field, 'is not canonical base64url')
  }
  checkSize(bytes, field, bounds.min, bounds.max, bounds.limit)
  return bytes
}

/** A JSON object's members, or a refusal naming `field` when the value is not a plain object. */
export function jsonObject(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new MalformedWebAuthnError(field, 'must be a JSON object')
  }
  return value as Record<string, unknown>
}

/** Refuses members other than `allowed` (a strict decoder names every member it accepts). */
export function onlyMembers(record: Record<string, unknown>, field: string, allowed: readonly string[]): void {
  for (const key of Object.keys(record)) {
    if (!allowed.includes(key)) {
      throw new MalformedWebAuthnError(`${field}.${key.slice(0, 64)}`, 'is not a known member')
    }
  }
}

/** A copy of `bytes` over its own ArrayBuffer (what the library's typings ask for). */
export function arrayBacked(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes)
}
