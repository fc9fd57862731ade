import { CBOR_LIMITS } from './limits.js'
import { MalformedCborError } from './errors.js'

/** Options of decodeCanonical. */
export interface DecodeOptions {
  /** Size cap of the input (default CBOR_LIMITS.maxBytes). */
  maxBytes?: number
  /** Called with the decoded value; may throw to refuse it. */
  check?: (value: unknown) => void
  /** Told where each value of a top-level map starts (for callers that patch or hash in place). */
  onTopLevelValue?: (key: string, offset: number) => void
  /** Byte strings as views into the input rather than copies. */
  byteViews?: boolean
}

/**
 * Strict decoding in one pass, without materialising anything first: size, depth, item count and
 * text-string length are capped; every head must be in shortest form; only unsigned/negative
 * integers (within 2^53), byte and text strings (valid UTF-8), arrays, maps with text keys in
 * canonical order (length-first, then bytewise: strictly increasing, so no duplicates), false,
 * true and null are accepted. Whatever passes is exactly the canonical encoding of the value it
 * decodes to (encodeCanonical gives these bytes back), so no re-encoding is needed; `check` may
 * refuse the value. Byte strings are copies, or with `byteViews` views into `bytes` (for a caller
 * that is done with the value before `bytes` could change, and wants no copy of each).
 */
export function decodeCanonical(bytes: Uint8Array, options: DecodeOptions = {}): unknown {
  const maxBytes = options.maxBytes ?? CBOR_LIMITS.maxBytes
  if (bytes.length > maxBytes) throw new MalformedCborError(0, `${bytes.length} bytes exceed ${maxBytes}`, 'maxBytes')
  const reader = new StrictReader(bytes, options.onTopLevelValue, options.byteViews === true)
  const value = reader.item(0)
  if (reader.offset !== bytes.length) throw trailing(reader.offset, bytes.length)
  options.check?.(value)
  return value
}

/**
 * decodeCanonical for a map with exactly the given keys (each given as its encoded bytes, in
 * canonical order): the values in that order, and where each starts. Undefined when the bytes
 * are not such a map at the top level (another head or other keys): the caller then decodes them
 * with decodeCanonical, which says what is wrong. The values are checked as strictly as there.
 */
export function decodeCanonicalFixedMap(
  bytes: Uint8Array,
  keys: readonly Uint8Array[],
  maxBytes: number = CBOR_LIMITS.maxBytes
): { values: unknown[]; offsets: number[] } | undefined {
  if (bytes.length > maxBytes || keys.length >= 24 || bytes.length === 0) return undefined
  if (bytes[0] !== (0xa0 | keys.length)) return undefined
  const reader = new StrictReader(bytes)
  reader.offset = 1
  const values: unknown[] = new Array(keys.length)
  const offsets: number[] = new Array(keys.length)
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k]!
    const at = reader.offset
    if (at + key.length > bytes.length) return undefined
    for (let i = 0; i < key.length; i++) if (bytes[at + i] !== key[i]) return undefined
    reader.offset = at + key.length
    offsets[k] = reader.offset
    values[k] = reader.item(1)
  }
  if (reader.offset !== bytes.length) throw trailing(reader.offset, bytes.length)
  return { values, offsets }
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
const MIN_FOR_SIZE = [24, 0x100, 0x10000, 0x100000000]

class StrictReader {
  offset = 0
  private items = 0
  private readonly bytes: Uint8Array
  /** Told where each value of a top-level map starts (for callers that patch or hash in place). */
  private readonly onTopLevelValue: ((key: string, offset: number) => void) | undefined

  private readonly byteViews: boolean

  constructor(bytes: Uint8Array, onTopLevelValue?: (key: string, offset: number) => void, byteViews = false) {
    this.bytes = bytes
    this.onTopLevelValue = onTopLevelValue
    this.byteViews = byteViews
  }

  /** The argument of a head (shortest form enforced). */
  private argument(info: number, at: number): number {
    if (info < 24) return info
    const b = this.bytes
    let o = this.offset
    let value: number
    let size: number
    if (info === 24) {
      size = 1
      if (o + 1 > b.length) throw new MalformedCborError(at, 'truncated length')
      value = b[o]!
    } else if (info === 25) {
      size = 2
      if (o + 2 > b.length) throw new MalformedCborError(at, 'truncated length')
      value = (b[o]! << 8) | b[o + 1]!
    } else if (info === 26) {
      size = 4
      if (o + 4 > b.length) throw new MalformedCborError(at, 'truncated length')
      value = ((b[o]! << 24) >>> 0) + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!)
    } else if (info === 27) {
      size = 8
      if (o + 8 > b.length) throw new MalformedCborError(at, 'truncated length')
      const high = ((b[o]! << 24) >>> 0) + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!)
      const low = ((b[o + 4]! << 24) >>> 0) + ((b[o + 5]! << 16) | (b[o + 6]! << 8) | b[o + 7]!)
      if (high > 0x1fffff) throw new MalformedCborError(at, 'integer beyond 2^53')
      value = high * 0x100000000 + low
    } else {
      const reason = info === 31 ? 'indefinite lengths are not allowed' : `reserved additional information ${info}`
      throw new MalformedCborError(at, reason)
    }
    if (value < MIN_FOR_SIZE[size === 1 ? 0 : size === 2 ? 1 : size === 4 ? 2 : 3]!) {
      throw new MalformedCborError(at, 'not in canonical form (a longer head than needed)')
    }
    o += size
    this.offset = o
    return value
  }

  item(depth: number): unknown {
    const b = this.bytes
    const at = this.offset
    if (at >= b.length) throw new MalformedCborError(at, 'truncated')
    if (++this.items > CBOR_LIMITS.maxItems) {
      throw new MalformedCborError(at, `more than ${CBOR_LIMITS.maxItems} items`, 'maxItems')
    }
    const head = b[this.offset++]!
    const major = head >> 5
    const info = head & 31
    switch (major) {
      case 0:
        return this.argument(info, at)
      case 1: {
        const n = this.argument(info, at)
        if (n >= Number.MAX_SAFE_INTEGER) throw new MalformedCborError(at, 'integer beyond 2^53')
        return -1 - n
      }
      case 2: {
        const length = this.argument(info, at)
        if (this.offset + length > b.length) throw new MalformedCborError(at, 'truncated string')
        // A copy is a plain Uint8Array of its own (Buffer#slice would give a view).
        const view = b.subarray(this.offset, this.offset + length)
        const out = this.byteViews ? view : new Uint8Array(view)
        this.offset += length
        return out
      }
      case 3: {
        const length = this.argument(info, at)
        if (length > CBOR_LIMITS.maxStringBytes) {
          throw new MalformedCborError(at, `a text string of ${length} bytes`, 'maxStringBytes')
        }
        if (this.offset + length > b.length) throw new MalformedCborError(at, 'truncated string')
        return this.text(at, length)
      }
      case 4: {
        const length = this.argument(info, at)
        if (length > CBOR_LIMITS.maxItems) throw tooMany(at, length)
        if (length > 0 && depth >= CBOR_LIMITS.maxDepth) throw tooDeep(at)
        const out: unknown[] = new Array(length)
        for (let i = 0; i < length; i++) out[i] = this.item(depth + 1)
        return out
      }
      case 5: {
        const length = this.argument(info, at)
        if (length * 2 > CBOR_LIMITS.maxItems) throw tooMany(at, length)
        if (length > 0 && depth >= CBOR_LIMITS.maxDepth) throw tooDeep(at)
        const out: Record<string, unknown> = {}
        let previous = -1
        let previousEnd = -1
        for (let i = 0; i < length; i++) {
          const keyAt = this.offset
          if (keyAt >= b.length) throw new MalformedCborError(keyAt, 'truncated')
          if (b[keyAt]! >> 5 !== 3) throw new MalformedCborError(keyAt, 'map keys must be text strings')
          const key = this.item(depth + 1) as string
          // Canonical order: the encoded keys strictly increase, shorter first, then bytewise.
          if (previous >= 0 && compareEncoded(b, previous, previousEnd, keyAt, this.offset) >= 0) {
            throw new MalformedCborError(keyAt, 'map keys out of canonical order or repeated')
          }
          if (key === '__proto__') throw new MalformedCborError(keyAt, 'the map key "__proto__" is not allowed')
          previous = keyAt
          previousEnd = this.offset
          if (depth === 0) this.onTopLevelValue?.(key, this.offset)
          out[key] = this.item(depth + 1)
        }
        return out
      }
      case 6:
        throw new MalformedCborError(at, 'tags are not allowed')
      default:
        if (info === 20) return false
        if (info === 21) return true
        if (info === 22) return null
        if (info === 23) throw new MalformedCborError(at, 'undefined is not allowed')
        if (info >= 25 && info <= 27) throw new MalformedCborError(at, 'floats are not allowed')
        throw new MalformedCborError(at, `simple value ${info} is not allowed`)
    }
  }

  private text(at: number, length: number): string {
    const b = this.bytes
    const start = this.offset
    const end = start + length
    this.offset = end
    if (length === 0) return ''
    // Short strings repeat (map keys, feed and device ids, action names): a decoded string is
    // kept with its bytes and given back when the same bytes come again.
    let slot = -1
    if (length <= TEXT_CACHE_MAX) {
      slot = (length * 31 + b[start]! * 7 + b[end - 1]!) & (TEXT_CACHE_SLOTS - 1)
      const cached = textCacheBytes[slot]
      if (cached !== undefined && cached.length === length) {
        let i = 0
        while (i < length && cached[i] === b[start + i]) i++
        if (i === length) return textCacheStrings[slot]!
      }
    }
    let text: string | undefined
    // ASCII (the common case) without a decoder call.
    if (length <= 64) {
      let i = start
      while (i < end && b[i]! < 0x80) i++
      if (i === end) text = String.fromCharCode.apply(null, b.subarray(start, end) as unknown as number[])
    }
    if (text === undefined) {
      try {
        text = utf8.decode(b.subarray(start, end))
      } catch {
        throw new MalformedCborError(at, 'a text string is not valid UTF-8')
      }
    }
    if (slot >= 0) {
      // A copy of its own: the input may be a Buffer (whose slice is a view) that is written to later.
      textCacheBytes[slot] = new Uint8Array(b.subarray(start, end))
      textCacheStrings[slot] = text
    }
    return text
  }
}

/** Text strings up to this many bytes are remembered, in a direct-mapped cache of this many slots. */
const TEXT_CACHE_MAX = 64
const TEXT_CACHE_SLOTS = 256
const textCacheBytes: Array<Uint8Array | undefined> = new Array(TEXT_CACHE_SLOTS).fill(undefined)
const textCacheStrings: Array<string | undefined> = new Array(TEXT_CACHE_SLOTS).fill(undefined)

function trailing(offset: number, length: number): MalformedCborError {
  return new MalformedCborError(offset, `${length - offset} trailing bytes`)
}

function tooMany(at: number, length: number): MalformedCborError {
  return new MalformedCborError(at, `a container of ${length} items`, 'maxItems')
}

function tooDeep(at: number): MalformedCborError {
  return new MalformedCborError(at, `nesting deeper than ${CBOR_LIMITS.maxDepth}`, 'maxDepth')
}

/** Orders two encoded items: shorter first, then bytewise. */
function compareEncoded(b: Uint8Array, aStart: number, aEnd: number, bStart: number, bEnd: number): number {
  const lengths = aEnd - aStart - (bEnd - bStart)
  if (lengths !== 0) return lengths
  for (let i = 0; i < aEnd - aStart; i++) {
    const d = b[aStart + i]! - b[bStart + i]!
    if (d !== 0) return d
  }
  return 0
}
