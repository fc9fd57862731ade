/**
 * Input: any CBOR. The strict decoder must give only typed errors, and agree with cborg:
 *  - what it accepts re-encodes (cborg's canonical encoder) to exactly the input;
 *  - what cborg decodes strictly and re-encodes to exactly the input is accepted too, unless a
 *    cap (size, depth, items, text length) refuses it.
 * A disagreement is thrown as a plain Error: a finding.
 */
import { decode as cborDecode } from 'cborg'
import { isDeepStrictEqual } from 'node:util'
import { decodeCanonical, encodeCanonical, MalformedCborError } from '../../src/codec/index.js'
import { bytes } from '../common.js'

export function fuzz(data: Buffer): void {
  const input = bytes(data)
  let ours: { value: unknown } | { error: MalformedCborError }
  try {
    ours = { value: decodeCanonical(input) }
  } catch (err) {
    if (!(err instanceof MalformedCborError)) throw err
    ours = { error: err }
  }
  let reference: { value: unknown } | undefined
  try {
    const value = cborDecode(input, {
      strict: true,
      rejectDuplicateMapKeys: true,
      allowIndefinite: false,
      allowUndefined: false,
      allowInfinity: false,
      allowNaN: false,
      allowBigInt: false
    })
    // The format has no floats (cborg decodes them).
    if (Buffer.compare(encodeCanonical(value), input) === 0 && !hasFloat(value)) reference = { value }
  } catch {}
  if ('value' in ours) {
    if (Buffer.compare(encodeCanonical(ours.value), input) !== 0)
      throw new Error('accepted bytes that are not the canonical encoding of what they decode to')
    if (reference === undefined) throw new Error('accepted what cborg refuses')
    if (!isDeepStrictEqual(ours.value, reference.value)) throw new Error('decoded to another value than cborg')
  } else if (reference !== undefined && ours.error.limit === undefined) {
    throw new Error(`refused canonical CBOR that cborg accepts: ${ours.error.message}`)
  }
}

function hasFloat(value: unknown): boolean {
  if (typeof value === 'number') return !Number.isSafeInteger(value) || Object.is(value, -0)
  if (Array.isArray(value)) return value.some(hasFloat)
  if (typeof value === 'object' && value !== null && !(value instanceof Uint8Array))
    return Object.values(value).some(hasFloat)
  return false
}
