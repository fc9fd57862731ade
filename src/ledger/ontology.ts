import { ActorRoleError, BodySchemaError, UnknownActionError } from './errors.js'
import type { Entry } from './entry.js'

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

/** Version 1: the actions the fleet agent itself records, and the operator actions it audits. */
export const BASE_ONTOLOGY: Ontology = {
  version: 1,
  actions: {
    'device.enrol': {
      roles: ['owner'],
      body: {
        deviceId: DEVICE_ID, ekPubHash: HASH, akPub: { kind: 'bytes', max: 1024 }, dskPub: { kind: 'bytes', max: 1024 },
        pqPub: { kind: 'bytes', size: 1952, max: 1952 }, peerId: { kind: 'string', max: 128 },
        role: { kind: 'string', max: 16, oneOf: ['workstation', 'server', 'hub'] }, policyId: HEX_ID
      }
    },
    'device.revoke': { roles: ['owner'], body: { deviceId: DEVICE_ID, reason: { kind: 'string', max: 256 } } },
    'device.clear_quarantine': { roles: ['owner'], body: { deviceId: DEVICE_ID, epoch: { kind: 'uint' }, reason: { kind: 'string', max: 256 } } },
    'policy.set': { roles: ['owner'], body: { policyId: HEX_ID, policy: { kind: 'bytes', max: 32 * 1024 } } },
    'attest.verdict': {
      roles: ['agent'],
      body: { subject: DEVICE_ID, trusted: { kind: 'bool' }, policyId: HEX_ID, quoteHash: HASH, reasons: { kind: 'strings', maxItems: 32, maxLength: 512 } }
    },
    'alert.clone_suspected': { roles: ['agent'], body: { peerId: { kind: 'string', max: 128 }, claimedDeviceId: DEVICE_ID, presentedAkHash: HASH } },
    'alert.equivocation': { roles: ['agent'], body: { feed: DEVICE_ID, epoch: { kind: 'uint' }, evidence: { kind: 'bytes', max: 32 * 1024 } } },
    'alert.tamper': { roles: ['agent'], body: { subject: DEVICE_ID, pcr: { kind: 'uint', max: 23 }, detail: { kind: 'string', max: 512 } } },
    'key.rotate': { roles: ['agent', 'owner'], body: { key: { kind: 'string', max: 8, oneOf: ['ak', 'dsk', 'mldsa', 'peer'] }, newPublic: { kind: 'bytes', max: 2048 } } },
    'operator.data_access': {
      roles: ['operator'],
      body: { resource: { kind: 'string', max: 256 }, purpose: { kind: 'string', max: 256 }, records: { kind: 'uint', optional: true } }
    },
    'operator.model_inference': { roles: ['operator'], body: { model: { kind: 'string', max: 128 }, inputHash: HASH, outputHash: HASH } },
    'ontology.update': { roles: ['owner'], body: { version: { kind: 'uint' }, actions: { kind: 'bytes', max: 32 * 1024 } } }
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
  const fail = (reason: string): never => { throw new BodySchemaError(type, path, reason) }
  switch (spec.kind) {
    case 'string':
      if (typeof value !== 'string') fail('must be a string')
      if ((value as string).length > spec.max) fail(`longer than ${spec.max}`)
      if (spec.pattern !== undefined && !patternOf(spec.pattern).test(value as string)) fail('has the wrong form')
      if (spec.oneOf !== undefined && !spec.oneOf.includes(value as string)) fail(`must be one of ${spec.oneOf.join(', ')}`)
      return
    case 'bytes':
      if (!(value instanceof Uint8Array)) fail('must be bytes')
      if (spec.size !== undefined && (value as Uint8Array).length !== spec.size) fail(`must be ${spec.size} bytes`)
      if ((value as Uint8Array).length > spec.max) fail(`longer than ${spec.max} bytes`)
      return
    case 'uint':
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) fail('must be a non-negative integer')
      if (spec.max !== undefined && (value as number) > spec.max) fail(`above ${spec.max}`)
      return
    case 'bool':
      if (typeof value !== 'boolean') fail('must be true or false')
      return
    case 'strings':
      if (!Array.isArray(value)) fail('must be a list of strings')
      if ((value as unknown[]).length > spec.maxItems) fail(`more than ${spec.maxItems} items`)
      for (const item of value as unknown[]) if (typeof item !== 'string' || item.length > spec.maxLength) fail(`items must be strings of at most ${spec.maxLength}`)
  }
}

/**
 * The ontology rule, checked on append and on accept from a peer: the action exists in this
 * ontology version, the actor's role may perform it, and the body matches its schema exactly.
 */
export function checkEntryAgainstOntology (entry: Entry, ontology: Ontology): void {
  const spec = Object.hasOwn(ontology.actions, entry.type) ? ontology.actions[entry.type] : undefined
  if (spec === undefined) throw new UnknownActionError(entry.type, ontology.version)
  if (!(spec.roles as readonly string[]).includes(entry.actor.role)) throw new ActorRoleError(entry.type, entry.actor.role, spec.roles)
  for (const key of Object.keys(entry.body)) {
    if (!Object.hasOwn(spec.body, key)) throw new BodySchemaError(entry.type, `body.${key}`, 'is not a field of this action')
  }
  for (const [key, field] of Object.entries(spec.body)) {
    if (!Object.hasOwn(entry.body, key)) {
      if (field.optional === true) continue
      throw new BodySchemaError(entry.type, `body.${key}`, 'is missing')
    }
    checkField(entry.type, `body.${key}`, field, entry.body[key])
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
