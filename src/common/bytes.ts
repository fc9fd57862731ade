import { createHash } from 'node:crypto'
import { MalformedInputError } from './errors.js'

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

/** Strict hex decoding: even length, hex digits only (an empty string is zero bytes). */
export function fromHex(text: string, what = 'hex value'): Uint8Array {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) {
    throw new MalformedInputError(`${what} is not valid hex`)
  }
  return new Uint8Array(Buffer.from(text, 'hex'))
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0
  for (const part of parts) length += part.length
  const out = new Uint8Array(length)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number)
  return diff === 0
}

export function u32be(value: number): Uint8Array {
  const out = new Uint8Array(4)
  new DataView(out.buffer).setUint32(0, value)
  return out
}

/** SHA-256 over the parts in order (strings as UTF-8): for domain-tagged digests. */
export function sha256(...parts: Array<Uint8Array | string>): Uint8Array {
  const h = createHash('sha256')
  for (const part of parts) h.update(part)
  return new Uint8Array(h.digest())
}

export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
}

export function fromBase64(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'base64'))
}

export function toBase64url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url')
}

/**
 * Strict base64url decoding (RFC 4648 §5, no padding): only the URL-safe alphabet, and only the
 * canonical spelling of its bytes (unused trailing bits zero), so one value has one text form.
 */
export function fromBase64url(text: string, what = 'base64url value'): Uint8Array {
  const bytes = Buffer.from(text, 'base64url')
  if (!/^[A-Za-z0-9_-]*$/.test(text) || bytes.toString('base64url') !== text) {
    throw new MalformedInputError(`${what} is not canonical base64url`)
  }
  return new Uint8Array(bytes)
}
