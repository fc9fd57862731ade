/**
 * Strict canonical CBOR and the one schema language of the project's formats.
 *
 * CBOR: encodeCanonical and CborWriter write deterministic CBOR (shortest heads, map keys sorted
 * length-first then bytewise; CborWriter is byte-identical and faster for large values).
 * decodeCanonical accepts only such bytes: no duplicate keys, no indefinite lengths, no floats or
 * tags, keys in canonical order, heads in shortest form, within the caps of CBOR_LIMITS (size,
 * depth, item count, text length); anything else is a MalformedCborError with its offset.
 *
 * Schemas (schema.ts) describe records as plain data: fields with a kind, bounds, optional or
 * required, nested records, lists, maps and tagged variants. Wire messages (p2p), ledger bodies
 * and their ontology, and the agent's config file are all described with it. checkRecord refuses
 * a value that does not match with one SchemaError subclass per condition (FieldTypeError,
 * MissingFieldError, UnknownFieldError, FieldBoundError, FieldFormError), each with its `path`.
 *
 * @example
 * const HELLO = { name: { kind: 'string', max: 64 }, key: { kind: 'bytes', size: 32, max: 32 } } as const
 * const bytes = encodeCanonical({ name: 'a', key: new Uint8Array(32) })
 * const hello = decodeRecord(bytes, HELLO, { maxBytes: 1024 })   // { name: string, key: Uint8Array }
 * checkRecord({ name: 'a' }, HELLO)                             // throws MissingFieldError, path "key"
 */
export { encodeCanonical, CborWriter, CBOR_MAJOR } from './writer.js'
export { decodeCanonical, decodeCanonicalFixedMap } from './decoder.js'
export type { DecodeOptions } from './decoder.js'
export { checkRecord, checkField, isMap } from './check.js'
export { decodeRecord } from './record-decoder.js'
export type { RecordDecodeOptions } from './record-decoder.js'
export type {
  Field,
  Schema,
  FieldValue,
  RecordOf,
  StringField,
  BytesField,
  UintField,
  BoolField,
  ListField,
  RecordField,
  MapField,
  VariantField
} from './schema.js'
export { CBOR_LIMITS, SCHEMA_LIMITS } from './limits.js'
export {
  MalformedCborError,
  SchemaError,
  FieldTypeError,
  MissingFieldError,
  UnknownFieldError,
  FieldBoundError,
  FieldFormError
} from './errors.js'
export type { BoundRule, FormRule } from './errors.js'
