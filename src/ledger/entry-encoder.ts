import { CborWriter, CBOR_MAJOR, encodeCanonical } from '../codec/index.js'
import type { Entry } from './entry.js'

const ascii = (text: string): number[] => Array.from(text, (c) => c.charCodeAt(0))
const key = (name: string): number[] => [CBOR_MAJOR.text | name.length, ...ascii(name)]

// Canonical key order: v, seq, body, feed, prev, time, type, actor, fleet, (proof,) attest, device.
const HEAD_TO_SEQ = Uint8Array.from([CBOR_MAJOR.map | 11, ...key('v'), 0x01, ...key('seq')])
const HEAD_TO_SEQ_V2 = Uint8Array.from([CBOR_MAJOR.map | 12, ...key('v'), 0x02, ...key('seq')])
const KEY_PROOF = Uint8Array.from(key('proof'))
const KEY_BODY = Uint8Array.from(key('body'))
const KEY_FEED = Uint8Array.from(key('feed'))
const KEY_PREV = Uint8Array.from(key('prev'))
const KEY_TIME = Uint8Array.from(key('time'))
const KEY_TYPE = Uint8Array.from(key('type'))
const KEY_ACTOR = Uint8Array.from(key('actor'))
// actor as exactly {id, role}: "id" sorts before "role".
const KEY_ACTOR_ID = Uint8Array.from([...key('actor'), CBOR_MAJOR.map | 2, ...key('id')])
const KEY_ROLE = Uint8Array.from(key('role'))
const KEY_FLEET = Uint8Array.from(key('fleet'))
const KEY_ATTEST = Uint8Array.from(key('attest'))
const KEY_DEVICE = Uint8Array.from(key('device'))

/**
 * A CborWriter that also writes the fixed entry envelope (version 1, or 2 with its `proof`), and
 * says where each one's `prev` is.
 * Its output is byte-identical to encodeCanonical(entry): the 11 or 12 keys are written as precomputed
 * bytes in canonical order (length first, then bytewise), the values by CborWriter.
 */
export class EntryWriter extends CborWriter {
  /** Where entry() wrote the 32 bytes of `prev` (FeedLedger fills them in after encoding). */
  prevAt = 0
  /** The last feed, type and device strings with their encodings: consecutive entries share them. */
  private readonly recent: Array<{ text: string; encoded: Uint8Array } | undefined> = [undefined, undefined, undefined]

  /** text(), remembering the last string written in `slot` (comparing equal strings is cheaper than encoding). */
  private recentText(slot: number, value: string): void {
    const recent = this.recent[slot]
    if (recent !== undefined && recent.text === value) {
      this.raw(recent.encoded)
      return
    }
    const start = this.pos
    this.text(value)
    if (value.length <= 256)
      this.recent[slot] = { text: value, encoded: new Uint8Array(this.buf.subarray(start, this.pos)) }
  }

  /**
   * The entry envelope. The entry must have exactly the keys of its version as own properties
   * (v = 1, or v = 2 with a Uint8Array `proof`), fleet and prev Uint8Arrays, feed and device strings, and seq and time safe non-negative
   * integers; type, actor, attest and body may be anything (the common shapes are written
   * directly, the rest through the generic encoder).
   */
  entry(entry: Entry): void {
    this.raw(entry.v === 2 ? HEAD_TO_SEQ_V2 : HEAD_TO_SEQ)
    this.head(CBOR_MAJOR.uint, entry.seq)
    this.raw(KEY_BODY)
    this.value(entry.body)
    this.raw(KEY_FEED)
    this.recentText(0, entry.feed)
    this.raw(KEY_PREV)
    this.head(CBOR_MAJOR.bytes, entry.prev.length)
    this.prevAt = this.pos
    this.raw(entry.prev)
    this.raw(KEY_TIME)
    this.head(CBOR_MAJOR.uint, entry.time)
    this.raw(KEY_TYPE)
    if (typeof entry.type === 'string') this.recentText(1, entry.type)
    else this.value(entry.type)
    const actor = entry.actor as unknown
    if (isIdRole(actor)) {
      this.raw(KEY_ACTOR_ID)
      this.text(actor.id)
      this.raw(KEY_ROLE)
      this.text(actor.role)
    } else {
      this.raw(KEY_ACTOR)
      this.value(actor)
    }
    this.raw(KEY_FLEET)
    this.bytes(entry.fleet)
    if (entry.v === 2) {
      this.raw(KEY_PROOF)
      this.bytes(entry.proof!)
    }
    this.raw(KEY_ATTEST)
    this.value(entry.attest)
    this.raw(KEY_DEVICE)
    this.recentText(2, entry.device)
  }
}

/** Exactly two own keys, "id" and "role", both strings. */
function isIdRole(value: unknown): value is { id: string; role: string } {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { id?: unknown }).id === 'string' &&
    typeof (value as { role?: unknown }).role === 'string' &&
    Object.hasOwn(value, 'id') &&
    Object.hasOwn(value, 'role') &&
    Object.keys(value).length === 2
  )
}

const ENTRY_KEYS = ['v', 'fleet', 'feed', 'seq', 'prev', 'time', 'type', 'actor', 'device', 'attest', 'body']

/** True when the envelope writer applies: exactly its version's keys (own), with the envelope's own types. */
function fitsEnvelope(entry: Entry): boolean {
  if (typeof entry !== 'object' || entry === null) return false
  const v2 = entry.v === 2
  if (Object.keys(entry).length !== ENTRY_KEYS.length + (v2 ? 1 : 0)) return false
  for (const name of ENTRY_KEYS) if (!Object.hasOwn(entry, name)) return false
  if (v2 && !(Object.hasOwn(entry, 'proof') && entry.proof instanceof Uint8Array)) return false
  return (
    (entry.v === 1 || v2) &&
    Number.isSafeInteger(entry.seq) &&
    entry.seq >= 0 &&
    Number.isSafeInteger(entry.time) &&
    entry.time >= 0 &&
    typeof entry.feed === 'string' &&
    typeof entry.device === 'string' &&
    entry.fleet instanceof Uint8Array &&
    entry.prev instanceof Uint8Array
  )
}

let spare: EntryWriter | undefined

/** encodeCanonical(entry), written directly (byte-identical). */
export function encodeEntryBytes(entry: Entry): Uint8Array {
  if (!fitsEnvelope(entry)) return encodeCanonical(entry)
  const writer = spare ?? new EntryWriter(16 * 1024)
  spare = undefined
  writer.pos = 0
  try {
    writer.entry(entry)
    const out = new Uint8Array(writer.pos)
    out.set(writer.buf.subarray(0, writer.pos))
    return out
  } finally {
    if (writer.buf.length <= 1 << 20) spare = writer
  }
}
