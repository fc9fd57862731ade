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
  constructor(offset: number, reason: string, limit?: keyof typeof CBOR_LIMITS) {
    super(`CBOR: ${reason} (at byte ${offset})`, { code: 'ERR_MALFORMED_CBOR' })
    this.offset = offset
    this.reason = reason
    this.limit = limit
  }
}

/**
 * Base of the schema refusals: a decoded value does not match its schema. `path` names the
 * offending value from the record checked (e.g. "body.deviceId", "people[2].name"); `reason` says
 * what is wrong. Some refusals are said again further out (restate): every refusal within a field
 * that states what it `expected` is "must be …" at that field, and a refused item of one value in
 * a list is "items must be …" at the list. Callers catch this base to say it in their own terms.
 * Exit code 2.
 */
export abstract class SchemaError extends MalformedInputError {
  readonly path: string
  readonly reason: string
  constructor(path: string, reason: string, code: string, message = `${path === '' ? 'the value' : path} ${reason}`) {
    super(message, { code })
    this.path = path
    this.reason = reason
  }

  /** The same refusal said at another path, in other words. */
  abstract restate(path: string, reason: string): SchemaError
}

/** Thrown when a value is of another kind than its field's (text where bytes are wanted, a float for a uint…). */
export class FieldTypeError extends SchemaError {
  /** What the field wants, in words ("a string", "bytes or null", "a map"…). */
  readonly expected: string
  constructor(path: string, expected: string, reason = `must be ${expected}`) {
    super(path, reason, 'ERR_FIELD_TYPE')
    this.expected = expected
  }

  restate(path: string, reason: string): FieldTypeError {
    return new FieldTypeError(path, this.expected, reason)
  }
}

/** A refusal said again elsewhere (SchemaError.restate). */
interface Restated {
  readonly path: string
  readonly reason: string
}

/**
 * A refusal about which fields a record has, said as the project's decoders say it: "record:
 * missing field "name"". `record` is the record's path; the error's path is the field's.
 */
abstract class RecordFieldError extends SchemaError {
  readonly field: string
  constructor(record: string, field: string, code: string, reason: string, restated?: Restated) {
    const path = restated?.path ?? (record === '' ? field : `${record}.${field}`)
    const message = restated !== undefined ? undefined : record === '' ? reason : `${record}: ${reason}`
    super(path, restated?.reason ?? reason, code, message)
    this.field = field
  }
}

/** Thrown when a record lacks a field its schema requires. */
export class MissingFieldError extends RecordFieldError {
  constructor(record: string, field: string, restated?: Restated) {
    super(record, field, 'ERR_MISSING_FIELD', `missing field "${field}"`, restated)
  }

  restate(path: string, reason: string): MissingFieldError {
    return new MissingFieldError('', this.field, { path, reason })
  }
}

/** Thrown when a record has a field its schema does not name (`field` is cut to SCHEMA_LIMITS.maxPathKey). */
export class UnknownFieldError extends RecordFieldError {
  constructor(record: string, field: string, restated?: Restated) {
    super(record, field, 'ERR_UNKNOWN_FIELD', `unknown field "${field}"`, restated)
  }

  restate(path: string, reason: string): UnknownFieldError {
    return new UnknownFieldError('', this.field, { path, reason })
  }
}

/** Which bound a value passed. */
export type BoundRule = 'max' | 'min' | 'size' | 'maxItems' | 'minItems' | 'maxEntries' | 'minEntries'

/**
 * Thrown when a value is out of its field's bounds: a number above `max`, a string or byte string
 * longer than `max`, bytes not of their `size`, a list or map with too many or too few items.
 * `bound` is the field's bound and `actual` the value's number or length.
 */
export class FieldBoundError extends SchemaError {
  readonly rule: BoundRule
  readonly bound: number
  readonly actual: number
  constructor(path: string, rule: BoundRule, bound: number, actual: number, reason: string) {
    super(path, reason, 'ERR_FIELD_BOUND')
    this.rule = rule
    this.bound = bound
    this.actual = actual
  }

  restate(path: string, reason: string): FieldBoundError {
    return new FieldBoundError(path, this.rule, this.bound, this.actual, reason)
  }
}

/** Which rule of form a value broke. */
export type FormRule = 'pattern' | 'oneOf' | 'unique' | 'key' | 'variant'

/**
 * Thrown when a value has the right kind and size but the wrong form: text not matching the
 * field's pattern or not one of its choices, a repeated item in a list of distinct items, a map
 * key of the wrong form, a tagged record whose tag names no variant.
 */
export class FieldFormError extends SchemaError {
  readonly rule: FormRule
  constructor(path: string, rule: FormRule, reason: string) {
    super(path, reason, 'ERR_FIELD_FORM')
    this.rule = rule
  }

  restate(path: string, reason: string): FieldFormError {
    return new FieldFormError(path, this.rule, reason)
  }
}
