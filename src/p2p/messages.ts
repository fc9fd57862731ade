import { CborWriter, decodeCanonical } from '../codec/index.js'
import { MalformedInputError } from '../common/errors.js'

/** Thrown for a wire message that does not decode, or is not the message the protocol expects next. */
export class MalformedMessageError extends MalformedInputError {
  readonly protocol: string
  constructor (protocol: string, reason: string) {
    super(`${protocol}: malformed message: ${reason}`, { code: 'ERR_MALFORMED_MESSAGE' })
    this.protocol = protocol
  }
}

/** A field of a wire message: its type and size bounds. */
export type WireField =
  | { kind: 'bytes', size?: number, max: number }
  | { kind: 'bytes?', max: number }
  | { kind: 'string', max: number, pattern?: RegExp }
  | { kind: 'uint', max?: number }
  | { kind: 'bool' }
  | { kind: 'list', maxItems: number, item: { kind: 'bytes', max: number } }

export type WireSchema = Readonly<Record<string, WireField>>

type FieldValue<F extends WireField> =
  F extends { kind: 'bytes' } ? Uint8Array
    : F extends { kind: 'bytes?' } ? Uint8Array | null
      : F extends { kind: 'string' } ? string
        : F extends { kind: 'uint' } ? number
          : F extends { kind: 'bool' } ? boolean
            : F extends { kind: 'list' } ? Uint8Array[] : never

export type WireMessage<S extends WireSchema> = { t: string } & { [K in keyof S]: FieldValue<S[K]> }

/**
 * Encodes a message as canonical CBOR: `{t: type, ...fields}`. Written by the direct CBOR writer
 * (byte-identical to encodeCanonical, which it falls back to for unusual values): a sync batch is
 * a megabyte of entries, which the generic encoder walks item by item.
 */
export function encodeMessage (type: string, fields: Record<string, unknown>): Uint8Array {
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
export function decodeMessage<S extends WireSchema> (protocol: string, bytes: Uint8Array, type: string, schema: S, maxBytes: number, options: { acceptTypes?: readonly string[], byteViews?: boolean } = {}): WireMessage<S> | { t: 'abort', reason: string } {
  let value: unknown
  try {
    value = decodeCanonical(bytes, { maxBytes, byteViews: options.byteViews === true })
  } catch (err) {
    throw new MalformedMessageError(protocol, (err as Error).message)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) throw new MalformedMessageError(protocol, 'not a map')
  const record = value as Record<string, unknown>
  if (record.t === 'abort' && type !== 'abort') {
    if (Object.keys(record).length !== 2 || typeof record.reason !== 'string' || record.reason.length > 1024) throw new MalformedMessageError(protocol, 'malformed abort')
    return { t: 'abort', reason: record.reason }
  }
  // Another message type the caller also expects here: returned unchecked, for checkFields with its own schema.
  if (typeof record.t === 'string' && record.t !== type && options.acceptTypes?.includes(record.t) === true) return record as WireMessage<S>
  return checkFields(protocol, record, type, schema)
}

/**
 * Checks a decoded message against its schema: type `type`, exactly the schema's fields (and
 * `t`), each of its kind and within its bounds. For a message decodeMessage returned unchecked
 * (one of its `acceptTypes`): the bytes need not be decoded again.
 */
export function checkFields<S extends WireSchema> (protocol: string, record: Record<string, unknown>, type: string, schema: S): WireMessage<S> {
  if (record.t !== type) throw new MalformedMessageError(protocol, `expected "${type}", got "${String(record.t).slice(0, 32)}"`)
  const keys = Object.keys(record)
  for (const key of keys) if (key !== 't' && !Object.hasOwn(schema, key)) throw new MalformedMessageError(protocol, `${type}: unknown field "${key.slice(0, 32)}"`)
  for (const [key, field] of Object.entries(schema)) {
    if (!Object.hasOwn(record, key)) throw new MalformedMessageError(protocol, `${type}: missing field "${key}"`)
    const v = record[key]
    const bad = (why: string): never => { throw new MalformedMessageError(protocol, `${type}.${key} ${why}`) }
    switch (field.kind) {
      case 'bytes':
        if (!(v instanceof Uint8Array)) bad('must be bytes')
        if ((v as Uint8Array).length > field.max) bad(`exceeds ${field.max} bytes`)
        if (field.size !== undefined && (v as Uint8Array).length !== field.size) bad(`must be ${field.size} bytes`)
        break
      case 'bytes?':
        if (v !== null && !(v instanceof Uint8Array)) bad('must be bytes or null')
        if (v instanceof Uint8Array && v.length > field.max) bad(`exceeds ${field.max} bytes`)
        break
      case 'string':
        if (typeof v !== 'string') bad('must be text')
        if ((v as string).length > field.max) bad(`exceeds ${field.max} characters`)
        if (field.pattern !== undefined && !field.pattern.test(v as string)) bad('has the wrong form')
        break
      case 'uint':
        if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad('must be a non-negative integer')
        if (field.max !== undefined && (v as number) > field.max) bad(`exceeds ${field.max}`)
        break
      case 'bool':
        if (typeof v !== 'boolean') bad('must be true or false')
        break
      case 'list':
        if (!Array.isArray(v)) bad('must be a list')
        if ((v as unknown[]).length > field.maxItems) bad(`has more than ${field.maxItems} items`)
        for (const item of v as unknown[]) if (!(item instanceof Uint8Array) || item.length > field.item.max) bad(`items must be bytes of at most ${field.item.max}`)
        break
    }
  }
  return record as WireMessage<S>
}
