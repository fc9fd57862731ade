import { ActorRoleError, BodySchemaError, FeedRoleError, UnknownActionError } from './errors.js'
import { ownerFeedId } from './owner-feed.js'
import type { Entry } from './entry.js'
import { ONTOLOGY_LIMITS } from './limits.js'
import { decodeCanonical } from '../codec/index.js'

export const ROLES = ['owner', 'agent', 'operator', 'auditor'] as const
export type Role = typeof ROLES[number]

/** A body field: its kind and bounds. Unknown fields in a body are always refused. */
export type FieldSpec =
  | { kind: 'string', max: number, pattern?: string, oneOf?: readonly string[], optional?: boolean }
  | { kind: 'bytes', size?: number, max: number, optional?: boolean }
  | { kind: 'uint', max?: number, optional?: boolean }
  | { kind: 'bool', optional?: boolean }
  | { kind: 'strings', maxItems: number, maxLength: number, optional?: boolean }

export interface ActionSpec {
  readonly roles: readonly Role[]
  readonly body: Readonly<Record<string, FieldSpec>>
}

/** A versioned table of actions. Updates only add actions (existing ones never change meaning). */
export interface Ontology {
  readonly version: number
  readonly actions: Readonly<Record<string, ActionSpec>>
}

const DEVICE_ID: FieldSpec = { kind: 'string', max: 52, pattern: '^[a-z2-7]{52}$' }
const HASH: FieldSpec = { kind: 'bytes', size: 32, max: 32 }
const HEX_ID: FieldSpec = { kind: 'string', max: 64, pattern: '^[0-9a-f]{64}$' }

/**
 * The built-in actions. Version 2 (do NOT change a version once released: a new one adds to it):
 *   version 1: the actions the fleet agent itself records, and the operator actions it audits;
 *   version 2: device.clear_quarantine names the equivocation evidence it clears (`evidence`; a
 *     version-1 statement naming only an `epoch` still verifies but clears nothing), the owner's
 *     device.new_epoch authorises a second history of a device's feed from a fork point, and an
 *     agent's alert.revocation carries an owner revocation (with its proof) between branches of
 *     a forked owner's feed, and device.approve_release may name the approval epoch it is valid up
 *     to (`epoch`).
 * Owner updates (ontology.update) number on from here: the first one is version 3.
 */
export const BASE_ONTOLOGY: Ontology = {
  version: 2,
  actions: {
    'device.enrol': {
      roles: ['owner'],
      body: {
        deviceId: DEVICE_ID, ekPubHash: HASH, akPub: { kind: 'bytes', max: 1024 }, dskPub: { kind: 'bytes', max: 1024 },
        pqPub: { kind: 'bytes', size: 1952, max: 1952 }, peerId: { kind: 'string', max: 128 },
        role: { kind: 'string', max: 16, oneOf: ['workstation', 'server', 'hub'] }, policyId: HEX_ID
      }
    },
    // keep: how many of the device's entries stay in the fleet's record (the revocation's cut);
    // later ones are refused. Without it, each agent keeps what it held when it learnt.
    'device.revoke': { roles: ['owner'], body: { deviceId: DEVICE_ID, reason: { kind: 'string', max: 256 }, keep: { kind: 'uint', optional: true } } },
    // evidence: the evidenceId (equivocation.ts) of the equivocation cleared; only that evidence is
    // cleared, a new fork quarantines again. epoch: version 1's form, which clears nothing now.
    'device.clear_quarantine': { roles: ['owner'], body: { deviceId: DEVICE_ID, epoch: { kind: 'uint', optional: true }, evidence: { kind: 'bytes', size: 32, max: 32, optional: true }, reason: { kind: 'string', max: 256 } } },
    // A second history of the device's feed in `epoch` (2 or more), sharing the old history's first
    // forkSize entries, whose tree root is forkRoot (e.g. after re-provisioning from a backup).
    'device.new_epoch': {
      roles: ['owner'],
      body: { deviceId: DEVICE_ID, epoch: { kind: 'uint', max: 0xffffffff }, forkSize: { kind: 'uint' }, forkRoot: HASH, reason: { kind: 'string', max: 256 } }
    },
    'device.approve_release': {
      roles: ['owner'],
      // epoch: the approval-epoch it is valid up to (8 bytes, big-endian), absent before approvals had one.
      body: { deviceId: DEVICE_ID, approvedPolicy: HASH, agentMeasurement: HASH, pcrs: { kind: 'bytes', max: 24 }, policyId: HEX_ID, epoch: { kind: 'bytes', size: 8, max: 8, optional: true } }
    },
    'policy.set': { roles: ['owner'], body: { policyId: HEX_ID, policy: { kind: 'bytes', max: 32 * 1024 } } },
    'attest.verdict': {
      roles: ['agent'],
      body: { subject: DEVICE_ID, trusted: { kind: 'bool' }, policyId: HEX_ID, quoteHash: HASH, reasons: { kind: 'strings', maxItems: 32, maxLength: 512 } }
    },
    'alert.clone_suspected': { roles: ['agent'], body: { peerId: { kind: 'string', max: 128 }, claimedDeviceId: DEVICE_ID, presentedAkHash: HASH } },
    'alert.equivocation': { roles: ['agent'], body: { feed: DEVICE_ID, epoch: { kind: 'uint' }, evidence: { kind: 'bytes', max: 32 * 1024 } } },
    // An owner's device.revoke seen on one branch of the owner's forked feed, for agents holding
    // another: the UTF-8 JSON of its proof bundle (proof.ts) under an owner-signed checkpoint.
    'alert.revocation': { roles: ['agent'], body: { deviceId: DEVICE_ID, proof: { kind: 'bytes', max: 24 * 1024 } } },
    'alert.tamper': { roles: ['agent'], body: { subject: DEVICE_ID, pcr: { kind: 'uint', max: 23 }, detail: { kind: 'string', max: 512 } } },
    'key.rotate': { roles: ['agent', 'owner'], body: { key: { kind: 'string', max: 8, oneOf: ['ak', 'dsk', 'mldsa', 'peer'] }, newPublic: { kind: 'bytes', max: 2048 } } },
    'operator.data_access': {
      roles: ['operator'],
      body: { resource: { kind: 'string', max: 256 }, purpose: { kind: 'string', max: 256 }, records: { kind: 'uint', optional: true } }
    },
    'operator.model_inference': { roles: ['operator'], body: { model: { kind: 'string', max: 128 }, inputHash: HASH, outputHash: HASH } },
    'ontology.update': { roles: ['owner'], body: { version: { kind: 'uint' }, actions: { kind: 'bytes', max: ONTOLOGY_LIMITS.maxUpdateBytes } } }
  }
}

const patterns = new Map<string, RegExp>()
/** Compiled once per pattern: the check runs for every entry appended or received. */
function patternOf (source: string): RegExp {
  let pattern = patterns.get(source)
  if (pattern === undefined) {
    pattern = new RegExp(source)
    if (patterns.size < 1024) patterns.set(source, pattern)
  }
  return pattern
}

function checkField (type: string, path: string, spec: FieldSpec, value: unknown): void {
  switch (spec.kind) {
    case 'string':
      if (typeof value !== 'string') throw new BodySchemaError(type, path, 'must be a string')
      if (value.length > spec.max) throw new BodySchemaError(type, path, `longer than ${spec.max}`)
      if (spec.pattern !== undefined && !patternOf(spec.pattern).test(value)) throw new BodySchemaError(type, path, 'has the wrong form')
      if (spec.oneOf !== undefined && !spec.oneOf.includes(value)) throw new BodySchemaError(type, path, `must be one of ${spec.oneOf.join(', ')}`)
      return
    case 'bytes':
      if (!(value instanceof Uint8Array)) throw new BodySchemaError(type, path, 'must be bytes')
      if (spec.size !== undefined && value.length !== spec.size) throw new BodySchemaError(type, path, `must be ${spec.size} bytes`)
      if (value.length > spec.max) throw new BodySchemaError(type, path, `longer than ${spec.max} bytes`)
      return
    case 'uint':
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new BodySchemaError(type, path, 'must be a non-negative integer')
      if (spec.max !== undefined && value > spec.max) throw new BodySchemaError(type, path, `above ${spec.max}`)
      return
    case 'bool':
      if (typeof value !== 'boolean') throw new BodySchemaError(type, path, 'must be true or false')
      return
    case 'strings':
      if (!Array.isArray(value)) throw new BodySchemaError(type, path, 'must be a list of strings')
      if (value.length > spec.maxItems) throw new BodySchemaError(type, path, `more than ${spec.maxItems} items`)
      for (const item of value as unknown[]) if (typeof item !== 'string' || item.length > spec.maxLength) throw new BodySchemaError(type, path, `items must be strings of at most ${spec.maxLength}`)
  }
}

/** An action's body schema as lists, with each field's error path made once. */
interface BodyFields { readonly names: readonly string[], readonly paths: readonly string[], readonly specs: readonly FieldSpec[] }

/**
 * Per body schema object. Ontologies are never changed in place (an update makes a new one and
 * existing actions never change meaning), so a schema's field list can be kept.
 */
const bodyFields = new WeakMap<object, BodyFields>()

function fieldsOf (body: Readonly<Record<string, FieldSpec>>): BodyFields {
  let fields = bodyFields.get(body)
  if (fields === undefined) {
    const entries = Object.entries(body)
    fields = { names: entries.map(([name]) => name), paths: entries.map(([name]) => `body.${name}`), specs: entries.map(([, spec]) => spec) }
    bodyFields.set(body, fields)
  }
  return fields
}

/**
 * The ontology rule, checked on append, on accept from a peer and by offline verification: the
 * action exists in this ontology version, the actor's role may perform it, an owner-role entry
 * is in the owner's feed of the entry's fleet (FeedRoleError otherwise: a device cannot speak for
 * the owner), and the body matches its schema exactly.
 */
export function checkEntryAgainstOntology (entry: Entry, ontology: Ontology): void {
  const spec = Object.hasOwn(ontology.actions, entry.type) ? ontology.actions[entry.type] : undefined
  if (spec === undefined) throw new UnknownActionError(entry.type, ontology.version)
  if (!(spec.roles as readonly string[]).includes(entry.actor.role)) throw new ActorRoleError(entry.type, entry.actor.role, spec.roles)
  if (entry.actor.role === 'owner') {
    const ownerFeed = ownerFeedId(entry.fleet)
    if (entry.feed !== ownerFeed) throw new FeedRoleError(entry.type, entry.actor.role, entry.feed, ownerFeed)
  }
  const body = entry.body
  for (const key of Object.keys(body)) {
    if (!Object.hasOwn(spec.body, key)) throw new BodySchemaError(entry.type, `body.${key}`, 'is not a field of this action')
  }
  const { names, paths, specs } = fieldsOf(spec.body)
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!
    const field = specs[i]!
    if (!Object.hasOwn(body, name)) {
      if (field.optional === true) continue
      throw new BodySchemaError(entry.type, paths[i]!, 'is missing')
    }
    checkField(entry.type, paths[i]!, field, body[name])
  }
}

/**
 * Applies a verified owner ontology update: the next version, adding actions. An update that
 * skips a version or redefines an existing action is refused.
 */
export function applyVerifiedOntologyUpdate (ontology: Ontology, version: number, added: Record<string, ActionSpec>): Ontology {
  if (version !== ontology.version + 1) throw new BodySchemaError('ontology.update', 'body.version', `must be ${ontology.version + 1}`)
  for (const [name, spec] of Object.entries(added)) {
    if (Object.hasOwn(ontology.actions, name)) throw new BodySchemaError('ontology.update', `actions.${name}`, 'already exists; actions never change meaning')
    if (!/^[a-z]+(\.[a-z_]+)+$/.test(name)) throw new BodySchemaError('ontology.update', `actions.${name}`, 'is not an action name')
    if (spec.roles.length === 0 || spec.roles.some((role) => !(ROLES as readonly string[]).includes(role))) throw new BodySchemaError('ontology.update', `actions.${name}.roles`, 'unknown role')
  }
  return { version, actions: { ...ontology.actions, ...added } }
}

/**
 * The ontology after an owner's ontology.update entry (body {version, actions: canonical CBOR}),
 * as agents and offline verifiers apply it. Throws BodySchemaError (or a CBOR error) for an update
 * that does not apply; callers skip it.
 */
export function applyOntologyUpdateEntry (ontology: Ontology, entry: Entry): Ontology {
  const b = entry.body as { version: number, actions: Uint8Array }
  return applyVerifiedOntologyUpdate(ontology, b.version, parseOntologyActions(decodeCanonical(b.actions, { maxBytes: ONTOLOGY_LIMITS.maxUpdateBytes })))
}

const FIELD_KEYS: Record<FieldSpec['kind'], readonly string[]> = {
  string: ['kind', 'max', 'pattern', 'oneOf', 'optional'],
  bytes: ['kind', 'size', 'max', 'optional'],
  uint: ['kind', 'max', 'optional'],
  bool: ['kind', 'optional'],
  strings: ['kind', 'maxItems', 'maxLength', 'optional']
}

/**
 * Checks actions as an owner's ontology.update (or a file for `fleet ontology publish`) states
 * them: plain data, known roles, known field kinds with bounded sizes. Throws BodySchemaError.
 */
export function parseOntologyActions (value: unknown): Record<string, ActionSpec> {
  const fail = (path: string, reason: string): never => { throw new BodySchemaError('ontology.update', path, reason) }
  const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)
  const uint = (v: unknown, max: number): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= max
  if (!isMap(value)) return fail('actions', 'must be a map of action names to specs')
  const names = Object.keys(value)
  if (names.length === 0 || names.length > ONTOLOGY_LIMITS.maxActions) fail('actions', `must name 1 to ${ONTOLOGY_LIMITS.maxActions} actions`)
  const out: Record<string, ActionSpec> = {}
  for (const name of names) {
    const spec = value[name]
    if (!isMap(spec) || Object.keys(spec).sort().join(',') !== 'body,roles') fail(`actions.${name}`, 'must have exactly roles and body')
    const { roles, body } = spec as { roles: unknown, body: unknown }
    if (!Array.isArray(roles) || roles.length === 0 || roles.length > ROLES.length || roles.some((r) => !(ROLES as readonly unknown[]).includes(r))) fail(`actions.${name}.roles`, `must be a list of ${ROLES.join(', ')}`)
    if (!isMap(body) || Object.keys(body).length > ONTOLOGY_LIMITS.maxFields) fail(`actions.${name}.body`, `must be a map of at most ${ONTOLOGY_LIMITS.maxFields} fields`)
    const fields: Record<string, FieldSpec> = {}
    for (const [field, raw] of Object.entries(body as Record<string, unknown>)) {
      const at = `actions.${name}.body.${field}`
      if (!/^[a-zA-Z][a-zA-Z0-9_]{0,63}$/.test(field)) fail(at, 'is not a field name')
      if (!isMap(raw) || typeof raw.kind !== 'string' || !Object.hasOwn(FIELD_KEYS, raw.kind)) fail(at, 'needs a kind: string, bytes, uint, bool or strings')
      const f = raw as Record<string, unknown> & { kind: FieldSpec['kind'] }
      for (const key of Object.keys(f)) if (!FIELD_KEYS[f.kind].includes(key)) fail(at, `${key} is not a property of a ${f.kind} field`)
      if (f.optional !== undefined && typeof f.optional !== 'boolean') fail(at, 'optional must be true or false')
      if ((f.kind === 'string' || f.kind === 'bytes') && !uint(f.max, ONTOLOGY_LIMITS.maxFieldBytes)) fail(at, `max must be 0..${ONTOLOGY_LIMITS.maxFieldBytes}`)
      if (f.kind === 'bytes' && f.size !== undefined && !uint(f.size, f.max as number)) fail(at, 'size must be 0..max')
      if (f.kind === 'uint' && f.max !== undefined && !uint(f.max, Number.MAX_SAFE_INTEGER)) fail(at, 'max must be a non-negative integer')
      if (f.kind === 'string' && f.pattern !== undefined) {
        if (typeof f.pattern !== 'string' || f.pattern.length > ONTOLOGY_LIMITS.maxPattern) fail(at, `pattern must be a string of at most ${ONTOLOGY_LIMITS.maxPattern}`)
        try {
          RegExp(f.pattern as string)
        } catch {
          fail(at, 'pattern is not a regular expression')
        }
      }
      if (f.kind === 'string' && f.oneOf !== undefined && (!Array.isArray(f.oneOf) || f.oneOf.length > ONTOLOGY_LIMITS.maxChoices || f.oneOf.some((c) => typeof c !== 'string' || c.length > (f.max as number)))) fail(at, 'oneOf must be a short list of strings')
      if (f.kind === 'strings' && (!uint(f.maxItems, 1024) || !uint(f.maxLength, ONTOLOGY_LIMITS.maxFieldBytes))) fail(at, 'maxItems (0..1024) and maxLength are required')
      fields[field] = { ...f } as FieldSpec
    }
    out[name] = { roles: [...roles as Role[]], body: fields }
  }
  return out
}

export { ONTOLOGY_LIMITS }
