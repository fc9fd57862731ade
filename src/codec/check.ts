import {
  FieldBoundError,
  FieldFormError,
  FieldTypeError,
  MissingFieldError,
  SchemaError,
  UnknownFieldError
} from './errors.js'
import { SCHEMA_LIMITS } from './limits.js'
import type { Field, FieldValue, ListField, MapField, RecordOf, Schema, VariantField } from './schema.js'

/**
 * Checks a decoded value (CBOR or JSON) against a record schema: a map with exactly the schema's
 * fields (none it does not name, none it requires missing), each of its kind and within its
 * bounds. Returns the record, typed: the same object, or a copy when a `text` field converted its
 * value. Throws a SchemaError naming the offending value by its path from `path`.
 */
export function checkRecord<S extends Schema>(value: unknown, schema: S, path = ''): RecordOf<S> {
  return recordCheckOf(schema)(value, path) as RecordOf<S>
}

/** checkRecord for one field of any kind. */
export function checkField<F extends Field>(value: unknown, field: F, path = ''): FieldValue<F> {
  return checkOf(field)(value, path, '') as FieldValue<F>
}

/** Whether a decoded value is a map (an object that is not an array or a byte string). */
export function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)
}

/**
 * A field's check, made once per field: its value checked (and converted, for a `text` field
 * given text); `parent` and `key` locate it, and make its path only when a refusal names it.
 * Checks run for every entry appended or received and every wire message, so each is a closure
 * over its field's bounds (and compiled pattern) rather than a walk of the schema.
 */
type Check = (value: unknown, parent: string, key: string | number) => unknown
type RecordCheck = (value: unknown, path: string) => Record<string, unknown>

/** Checks by field and by record schema (schemas are never changed once used). */
const checks = new WeakMap<Field, Check>()
const recordChecks = new WeakMap<Schema, RecordCheck>()

/** The path of `key` within `parent`. */
function pathOf(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`
  if (key === '') return parent
  const cut = key.slice(0, SCHEMA_LIMITS.maxPathKey)
  return parent === '' ? cut : `${parent}.${cut}`
}

function checkOf(field: Field): Check {
  let check = checks.get(field)
  if (check === undefined) {
    check = compile(field)
    checks.set(field, check)
  }
  return check
}

function recordCheckOf(schema: Schema): RecordCheck {
  let check = recordChecks.get(schema)
  if (check === undefined) {
    check = compileRecord(schema)
    recordChecks.set(schema, check)
  }
  return check
}

function compile(field: Field): Check {
  const check = compileKind(field)
  const expected = field.expected
  if (expected === undefined) return check
  return (value, parent, key) => {
    try {
      return check(value, parent, key)
    } catch (err) {
      if (err instanceof SchemaError) throw err.restate(pathOf(parent, key), `must be ${expected}`)
      throw err
    }
  }
}

function compileKind(field: Field): Check {
  switch (field.kind) {
    case 'string': {
      const { max, min, oneOf } = field
      const pattern = field.pattern === undefined ? undefined : new RegExp(field.pattern)
      return (value, parent, key) => {
        if (typeof value !== 'string') throw new FieldTypeError(pathOf(parent, key), 'a string')
        if (max !== undefined && value.length > max) {
          throw new FieldBoundError(pathOf(parent, key), 'max', max, value.length, `longer than ${max}`)
        }
        if (min !== undefined && value.length < min) {
          throw new FieldBoundError(pathOf(parent, key), 'min', min, value.length, `shorter than ${min}`)
        }
        if (pattern !== undefined && !pattern.test(value)) {
          throw new FieldFormError(pathOf(parent, key), 'pattern', 'has the wrong form')
        }
        if (oneOf !== undefined && !oneOf.includes(value)) {
          throw new FieldFormError(pathOf(parent, key), 'oneOf', `must be one of ${oneOf.join(', ')}`)
        }
        return value
      }
    }
    case 'bytes': {
      const { max, size } = field
      const nullable = field.nullable === true
      return (value, parent, key) => {
        if (!(value instanceof Uint8Array)) {
          if (value === null && nullable) return value
          throw new FieldTypeError(pathOf(parent, key), nullable ? 'bytes or null' : 'bytes')
        }
        if (size !== undefined && value.length !== size) {
          throw new FieldBoundError(pathOf(parent, key), 'size', size, value.length, `must be ${size} bytes`)
        }
        if (value.length > max) {
          throw new FieldBoundError(pathOf(parent, key), 'max', max, value.length, `longer than ${max} bytes`)
        }
        return value
      }
    }
    case 'uint': {
      const { max, min } = field
      const text = field.text === true
      return (value, parent, key) => {
        const n = text && typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value
        if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
          throw new FieldTypeError(pathOf(parent, key), 'a non-negative integer')
        }
        if (max !== undefined && n > max) throw new FieldBoundError(pathOf(parent, key), 'max', max, n, `above ${max}`)
        if (min !== undefined && n < min) throw new FieldBoundError(pathOf(parent, key), 'min', min, n, `below ${min}`)
        return n
      }
    }
    case 'bool': {
      const text = field.text === true
      return (value, parent, key) => {
        if (typeof value === 'boolean') return value
        if (text && (value === '1' || value === 'true')) return true
        if (text && (value === '0' || value === 'false')) return false
        throw new FieldTypeError(pathOf(parent, key), 'true or false')
      }
    }
    case 'list':
      return compileList(field)
    case 'record': {
      const check = recordCheckOf(field.fields)
      return (value, parent, key) => check(value, pathOf(parent, key))
    }
    case 'map':
      return compileMap(field)
    case 'variant':
      return compileVariant(field)
  }
}

function compileRecord(schema: Schema): RecordCheck {
  const names = Object.keys(schema)
  const fields = names.map((name) => schema[name]!)
  const optional = fields.map((field) => field.optional === true)
  const fieldChecks = fields.map(checkOf)
  return (value, path) => {
    if (!isMap(value)) throw new FieldTypeError(path, 'a map')
    for (const key of Object.keys(value)) {
      if (!Object.hasOwn(schema, key)) throw new UnknownFieldError(path, key.slice(0, SCHEMA_LIMITS.maxPathKey))
    }
    let out = value
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!
      if (!Object.hasOwn(value, name)) {
        if (optional[i]!) continue
        throw new MissingFieldError(path, name)
      }
      const given = value[name]
      const checked = fieldChecks[i]!(given, path, name)
      if (checked !== given) {
        if (out === value) out = { ...value }
        out[name] = checked
      }
    }
    return out
  }
}

/** What the items of a list must be, in words; undefined for items of many values (records, lists, maps). */
function itemsPhrase(item: Field): string | undefined {
  if (item.expected !== undefined) return item.expected
  switch (item.kind) {
    case 'string': {
      if (item.oneOf !== undefined) return `one of ${item.oneOf.join(', ')}`
      const form = item.pattern === undefined ? '' : ' of the right form'
      return item.max === undefined ? `strings${form}` : `strings${form} of at most ${item.max}`
    }
    case 'bytes': {
      const kind = item.nullable === true ? 'bytes or null' : 'bytes'
      return item.size === undefined ? `${kind} of at most ${item.max}` : `${kind} of ${item.size}`
    }
    case 'uint':
      return `integers in ${item.min ?? 0}..${item.max ?? Number.MAX_SAFE_INTEGER}`
    case 'bool':
      return 'true or false'
    default:
      return undefined
  }
}

/** A list written as text: comma-separated items, trimmed, empty ones left out. */
function itemsOfText(text: string): string[] {
  return text
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')
}

/** The key that tells items apart for `unique`: bytes by their hex, other items as they are. */
function identity(item: unknown): unknown {
  return item instanceof Uint8Array ? Buffer.from(item.buffer, item.byteOffset, item.byteLength).toString('hex') : item
}

/**
 * For items of the commonest plain kinds (bytes or text with at most a length bound): whether every
 * item of a list passes, in one loop without a call per item (a sync batch holds 2,000 entries).
 * The items of a list it says no to are checked one by one, which says why.
 */
function quickItems(item: Field): ((list: unknown[]) => boolean) | undefined {
  const plain = (allowed: readonly string[]): boolean => Object.keys(item).every((key) => allowed.includes(key))
  if (item.kind === 'bytes' && plain(['kind', 'max'])) {
    const max = item.max
    return (list) => {
      for (let i = 0; i < list.length; i++) {
        const value = list[i]
        if (!(value instanceof Uint8Array) || value.length > max) return false
      }
      return true
    }
  }
  if (item.kind === 'string' && plain(['kind', 'max'])) {
    const max = item.max ?? Number.POSITIVE_INFINITY
    return (list) => {
      for (let i = 0; i < list.length; i++) {
        const value = list[i]
        if (typeof value !== 'string' || value.length > max) return false
      }
      return true
    }
  }
  return undefined
}

function compileList(field: ListField): Check {
  const { maxItems, minItems } = field
  const text = field.text === true
  const unique = field.unique === true
  const item = checkOf(field.item)
  const quick = quickItems(field.item)
  // Items of one value each are refused as a list: "items must be bytes of at most 32".
  const phrase = itemsPhrase(field.item)
  const items = (list: unknown[], path: string): unknown[] => {
    let out = list
    for (let i = 0; i < list.length; i++) {
      const given = list[i]
      const checked = item(given, path, i)
      if (checked !== given) {
        if (out === list) out = [...list]
        out[i] = checked
      }
    }
    return out
  }
  return (value, parent, key) => {
    const path = pathOf(parent, key)
    const list = text && typeof value === 'string' ? itemsOfText(value) : value
    if (!Array.isArray(list)) throw new FieldTypeError(path, 'a list')
    if (list.length > maxItems) {
      throw new FieldBoundError(path, 'maxItems', maxItems, list.length, `more than ${maxItems} items`)
    }
    if (minItems !== undefined && list.length < minItems) {
      throw new FieldBoundError(path, 'minItems', minItems, list.length, `fewer than ${minItems} items`)
    }
    let out: unknown[]
    if (quick?.(list) === true) {
      out = list
    } else if (phrase === undefined) {
      out = items(list, path)
    } else {
      try {
        out = items(list, path)
      } catch (err) {
        if (err instanceof SchemaError) throw err.restate(path, `items must be ${phrase}`)
        throw err
      }
    }
    if (unique) {
      const seen = new Set<unknown>()
      for (let i = 0; i < out.length; i++) {
        const id = identity(out[i])
        if (seen.has(id)) throw new FieldFormError(pathOf(path, i), 'unique', 'repeats an earlier item')
        seen.add(id)
      }
    }
    return out
  }
}

function compileMap(field: MapField): Check {
  const { maxEntries, minEntries } = field
  const keyPattern = field.keyPattern === undefined ? undefined : new RegExp(field.keyPattern)
  const entry = checkOf(field.value)
  return (value, parent, key) => {
    const path = pathOf(parent, key)
    if (!isMap(value)) throw new FieldTypeError(path, 'a map')
    const keys = Object.keys(value)
    if (keys.length > maxEntries) {
      throw new FieldBoundError(path, 'maxEntries', maxEntries, keys.length, `more than ${maxEntries} entries`)
    }
    if (minEntries !== undefined && keys.length < minEntries) {
      throw new FieldBoundError(path, 'minEntries', minEntries, keys.length, `fewer than ${minEntries} entries`)
    }
    let out = value
    for (const name of keys) {
      if (keyPattern !== undefined && !keyPattern.test(name)) {
        throw new FieldFormError(pathOf(path, name), 'key', 'is not an allowed key')
      }
      const given = value[name]
      const checked = entry(given, path, name)
      if (checked !== given) {
        if (out === value) out = { ...value }
        // Defined, not assigned: a JSON key "__proto__" is an own field like any other.
        Object.defineProperty(out, name, { value: checked, enumerable: true, writable: true, configurable: true })
      }
    }
    return out
  }
}

function compileVariant(field: VariantField): Check {
  const { tag, variants } = field
  const names = Object.keys(variants).join(', ')
  return (value, parent, key) => {
    const path = pathOf(parent, key)
    if (!isMap(value)) throw new FieldTypeError(path, 'a map')
    const name = value[tag]
    if (typeof name !== 'string' || !Object.hasOwn(variants, name)) {
      throw new FieldFormError(pathOf(path, tag), 'variant', `must be one of ${names}`)
    }
    return recordCheckOf(variants[name]!)(value, path)
  }
}
