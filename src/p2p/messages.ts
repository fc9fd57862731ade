import {
  CborWriter,
  checkRecord,
  decodeCanonical,
  isMap,
  SchemaError,
  type RecordOf,
  type Schema
} from '../codec/index.js'
import { MalformedInputError } from '../common/index.js'

/** Thrown for a wire message that does not decode, or is not the message the protocol expects next. */
export class MalformedMessageError extends MalformedInputError {
  readonly protocol: string
  constructor(protocol: string, reason: string) {
    super(`${protocol}: malformed message: ${reason}`, { code: 'ERR_MALFORMED_MESSAGE' })
    this.protocol = protocol
  }
}

/** The fields of a wire message (besides its type `t`), in the codec's schema language. */
export type WireSchema = Schema

/** A message checked against its schema: its type `t` and the schema's fields. */
export type WireMessage<S extends WireSchema> = { t: string } & RecordOf<S>

/** Every message's type, and an abort's reason (sent by either side to stop a protocol). */
const TYPE = { kind: 'string' } as const
const ABORT = { t: TYPE, reason: { kind: 'string', max: 1024 } } as const satisfies Schema

/** Each schema with the type field added, made once per schema (schemas never change once used). */
const withType = new WeakMap<WireSchema, Schema>()

function messageSchema(schema: WireSchema): Schema {
  let full = withType.get(schema)
  if (full === undefined) {
    full = { t: TYPE, ...schema }
    withType.set(schema, full)
  }
  return full
}

/**
 * Encodes a message as canonical CBOR: `{t: type, ...fields}`. Written by the direct CBOR writer
 * (byte-identical to encodeCanonical, which it falls back to for unusual values): a sync batch is
 * a megabyte of entries, which the generic encoder walks item by item.
 */
export function encodeMessage(type: string, fields: Record<string, unknown>): Uint8Array {
  let size = 64
  for (const value of Object.values(fields)) {
    if (value instanceof Uint8Array) size += value.length + 9
    else if (Array.isArray(value)) for (const item of value) size += item instanceof Uint8Array ? item.length + 9 : 16
    else size += 16
  }
  const writer = new CborWriter(size)
  writer.map({ t: type, ...fields })
  return writer.buf.subarray(0, writer.pos)
}

/**
 * Strict decoding of one wire message: canonical CBOR within `maxBytes`, exactly the fields of the
 * schema (and `t`), each of its kind and within its bounds. An `abort` message from the peer is
 * returned as such so protocols can report the peer's reason; a type in `acceptTypes` is returned
 * without checking its fields (decode it again with its own schema). With `byteViews`, byte fields
 * are views into `bytes` rather than copies (each frame read is a buffer of its own).
 */
export function decodeMessage<S extends WireSchema>(
  protocol: string,
  bytes: Uint8Array,
  type: string,
  schema: S,
  maxBytes: number,
  options: { acceptTypes?: readonly string[]; byteViews?: boolean } = {}
): WireMessage<S> | { t: 'abort'; reason: string } {
  let value: unknown
  try {
    value = decodeCanonical(bytes, { maxBytes, byteViews: options.byteViews === true })
  } catch (err) {
    throw new MalformedMessageError(protocol, (err as Error).message)
  }
  if (!isMap(value)) throw new MalformedMessageError(protocol, 'not a map')
  const record = value
  if (record.t === 'abort' && type !== 'abort') {
    try {
      return { t: 'abort', reason: checkRecord(record, ABORT).reason }
    } catch (err) {
      if (err instanceof SchemaError) throw new MalformedMessageError(protocol, `malformed abort: ${err.message}`)
      throw err
    }
  }
  // Another message type the caller also expects here: returned unchecked, for checkFields with its own schema.
  if (typeof record.t === 'string' && record.t !== type && options.acceptTypes?.includes(record.t) === true)
    return record as WireMessage<S>
  return checkFields(protocol, record, type, schema)
}

/**
 * Checks a decoded message against its schema: type `type`, exactly the schema's fields (and
 * `t`), each of its kind and within its bounds. For a message decodeMessage returned unchecked
 * (one of its `acceptTypes`): the bytes need not be decoded again.
 */
export function checkFields<S extends WireSchema>(
  protocol: string,
  record: Record<string, unknown>,
  type: string,
  schema: S
): WireMessage<S> {
  if (record.t !== type)
    throw new MalformedMessageError(protocol, `expected "${type}", got "${String(record.t).slice(0, 32)}"`)
  try {
    return checkRecord(record, messageSchema(schema), type) as WireMessage<S>
  } catch (err) {
    if (err instanceof SchemaError) throw new MalformedMessageError(protocol, err.message)
    throw err
  }
}
