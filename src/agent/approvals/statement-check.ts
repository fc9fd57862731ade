/**
 * The signer's side of a prepared action: before an actor's key signs a statement the agent
 * prepared, the signer checks that it names exactly the action asked for. The agent is not
 * trusted with a blind signature: a lying agent would otherwise get the actor's signature on
 * another action, device or fleet.
 *
 * The check rebuilds the statement from what was asked (the fleet and device of the state
 * directory, the type, the actor, the body as given in JSON) at the statement's own time, and
 * compares the bytes. The body is the one place the agent may convert: a hex string of the JSON
 * becomes bytes where the action's schema wants bytes (bodyFromJson), and the signer, who does
 * not hold the ontology, accepts exactly that and nothing else.
 */
import { bytesEqual, toHex } from '../../common/index.js'
import { decodeCanonical, encodeCanonical, isMap } from '../../codec/index.js'
import { DOMAIN, domainSeparated } from '../../identity/index.js'
import { LEDGER_LIMITS, actorStatement } from '../../ledger/index.js'
import { MalformedStatementError, StatementMismatchError, StatementTimeError } from './errors.js'
import { APPROVALS_LIMITS } from './limits.js'

/** The action asked for, as the signer knows it. */
export interface ExpectedAction {
  fleet: Uint8Array
  device: string
  type: string
  actor: { id: string; role: string }
  /** The body as the signer gave it (JSON: byte fields as hex). */
  body: unknown
}

const PREFIX = domainSeparated(DOMAIN.actorAction, new Uint8Array(0))
const SHOWN_CHARS = 160

/**
 * Returns the statement's time when `statement` is the statement of `expected`, dated within
 * APPROVALS_LIMITS.maxPreparedSkewMs of `now`. Refuses otherwise: MalformedStatementError (not an
 * action statement), StatementMismatchError (another action, naming the first field that differs),
 * StatementTimeError.
 */
export function checkPreparedStatement(statement: Uint8Array, expected: ExpectedAction, now: number): { at: number } {
  if (statement.length > PREFIX.length + LEDGER_LIMITS.maxEntryBytes)
    throw new MalformedStatementError(`${statement.length} bytes, more than an entry can hold`)
  if (!bytesEqual(statement.subarray(0, PREFIX.length), PREFIX))
    throw new MalformedStatementError('it is not in the actor-action domain')
  const received = decodeStatement(statement)
  const at = received.at
  if (!Number.isSafeInteger(at) || (at as number) < 0) throw new MalformedStatementError('its time is not a time')
  const rebuilt = actorStatement(
    {
      fleet: expected.fleet,
      device: expected.device,
      type: expected.type,
      actor: { id: expected.actor.id, role: expected.actor.role },
      attest: null,
      body: bodyAsPrepared(expected.body, received.body)
    },
    at as number
  )
  if (!bytesEqual(rebuilt, statement)) {
    const difference = firstDifference(decodeStatement(rebuilt), received, '')
    throw new StatementMismatchError(difference.field, difference.expected, difference.received)
  }
  if (Math.abs((at as number) - now) > APPROVALS_LIMITS.maxPreparedSkewMs)
    throw new StatementTimeError(at as number, now, APPROVALS_LIMITS.maxPreparedSkewMs)
  return { at: at as number }
}

function decodeStatement(statement: Uint8Array): Record<string, unknown> {
  let decoded: unknown
  try {
    decoded = decodeCanonical(statement.subarray(PREFIX.length), { maxBytes: LEDGER_LIMITS.maxEntryBytes })
  } catch (err) {
    throw new MalformedStatementError((err as Error).message, err)
  }
  if (!isMap(decoded)) throw new MalformedStatementError('it is not a map')
  return decoded
}

/**
 * The JSON body (a map, or refused) with each hex string that the prepared body holds as exactly those bytes
 * turned into them: the one conversion bodyFromJson makes. Anything else stays as given.
 */
function bodyAsPrepared(asked: unknown, prepared: unknown): Record<string, unknown> {
  if (!isMap(asked)) throw new StatementMismatchError('body', 'a JSON object', shown(asked))
  const body: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(asked)) {
    const held = isMap(prepared) && Object.hasOwn(prepared, key) ? prepared[key] : undefined
    const converted =
      held instanceof Uint8Array && typeof value === 'string' && value.toLowerCase() === toHex(held) ? held : value
    Object.defineProperty(body, key, { value: converted, enumerable: true, writable: true, configurable: true })
  }
  return body
}

/** The first field (in canonical key order; one level into the body) whose value differs. */
function firstDifference(
  expected: Record<string, unknown>,
  received: Record<string, unknown>,
  prefix: string
): { field: string; expected: string; received: string } {
  const keys = [...new Set([...Object.keys(expected), ...Object.keys(received)])].sort()
  for (const key of keys) {
    const want = Object.hasOwn(expected, key) ? expected[key] : undefined
    const got = Object.hasOwn(received, key) ? received[key] : undefined
    if (sameValue(want, got)) continue
    if (prefix === '' && key === 'body' && isMap(want) && isMap(got)) return firstDifference(want, got, 'body.')
    return { field: `${prefix}${key}`, expected: shown(want), received: shown(got) }
  }
  return { field: prefix === '' ? 'statement' : prefix.slice(0, -1), expected: 'its bytes', received: 'other bytes' }
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === undefined || b === undefined) return a === b
  return bytesEqual(encodeCanonical(a), encodeCanonical(b))
}

function shown(value: unknown): string {
  if (value === undefined) return '(absent)'
  const text = JSON.stringify(value, (_key, inner: unknown) =>
    inner instanceof Uint8Array ? `0x${toHex(inner)}` : inner
  )
  return text.length > SHOWN_CHARS ? `${text.slice(0, SHOWN_CHARS)}…` : text
}
