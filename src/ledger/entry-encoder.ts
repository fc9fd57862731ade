import { encodeCanonical } from './cbor.js'
import type { Entry } from './entry.js'

/**
 * A direct writer of canonical CBOR for the fixed v1 entry envelope. Its output is byte-identical
 * to encodeCanonical(entry): the 11 keys are written as precomputed bytes in canonical order
 * (length first, then bytewise), integers and lengths in their shortest form, and map keys of
 * bodies sorted the same way. Values outside the common shapes (floats, bigints, Maps, typed
 * arrays other than Uint8Array, deep nesting…) are handed to encodeCanonical, whose output for a
 * value is the same standalone as inside a map.
 */

const MAJOR_UINT = 0x00
const MAJOR_NEGINT = 0x20
const MAJOR_BYTES = 0x40
const MAJOR_TEXT = 0x60
const MAJOR_ARRAY = 0x80
const MAJOR_MAP = 0xa0
const FALSE = 0xf4
const TRUE = 0xf5
const NULL = 0xf6

/** Beyond this nesting depth (inside a body) values are handed to the generic encoder. */
const MAX_FAST_DEPTH = 16

const ascii = (text: string): number[] => Array.from(text, (c) => c.charCodeAt(0))
const key = (name: string): number[] => [MAJOR_TEXT | name.length, ...ascii(name)]

// Canonical key order: v, seq, body, feed, prev, time, type, actor, fleet, attest, device.
const HEAD_TO_SEQ = Uint8Array.from([MAJOR_MAP | 11, ...key('v'), 0x01, ...key('seq')])
const KEY_BODY = Uint8Array.from(key('body'))
const KEY_FEED = Uint8Array.from(key('feed'))
const KEY_PREV = Uint8Array.from(key('prev'))
const KEY_TIME = Uint8Array.from(key('time'))
const KEY_TYPE = Uint8Array.from(key('type'))
const KEY_ACTOR = Uint8Array.from(key('actor'))
// actor as exactly {id, role}: "id" sorts before "role".
const KEY_ACTOR_ID = Uint8Array.from([...key('actor'), MAJOR_MAP | 2, ...key('id')])
const KEY_ROLE = Uint8Array.from(key('role'))
const KEY_FLEET = Uint8Array.from(key('fleet'))
const KEY_ATTEST = Uint8Array.from(key('attest'))
const KEY_DEVICE = Uint8Array.from(key('device'))

/** Bytes of a head with this argument. */
function headSize (value: number): number {
  return value < 24 ? 1 : value < 0x100 ? 2 : value < 0x10000 ? 3 : value < 0x100000000 ? 5 : 9
}

interface SortedKeys { readonly order: readonly string[], readonly keys: string[], readonly encoded: Uint8Array[] }

function sameKeys (a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

function utf8Compare (a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return a.length - b.length
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return 0
}

/**
 * A growable output buffer with CBOR writers. Views handed out by subarray() stay valid after the
 * buffer grows (growing copies into a new buffer; the old one is never written again).
 */
export class CborWriter {
  buf: Buffer
  pos = 0
  /** Where entry() wrote the 32 bytes of `prev` (FeedLedger fills them in after encoding). */
  prevAt = 0
  private readonly sortCache = new Map<string, SortedKeys>()
  private lastSorted: SortedKeys | undefined
  /** The last feed, type and device strings with their encodings: consecutive entries share them. */
  private readonly recent: Array<{ text: string, encoded: Uint8Array } | undefined> = [undefined, undefined, undefined]

  constructor (capacity = 4096) {
    this.buf = Buffer.allocUnsafeSlow(Math.max(64, capacity))
  }

  /** Makes room for `n` more bytes. */
  ensure (n: number): void {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const next = Buffer.allocUnsafeSlow(size)
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }

  /** A view of bytes [start, end) of the current buffer. */
  subarray (start: number, end: number): Uint8Array {
    return new Uint8Array(this.buf.buffer, this.buf.byteOffset + start, end - start)
  }

  byte (value: number): void {
    this.ensure(1)
    this.buf[this.pos++] = value
  }

  raw (bytes: Uint8Array): void {
    const n = bytes.length
    this.ensure(n)
    if (n <= 16) {
      // Short runs (keys, heads): a loop beats TypedArray#set's fixed cost.
      const buf = this.buf
      const p = this.pos
      for (let i = 0; i < n; i++) buf[p + i] = bytes[i]!
    } else {
      this.buf.set(bytes, this.pos)
    }
    this.pos += n
  }

  /** A head: major type with a shortest-form argument (0 ≤ value ≤ 2^53 - 1). */
  head (major: number, value: number): void {
    this.ensure(9)
    const buf = this.buf
    let p = this.pos
    if (value < 24) {
      buf[p++] = major | value
    } else if (value < 0x100) {
      buf[p++] = major | 24
      buf[p++] = value
    } else if (value < 0x10000) {
      buf[p++] = major | 25
      buf[p++] = value >>> 8
      buf[p++] = value & 0xff
    } else if (value < 0x100000000) {
      buf[p++] = major | 26
      buf.writeUInt32BE(value, p)
      p += 4
    } else {
      buf[p++] = major | 27
      buf.writeUInt32BE(Math.floor(value / 0x100000000), p)
      buf.writeUInt32BE(value >>> 0, p + 4)
      p += 8
    }
    this.pos = p
  }

  bytes (value: Uint8Array): void {
    this.head(MAJOR_BYTES, value.length)
    this.raw(value)
  }

  text (value: string): void {
    const n = value.length
    if (n <= 16) {
      // Short strings: ASCII directly (byte length = string length).
      this.ensure(n + 1)
      const buf = this.buf
      const p = this.pos + 1
      let i = 0
      for (; i < n; i++) {
        const c = value.charCodeAt(i)
        if (c >= 0x80) break
        buf[p + i] = c
      }
      if (i === n) {
        buf[p - 1] = MAJOR_TEXT | n
        this.pos = p + n
        return
      }
    }
    // UTF-8 (lone surrogates become U+FFFD, as in the generic encoder), written after room for
    // the head its UTF-16 length implies; moved when the byte length needs another head size.
    this.ensure(9 + n * 3)
    const start = this.pos
    const guess = headSize(n)
    const length = this.buf.write(value, start + guess, 'utf8')
    const size = headSize(length)
    if (size !== guess) this.buf.copyWithin(start + size, start + guess, start + guess + length)
    this.head(MAJOR_TEXT, length)
    this.pos = start + size + length
  }

  /** text(), remembering the last string written in `slot` (comparing equal strings is cheaper than encoding). */
  private recentText (slot: number, value: string): void {
    const recent = this.recent[slot]
    if (recent !== undefined && recent.text === value) {
      this.raw(recent.encoded)
      return
    }
    const start = this.pos
    this.text(value)
    if (value.length <= 256) this.recent[slot] = { text: value, encoded: new Uint8Array(this.buf.subarray(start, this.pos)) }
  }

  /** Any value; the common shapes directly, the rest through encodeCanonical. */
  value (value: unknown, depth = 0): void {
    switch (typeof value) {
      case 'string':
        this.text(value)
        return
      case 'number':
        if (Number.isSafeInteger(value)) {
          if (value >= 0) this.head(MAJOR_UINT, value)
          else this.head(MAJOR_NEGINT, -value - 1)
          return
        }
        break
      case 'boolean':
        this.byte(value ? TRUE : FALSE)
        return
      case 'object':
        if (value === null) {
          this.byte(NULL)
          return
        }
        if (depth >= MAX_FAST_DEPTH) break
        if (value instanceof Uint8Array) {
          this.bytes(value)
          return
        }
        if (Array.isArray(value)) {
          this.head(MAJOR_ARRAY, value.length)
          for (const item of value) this.value(item, depth + 1)
          return
        }
        if ((value as object).constructor === Object) {
          this.map(value as Record<string, unknown>, depth)
          return
        }
        break
    }
    this.raw(encodeCanonical(value))
  }

  /** A plain object as a map with canonically sorted keys. */
  map (value: Record<string, unknown>, depth = 0): void {
    const keys = Object.keys(value)
    if (keys.length === 0) {
      this.byte(MAJOR_MAP)
      return
    }
    const sorted = this.sortedKeys(keys)
    this.head(MAJOR_MAP, keys.length)
    for (let i = 0; i < sorted.keys.length; i++) {
      this.raw(sorted.encoded[i]!)
      this.value(value[sorted.keys[i]!], depth + 1)
    }
  }

  /** Key order for a key list, remembered per list (bodies of one action share their keys). */
  private sortedKeys (keys: string[]): SortedKeys {
    if (this.lastSorted !== undefined && sameKeys(this.lastSorted.order, keys)) return this.lastSorted
    const result = this.sortKeys(keys)
    this.lastSorted = result
    return result
  }

  private sortKeys (keys: string[]): SortedKeys {
    const id = keys.join('\u0000')
    const cached = this.sortCache.get(id)
    if (cached !== undefined && sameKeys(cached.order, keys)) return cached
    const pairs = keys.map((k) => {
      const utf8 = Buffer.from(k, 'utf8')
      const head = new CborWriter(utf8.length + 9)
      head.head(MAJOR_TEXT, utf8.length)
      head.raw(utf8)
      return { k, utf8, encoded: Uint8Array.from(head.buf.subarray(0, head.pos)) }
    })
    pairs.sort((a, b) => utf8Compare(a.utf8, b.utf8))
    const result: SortedKeys = { order: keys, keys: pairs.map((p) => p.k), encoded: pairs.map((p) => p.encoded) }
    if (this.sortCache.size >= 256) this.sortCache.clear()
    this.sortCache.set(id, result)
    return result
  }

  /**
   * The entry envelope. The entry must have exactly the v1 keys as own properties, with v = 1,
   * fleet and prev Uint8Arrays, feed and device strings, and seq and time safe non-negative
   * integers; type, actor, attest and body may be anything (the common shapes are written
   * directly, the rest through the generic encoder).
   */
  entry (entry: Entry): void {
    this.raw(HEAD_TO_SEQ)
    this.head(MAJOR_UINT, entry.seq)
    this.raw(KEY_BODY)
    this.value(entry.body)
    this.raw(KEY_FEED)
    this.recentText(0, entry.feed)
    this.raw(KEY_PREV)
    this.head(MAJOR_BYTES, entry.prev.length)
    this.prevAt = this.pos
    this.raw(entry.prev)
    this.raw(KEY_TIME)
    this.head(MAJOR_UINT, entry.time)
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
    this.raw(KEY_ATTEST)
    this.value(entry.attest)
    this.raw(KEY_DEVICE)
    this.recentText(2, entry.device)
  }
}

/** Exactly two own keys, "id" and "role", both strings. */
function isIdRole (value: unknown): value is { id: string, role: string } {
  return typeof value === 'object' && value !== null && typeof (value as { id?: unknown }).id === 'string' && typeof (value as { role?: unknown }).role === 'string' &&
    Object.hasOwn(value, 'id') && Object.hasOwn(value, 'role') && Object.keys(value).length === 2
}

const ENTRY_KEYS = ['v', 'fleet', 'feed', 'seq', 'prev', 'time', 'type', 'actor', 'device', 'attest', 'body']

/** True when the envelope writer applies: exactly the v1 keys (own), with the envelope's own types. */
function fitsEnvelope (entry: Entry): boolean {
  if (typeof entry !== 'object' || entry === null || Object.keys(entry).length !== ENTRY_KEYS.length) return false
  for (const name of ENTRY_KEYS) if (!Object.hasOwn(entry, name)) return false
  return entry.v === 1 && Number.isSafeInteger(entry.seq) && entry.seq >= 0 && Number.isSafeInteger(entry.time) && entry.time >= 0 &&
    typeof entry.feed === 'string' && typeof entry.device === 'string' && entry.fleet instanceof Uint8Array && entry.prev instanceof Uint8Array
}

let spare: CborWriter | undefined

/** encodeCanonical(entry), written directly (byte-identical). */
export function encodeEntryBytes (entry: Entry): Uint8Array {
  if (!fitsEnvelope(entry)) return encodeCanonical(entry)
  const writer = spare ?? new CborWriter(16 * 1024)
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
