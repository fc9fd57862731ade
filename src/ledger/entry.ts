import { hash } from 'node:crypto'
import { MalformedEntryError } from './errors.js'
import { decodeCanonical, decodeCanonicalFixedMap } from '../codec/index.js'
import { encodeEntryBytes } from './entry-encoder.js'
import { ACTOR_PROOF_LIMITS, LEDGER_LIMITS } from './limits.js'

/**
 * A ledger entry as a deterministic CBOR map with exactly these keys. Frozen formats: do NOT
 * reorder, rename or retype fields; a new field means a new version.
 *   version 1: every key below but `proof`;
 *   version 2: the same and `proof`, the acting person's own hardware signature of the action
 *     (actor-proof.ts). A version-1 entry has no `proof` key at all.
 */
export interface Entry {
  /** Format version: 1, or 2 with a `proof`. */
  v: 1 | 2
  /** fleetId: SHA-256 of the owner's genesis statement. */
  fleet: Uint8Array
  /** The feed (the deviceId of the device whose feed this is). */
  feed: string
  /** 0-based position in the feed. */
  seq: number
  /** SHA-256 of the previous entry's bytes; 32 zero bytes at seq 0. */
  prev: Uint8Array
  /** Milliseconds since the Unix epoch, from the appending agent's clock. */
  time: number
  /** Action name from the ontology, e.g. "device.enrol". */
  type: string
  /** Who acted, and in which role. */
  actor: { id: string; role: string }
  /** The attested device the action happened on. */
  device: string
  /** Hash of the attestation verdict the action is bound to, or null. */
  attest: Uint8Array | null
  /** Action-specific content, checked against the ontology. */
  body: Record<string, unknown>
  /** Version 2 only: the encoded ActorProof (actor-proof.ts), at most ACTOR_PROOF_LIMITS.maxProofBytes. */
  proof?: Uint8Array
}

declare const unverified: unique symbol
/** A decoded entry with its exact bytes; nothing about it has been checked beyond its shape. */
export interface UnverifiedEntry {
  readonly [unverified]: true
  readonly entry: Entry
  readonly bytes: Uint8Array
  /** SHA-256 of the entry bytes: what the next entry's `prev` names. */
  readonly hash: Uint8Array
}

const KEYS = ['v', 'fleet', 'feed', 'seq', 'prev', 'time', 'type', 'actor', 'device', 'attest', 'body']
const KEYS_V2 = [...KEYS, 'proof']
const DEVICE_ID = /^[a-z2-7]{52}$/
const ACTION = /^[a-z]+(\.[a-z_]+)+$/

/** The last string found to be a deviceId: entries of a feed name the same one again and again. */
let lastDeviceId = ''

function isDeviceId(value: string): boolean {
  if (value === lastDeviceId) return true
  if (!DEVICE_ID.test(value)) return false
  lastDeviceId = value
  return true
}

function isBytes(value: unknown, size?: number): value is Uint8Array {
  return value instanceof Uint8Array && (size === undefined || value.length === size)
}

function isUint(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

function checkActor(value: unknown): void {
  const actor = value as Record<string, unknown>
  if (
    typeof actor !== 'object' ||
    actor === null ||
    Array.isArray(actor) ||
    actor instanceof Uint8Array ||
    Object.keys(actor).length !== 2 ||
    typeof actor.id !== 'string' ||
    actor.id.length === 0 ||
    actor.id.length > 128 ||
    typeof actor.role !== 'string' ||
    actor.role.length > 32
  ) {
    throw new MalformedEntryError('actor must be {id, role}')
  }
}

function checkAttestAndBody(attest: unknown, body: unknown): void {
  if (attest !== null && !isBytes(attest, 32)) throw new MalformedEntryError('attest must be 32 bytes or null')
  if (typeof body !== 'object' || body === null || Array.isArray(body) || body instanceof Uint8Array)
    throw new MalformedEntryError('body must be a map')
}

/**
 * The checks of checkEntryShape on the fields an appended action supplies (type, actor, attest,
 * body), for an entry whose other fields are already known to be valid.
 */
export function checkActionShape(action: {
  v: unknown
  type: unknown
  actor: unknown
  attest: unknown
  body: unknown
  proof?: unknown
}): void {
  if (typeof action.type !== 'string' || action.type.length > 64 || !ACTION.test(action.type))
    throw new MalformedEntryError('type must be an action name')
  checkActor(action.actor)
  checkAttestAndBody(action.attest, action.body)
  if (action.v === 2) checkProof(action.proof)
}

function checkProof(proof: unknown): void {
  if (!(isBytes(proof) && proof.length > 0 && proof.length <= ACTOR_PROOF_LIMITS.maxProofBytes))
    throw new MalformedEntryError(`proof must be 1 to ${ACTOR_PROOF_LIMITS.maxProofBytes} bytes`)
}

/** Checks the shape every entry must have (the ontology checks the body). */
export function checkEntryShape(value: unknown): Entry {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array)
    throw new MalformedEntryError('not a map')
  const record = value as Record<string, unknown>
  if (record.v !== 1 && record.v !== 2) throw new MalformedEntryError(`unsupported version ${String(record.v)}`)
  const expected = record.v === 1 ? KEYS : KEYS_V2
  for (const key of Object.keys(record))
    if (!expected.includes(key)) throw new MalformedEntryError(`unknown field "${key}" in a version ${record.v} entry`)
  for (const key of expected) if (!(key in record)) throw new MalformedEntryError(`missing field "${key}"`)
  if (!isBytes(record.fleet, 32)) throw new MalformedEntryError('fleet must be 32 bytes')
  if (typeof record.feed !== 'string' || !isDeviceId(record.feed))
    throw new MalformedEntryError('feed must be a deviceId')
  if (!isUint(record.seq)) throw new MalformedEntryError('seq must be a non-negative integer')
  if (!isBytes(record.prev, 32)) throw new MalformedEntryError('prev must be 32 bytes')
  if (!isUint(record.time)) throw new MalformedEntryError('time must be a non-negative integer')
  if (typeof record.type !== 'string' || record.type.length > 64 || !ACTION.test(record.type))
    throw new MalformedEntryError('type must be an action name')
  checkActor(record.actor)
  if (typeof record.device !== 'string' || !isDeviceId(record.device))
    throw new MalformedEntryError('device must be a deviceId')
  checkAttestAndBody(record.attest, record.body)
  if (record.v === 2) checkProof(record.proof)
  return record as unknown as Entry
}

export function encodeEntry(entry: Entry): Uint8Array {
  checkEntryShape(entry)
  const bytes = encodeEntryBytes(entry)
  if (bytes.length > LEDGER_LIMITS.maxEntryBytes)
    throw new MalformedEntryError(`encodes to ${bytes.length} bytes, over ${LEDGER_LIMITS.maxEntryBytes}`)
  return bytes
}

/** The entry's keys in canonical order (length first, then bytewise), encoded. */
const CANONICAL_KEYS = ['v', 'seq', 'body', 'feed', 'prev', 'time', 'type', 'actor', 'fleet', 'attest', 'device']
const encodedKeys = (keys: string[]): Uint8Array[] =>
  keys.map((key) => Uint8Array.from([0x60 | key.length, ...Buffer.from(key, 'ascii')]))
const ENCODED_KEYS = encodedKeys(CANONICAL_KEYS)
const PREV_VALUE = CANONICAL_KEYS.indexOf('prev')
/** Version 2's keys: `proof` sorts after `fleet` (and before `attest`); `prev` keeps its place. */
const ENCODED_KEYS_V2 = encodedKeys(CANONICAL_KEYS.toSpliced(CANONICAL_KEYS.indexOf('fleet') + 1, 0, 'proof'))

/**
 * The entry in `bytes` and where its `prev` value starts: read as a map of exactly the entry's
 * keys when it is one (the object is then built with one fixed shape), else by the generic
 * decoder, which refuses it or finds the same. Either way checkEntryShape has passed.
 */
function decodeEntryValue(bytes: Uint8Array): { entry: Entry; prevValueAt: number } {
  const fixed = decodeCanonicalFixedMap(bytes, ENCODED_KEYS, LEDGER_LIMITS.maxEntryBytes)
  if (fixed !== undefined) {
    const [v, seq, body, feed, prev, time, type, actor, fleet, attest, device] = fixed.values
    const entry = checkEntryShape({ v, fleet, feed, seq, prev, time, type, actor, device, attest, body })
    return { entry, prevValueAt: fixed.offsets[PREV_VALUE]! }
  }
  const fixedV2 = decodeCanonicalFixedMap(bytes, ENCODED_KEYS_V2, LEDGER_LIMITS.maxEntryBytes)
  if (fixedV2 !== undefined) {
    const [v, seq, body, feed, prev, time, type, actor, fleet, proof, attest, device] = fixedV2.values
    const entry = checkEntryShape({ v, fleet, feed, seq, prev, time, type, actor, device, attest, body, proof })
    return { entry, prevValueAt: fixedV2.offsets[PREV_VALUE]! }
  }
  let entry: Entry | undefined
  let prevValueAt = -1
  decodeCanonical(bytes, {
    maxBytes: LEDGER_LIMITS.maxEntryBytes,
    check: (value) => {
      entry = checkEntryShape(value)
    },
    onTopLevelValue: (key, offset) => {
      if (key === 'prev') prevValueAt = offset
    }
  })
  return { entry: entry!, prevValueAt }
}

/** Strict decoding (canonical CBOR, exact fields). The result is unverified. */
export function decodeEntry(bytes: Uint8Array): UnverifiedEntry {
  const { entry } = decodeEntryValue(bytes)
  return { entry, bytes, hash: entryHash(bytes) } as unknown as UnverifiedEntry
}

/**
 * decodeEntry without the hash (for callers that hash a whole batch at once), with where the
 * 32 bytes of `prev` are in `bytes`.
 */
export function decodeEntryUnhashed(bytes: Uint8Array): { entry: Entry; prevAt: number } {
  const { entry, prevValueAt } = decodeEntryValue(bytes)
  // checkEntryShape made sure prev is a 32-byte string: its head is the two bytes 0x58 0x20.
  return { entry, prevAt: prevValueAt + 2 }
}

export function entryHash(bytes: Uint8Array): Uint8Array {
  const digest = hash('sha256', bytes, 'buffer')
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.length)
}
