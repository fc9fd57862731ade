import { checkField, decodeCanonical, SchemaError, type Field, type MapField, type Schema } from '../codec/index.js'
import { BodySchemaError } from './errors.js'
import type { Entry } from './entry.js'
import { ONTOLOGY_LIMITS } from './limits.js'
import { applyVerifiedOntologyUpdate, ROLES, type ActionSpec, type Ontology, type Role } from './ontology.js'

/**
 * The actions of an owner's ontology.update, as its body's `actions` states them (canonical CBOR;
 * `fleet ontology publish` reads the same from JSON). Frozen format: a map of action names to
 * {roles, body}, each body field one of five kinds with exactly these properties (do NOT add or
 * change one; a new kind means a new ontology.update version):
 *
 *   string   {kind, max, pattern?, oneOf?, optional?}    as the codec's string field
 *   bytes    {kind, max, size?, optional?}               as the codec's bytes field
 *   uint     {kind, max?, optional?}                     as the codec's uint field
 *   bool     {kind, optional?}                           as the codec's bool field
 *   strings  {kind, maxItems, maxLength, optional?}      a codec list of strings of at most maxLength
 *
 * The format is itself described in the codec's schema language (UPDATE_ACTIONS).
 */
const kind = (name: string): Field => ({ kind: 'string', oneOf: [name] })
const optional: Field = { kind: 'bool', optional: true }
const fieldBytes: Field = { kind: 'uint', max: ONTOLOGY_LIMITS.maxFieldBytes }

const FIELD_FORMATS: Readonly<Record<string, Schema>> = {
  string: {
    kind: kind('string'),
    max: fieldBytes,
    pattern: { kind: 'string', max: ONTOLOGY_LIMITS.maxPattern, optional: true },
    oneOf: { kind: 'list', maxItems: ONTOLOGY_LIMITS.maxChoices, item: { kind: 'string' }, optional: true },
    optional
  },
  bytes: { kind: kind('bytes'), max: fieldBytes, size: { ...fieldBytes, optional: true }, optional },
  uint: { kind: kind('uint'), max: { kind: 'uint', optional: true }, optional },
  bool: { kind: kind('bool'), optional },
  strings: {
    kind: kind('strings'),
    maxItems: { kind: 'uint', max: ONTOLOGY_LIMITS.maxListItems },
    maxLength: fieldBytes,
    optional
  }
}

const UPDATE_ACTIONS: MapField = {
  kind: 'map',
  minEntries: 1,
  maxEntries: ONTOLOGY_LIMITS.maxActions,
  value: {
    kind: 'record',
    fields: {
      roles: { kind: 'list', minItems: 1, maxItems: ROLES.length, item: { kind: 'string', oneOf: ROLES } },
      body: {
        kind: 'map',
        maxEntries: ONTOLOGY_LIMITS.maxFields,
        keyPattern: '^[a-zA-Z][a-zA-Z0-9_]{0,63}$',
        value: { kind: 'variant', tag: 'kind', variants: FIELD_FORMATS }
      }
    }
  }
}

/** A field as the format states it (checked against FIELD_FORMATS). */
interface StatedField {
  kind: string
  max?: number
  size?: number
  pattern?: string
  oneOf?: string[]
  maxItems?: number
  maxLength?: number
  optional?: boolean
}

/** Actions as the format states them. */
export type StatedActions = Record<string, { roles: Role[]; body: Record<string, StatedField> }>

const fail = (path: string, reason: string): never => {
  throw new BodySchemaError('ontology.update', path, reason)
}

/**
 * Checks actions as an owner's ontology.update (or a file for `fleet ontology publish`) states
 * them: plain data, known roles, known field kinds with bounded sizes, patterns that compile;
 * returns them with each body as a codec schema. Throws BodySchemaError.
 */
export function parseOntologyActions(value: unknown): Record<string, ActionSpec> {
  let actions: StatedActions
  try {
    actions = checkField(value, UPDATE_ACTIONS, 'actions') as StatedActions
  } catch (err) {
    if (err instanceof SchemaError) throw new BodySchemaError('ontology.update', err.path, err.reason, err)
    throw err
  }
  const out: Record<string, ActionSpec> = {}
  for (const [name, spec] of Object.entries(actions)) {
    const body: Record<string, Field> = {}
    for (const [field, stated] of Object.entries(spec.body)) {
      const at = `actions.${name}.body.${field}`
      const max = stated.max ?? 0
      if (stated.size !== undefined && stated.size > max) fail(at, 'size must be 0..max')
      if (stated.pattern !== undefined && !compiles(stated.pattern)) fail(at, 'pattern is not a regular expression')
      const choices = stated.oneOf ?? []
      if (choices.some((choice) => choice.length > max)) fail(at, 'oneOf must be a short list of strings')
      body[field] = fieldOf(stated)
    }
    // Defined, not assigned: a JSON key "__proto__" is an action name like any other (refused when applied).
    const action: ActionSpec = { roles: [...spec.roles], body }
    Object.defineProperty(out, name, { value: action, enumerable: true, writable: true, configurable: true })
  }
  return out
}

function compiles(pattern: string): boolean {
  try {
    RegExp(pattern)
    return true
  } catch {
    return false
  }
}

/** The codec field a stated field means. */
function fieldOf(stated: StatedField): Field {
  if (stated.kind !== 'strings') return { ...stated } as Field
  const list: Field = { kind: 'list', maxItems: stated.maxItems!, item: { kind: 'string', max: stated.maxLength! } }
  return stated.optional === undefined ? list : { ...list, optional: stated.optional }
}

/** The properties each kind of the format has, besides `kind`. */
const STATED_KEYS: Readonly<Record<string, readonly string[]>> = {
  string: ['max', 'pattern', 'oneOf', 'optional'],
  bytes: ['max', 'size', 'optional'],
  uint: ['max', 'optional'],
  bool: ['optional']
}

/**
 * Actions as an ontology.update states them (the inverse of parseOntologyActions), for publishing
 * and showing them. Throws BodySchemaError for a field the format cannot state.
 */
export function formatOntologyActions(actions: Readonly<Record<string, ActionSpec>>): StatedActions {
  const out: StatedActions = {}
  for (const [name, spec] of Object.entries(actions)) {
    const body: Record<string, StatedField> = {}
    for (const [field, schema] of Object.entries(spec.body)) {
      body[field] = statedOf(schema, `actions.${name}.body.${field}`)
    }
    out[name] = { roles: [...spec.roles], body }
  }
  return out
}

const UNSTATABLE = 'cannot be stated in an ontology update'

function statedOf(field: Field, at: string): StatedField {
  const keys = Object.keys(field).filter((key) => key !== 'kind')
  if (field.kind === 'list') {
    const item = field.item
    const plainList = keys.every((key) => key === 'maxItems' || key === 'item' || key === 'optional')
    const plainItem =
      item.kind === 'string' &&
      item.max !== undefined &&
      Object.keys(item).every((key) => key === 'kind' || key === 'max')
    if (!plainList || !plainItem) return fail(at, UNSTATABLE)
    const stated: StatedField = { kind: 'strings', maxItems: field.maxItems, maxLength: item.max }
    if (field.optional !== undefined) stated.optional = field.optional
    return stated
  }
  const allowed = Object.hasOwn(STATED_KEYS, field.kind) ? STATED_KEYS[field.kind]! : undefined
  if (allowed === undefined || keys.some((key) => !allowed.includes(key))) return fail(at, UNSTATABLE)
  return { ...field } as StatedField
}

/**
 * The ontology after an owner's ontology.update entry (body {version, actions: canonical CBOR}),
 * as agents and offline verifiers apply it. Throws BodySchemaError (or a CBOR error) for an update
 * that does not apply; callers skip it.
 */
export function applyOntologyUpdateEntry(ontology: Ontology, entry: Entry): Ontology {
  const b = entry.body as { version: number; actions: Uint8Array }
  const actions = parseOntologyActions(decodeCanonical(b.actions, { maxBytes: ONTOLOGY_LIMITS.maxUpdateBytes }))
  return applyVerifiedOntologyUpdate(ontology, b.version, actions)
}

/**
 * The ontology in force after an entry of the owner's feed, read in feed order: an ontology.update
 * that applies is taken; one that does not (the owner's mistake) is skipped, as every agent skips
 * it; other entries change nothing.
 */
export function ontologyAfter(ontology: Ontology, entry: Entry): Ontology {
  if (entry.type !== 'ontology.update') return ontology
  try {
    return applyOntologyUpdateEntry(ontology, entry)
  } catch {
    return ontology
  }
}
