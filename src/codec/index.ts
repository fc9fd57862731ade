/**
 * Strict canonical CBOR, the encoding of the project's formats (ledger entries, wire messages,
 * signed records).
 *
 * encodeCanonical and CborWriter write deterministic CBOR (shortest heads, map keys sorted
 * length-first then bytewise; CborWriter is byte-identical and faster for large values).
 * decodeCanonical accepts only such bytes: no duplicate keys, no indefinite lengths, no floats or
 * tags, keys in canonical order, heads in shortest form, within the caps of CBOR_LIMITS (size,
 * depth, item count, text length); anything else is a MalformedCborError with its offset.
 *
 * @example
 * const bytes = encodeCanonical({ name: 'a', key: new Uint8Array(32) })
 * decodeCanonical(bytes, { maxBytes: 1024 })            // { name: 'a', key: Uint8Array(32) }
 * decodeCanonical(Uint8Array.of(0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02))   // throws: "a" repeated, at byte 4
 */
export { encodeCanonical, CborWriter, CBOR_MAJOR } from './writer.js'
export { decodeCanonical, decodeCanonicalFixedMap } from './decoder.js'
export type { DecodeOptions } from './decoder.js'
export { CBOR_LIMITS } from './limits.js'
export { MalformedCborError } from './errors.js'
