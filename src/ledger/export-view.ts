import { toHex } from '../common/index.js'
import type { Entry } from './entry.js'
import { ExportViewMismatchError } from './errors.js'
import { EXPORT_LIMITS } from './limits.js'

/** A JSON value, as a derived view holds it. */
export type ViewValue = string | number | boolean | null | ViewValue[] | { [key: string]: ViewValue }

/**
 * An entry's derived view: what its canonical bytes decode to, as plain JSON, on every entry line
 * of a fleet-export/2 file, so that jq or any JSON reader answers an auditor's questions without a
 * CBOR decoder. Derived, never a source: verification reads the entry's bytes alone, then refuses
 * a line whose view is not exactly the view of those bytes (checkEntryView). Frozen with the
 * format, do NOT change a field's meaning:
 *   seq, type, device: as in the entry; actor: {id, role};
 *   time: the entry's time in ISO 8601 (UTC, milliseconds), or null past the year 275760 (beyond
 *     JavaScript's dates; only a forged entry says so); timeMs: the time as the entry holds it,
 *     milliseconds since the Unix epoch;
 *   body: the entry's body as JSON, byte strings as {"hex": "<lowercase hex>"} (the ontology says
 *     which fields are bytes), integers beyond 2^53 as decimal strings (the codec refuses them
 *     today); or, when the view with its body would be longer than EXPORT_LIMITS.maxViewLength
 *     characters, no body and `bodyOmitted: true`.
 * What it leaves out (fleet, prev, attest, the actor's proof) is in the bytes.
 */
export interface EntryView {
  seq: number
  type: string
  actor: { id: string; role: string }
  device: string
  time: string | null
  timeMs: number
  body?: ViewValue
  bodyOmitted?: true
}

/** The time `ms` (since the Unix epoch) in ISO 8601, or null where JavaScript's dates end (±8.64e15). */
export function isoTime(ms: number): string | null {
  const date = new Date(ms)
  return Number.isNaN(date.getTime()) ? null : date.toISOString()
}

function viewOf(value: unknown): ViewValue {
  if (value instanceof Uint8Array) return { hex: toHex(value) }
  if (typeof value === 'bigint') return value.toString()
  if (Array.isArray(value)) return value.map(viewOf)
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, viewOf(item)]))
  return value as ViewValue
}

/** The derived view of `entry` (a decoded entry: its bytes are what the view must agree with). */
export function entryView(entry: Entry): EntryView {
  const view: EntryView = {
    seq: entry.seq,
    type: entry.type,
    actor: { id: entry.actor.id, role: entry.actor.role },
    device: entry.device,
    time: isoTime(entry.time),
    timeMs: entry.time,
    body: viewOf(entry.body)
  }
  if (JSON.stringify(view).length <= EXPORT_LIMITS.maxViewLength) return view
  const { body: _omitted, ...rest } = view
  return { ...rest, bodyOmitted: true }
}

/**
 * Where `actual` (parsed JSON) first differs from `expected`, as a path from `path`, or undefined
 * when they are equal as JSON (the order of an object's keys aside). It descends only as deep as
 * `expected`, so a deeply nested `actual` costs no more than the view does.
 */
function firstDifference(actual: unknown, expected: ViewValue, path: string): string | undefined {
  if (expected === null || typeof expected !== 'object') return actual === expected ? undefined : path
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) return path
    for (const [i, item] of expected.entries()) {
      const at = firstDifference(actual[i], item, `${path}[${i}]`)
      if (at !== undefined) return at
    }
    return undefined
  }
  if (typeof actual !== 'object' || actual === null || Array.isArray(actual)) return path
  const given = actual as Record<string, unknown>
  for (const key of Object.keys(given)) if (!Object.hasOwn(expected, key)) return `${path}.${key}`
  for (const [key, item] of Object.entries(expected)) {
    if (!Object.hasOwn(given, key)) return `${path}.${key}`
    const at = firstDifference(given[key], item, `${path}.${key}`)
    if (at !== undefined) return at
  }
  return undefined
}

/**
 * Checks that `view` (an export line's `derived`, parsed) is exactly what `entry`'s bytes give.
 * Refusing rather than warning: an auditor reads the view, so a verified export must mean that
 * what the view says is what was signed; an edited view is a misleading export even when every
 * byte that was signed is intact. Throws ExportViewMismatchError naming where it differs.
 */
export function checkEntryView(view: unknown, entry: Entry): void {
  const at = firstDifference(view, entryView(entry) as unknown as ViewValue, 'derived')
  if (at !== undefined) throw new ExportViewMismatchError(entry.seq, at)
}
