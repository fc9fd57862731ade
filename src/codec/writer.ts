import { encode as cborEncode } from 'cborg'

/**
 * Deterministic CBOR (cborg's canonical encoding: shortest integers and lengths, map keys sorted
 * length-first then bytewise). The formats use only unsigned/negative integers, byte and text
 * strings, arrays, maps with text keys, booleans and null: no floats, tags, undefined or
 * indefinite lengths.
 */
export function encodeCanonical(value: unknown): Uint8Array {
  return cborEncode(value)
}

/** The first byte of a head of each major type (RFC 8949 §3.1), for writers of fixed envelopes. */
export const CBOR_MAJOR = { uint: 0x00, negint: 0x20, bytes: 0x40, text: 0x60, array: 0x80, map: 0xa0 } as const

const MAJOR_UINT = CBOR_MAJOR.uint
const MAJOR_NEGINT = CBOR_MAJOR.negint
const MAJOR_BYTES = CBOR_MAJOR.bytes
const MAJOR_TEXT = CBOR_MAJOR.text
const MAJOR_ARRAY = CBOR_MAJOR.array
const MAJOR_MAP = CBOR_MAJOR.map
const FALSE = 0xf4
const TRUE = 0xf5
const NULL = 0xf6

/** Beyond this nesting depth values are handed to the generic encoder (a speed limit, not a cap). */
const MAX_FAST_DEPTH = 16

/** Bytes of a head with this argument. */
function headSize(value: number): number {
  return value < 24 ? 1 : value < 0x100 ? 2 : value < 0x10000 ? 3 : value < 0x100000000 ? 5 : 9
}

interface SortedKeys {
  readonly order: readonly string[]
  readonly keys: string[]
  readonly encoded: Uint8Array[]
}

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

function utf8Compare(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return a.length - b.length
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return 0
}

/**
 * A direct writer of canonical CBOR into a growable buffer, byte-identical to encodeCanonical:
 * integers and lengths in their shortest form, map keys sorted length-first then bytewise. Values
 * outside the common shapes (floats, bigints, Maps, typed arrays other than Uint8Array, deep
 * nesting…) are handed to encodeCanonical, whose output for a value is the same standalone as
 * inside a map. Formats with a fixed envelope (ledger entries) extend it. Views handed out by
 * subarray() stay valid after the buffer grows (growing copies into a new buffer; the old one is
 * never written again).
 */
export class CborWriter {
  buf: Buffer
  pos = 0
  private readonly sortCache = new Map<string, SortedKeys>()
  private lastSorted: SortedKeys | undefined

  constructor(capacity = 4096) {
    this.buf = Buffer.allocUnsafeSlow(Math.max(64, capacity))
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const next = Buffer.allocUnsafeSlow(size)
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }

  /** A view of bytes [start, end) of the current buffer. */
  subarray(start: number, end: number): Uint8Array {
    return new Uint8Array(this.buf.buffer, this.buf.byteOffset + start, end - start)
  }

  byte(value: number): void {
    this.ensure(1)
    this.buf[this.pos++] = value
  }

  raw(bytes: Uint8Array): void {
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
  head(major: number, value: number): void {
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

  bytes(value: Uint8Array): void {
    this.head(MAJOR_BYTES, value.length)
    this.raw(value)
  }

  text(value: string): void {
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

  /** Any value; the common shapes directly, the rest through encodeCanonical. */
  value(value: unknown, depth = 0): void {
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
  map(value: Record<string, unknown>, depth = 0): void {
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
  private sortedKeys(keys: string[]): SortedKeys {
    if (this.lastSorted !== undefined && sameKeys(this.lastSorted.order, keys)) return this.lastSorted
    const result = this.sortKeys(keys)
    this.lastSorted = result
    return result
  }

  private sortKeys(keys: string[]): SortedKeys {
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
}
