import { encode as cborEncode, decode as cborDecode } from 'cborg'
import { bytesEqual } from '../common/bytes.js'
import { LEDGER_LIMITS } from './limits.js'
import { MalformedCborError } from './errors.js'

/**
 * Deterministic CBOR (cborg's canonical encoding: shortest integers and lengths, map keys sorted
 * length-first then bytewise). Entries use only unsigned/negative integers, byte and text strings,
 * arrays, maps with text keys, booleans and null: no floats, tags, undefined or indefinite lengths.
 */
export function encodeCanonical (value: unknown): Uint8Array {
  return cborEncode(value)
}

/**
 * Strict decoding: a pre-scan bounds size, depth and item count and refuses indefinite lengths,
 * tags, floats and undefined before anything is materialised; cborg then decodes with strict
 * integer sizes and no duplicate keys; finally the value must re-encode to exactly these bytes
 * (which also fixes map key order).
 */
export function decodeCanonical (bytes: Uint8Array, limits: { maxBytes?: number, check?: (value: unknown) => void, encoder?: (value: unknown) => Uint8Array } = {}): unknown {
  const maxBytes = limits.maxBytes ?? LEDGER_LIMITS.maxEntryBytes
  if (bytes.length > maxBytes) throw new MalformedCborError(0, `${bytes.length} bytes exceed ${maxBytes}`)
  prescan(bytes)
  let value: unknown
  try {
    value = cborDecode(bytes, { strict: true, rejectDuplicateMapKeys: true, allowIndefinite: false, allowUndefined: false, allowInfinity: false, allowNaN: false, allowBigInt: false })
  } catch (err) {
    throw new MalformedCborError(0, (err as Error).message)
  }
  // `check` may refuse the value before it is re-encoded; `encoder` is a faster canonical encoder
  // for values that passed it (it must give exactly encodeCanonical's bytes).
  limits.check?.(value)
  if (!bytesEqual((limits.encoder ?? encodeCanonical)(value), bytes)) throw new MalformedCborError(0, 'not in canonical form (key order or encoding)')
  return value
}

/** Walks the data item heads iteratively: no recursion, so hostile nesting cannot exhaust the stack. */
function prescan (bytes: Uint8Array): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let offset = 0
  let items = 0
  // Remaining children per open container (maps count keys and values).
  const stack: number[] = []
  const readLength = (info: number, at: number): number => {
    if (info < 24) return info
    const size = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0
    if (size === 0) throw new MalformedCborError(at, info === 31 ? 'indefinite lengths are not allowed' : `reserved additional information ${info}`)
    if (offset + size > bytes.length) throw new MalformedCborError(at, 'truncated length')
    let value: number
    if (size === 1) value = view.getUint8(offset)
    else if (size === 2) value = view.getUint16(offset)
    else if (size === 4) value = view.getUint32(offset)
    else {
      const big = view.getBigUint64(offset)
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new MalformedCborError(at, 'integer beyond 2^53')
      value = Number(big)
    }
    offset += size
    return value
  }
  do {
    if (offset >= bytes.length) throw new MalformedCborError(offset, 'truncated')
    const at = offset
    const head = view.getUint8(offset++)
    const major = head >> 5
    const info = head & 31
    if (++items > LEDGER_LIMITS.maxItems) throw new MalformedCborError(at, `more than ${LEDGER_LIMITS.maxItems} items`)
    if (stack.length > 0) stack[stack.length - 1]!--
    if (major === 0 || major === 1) {
      readLength(info, at)
    } else if (major === 2 || major === 3) {
      const length = readLength(info, at)
      if (major === 3 && length > LEDGER_LIMITS.maxStringBytes) throw new MalformedCborError(at, `a text string of ${length} bytes`)
      if (offset + length > bytes.length) throw new MalformedCborError(at, 'truncated string')
      offset += length
    } else if (major === 4 || major === 5) {
      const length = readLength(info, at)
      const children = major === 5 ? length * 2 : length
      if (children > LEDGER_LIMITS.maxItems) throw new MalformedCborError(at, `a container of ${length} items`)
      if (children > 0) {
        if (stack.length >= LEDGER_LIMITS.maxDepth) throw new MalformedCborError(at, `nesting deeper than ${LEDGER_LIMITS.maxDepth}`)
        stack.push(children)
      }
    } else if (major === 6) {
      throw new MalformedCborError(at, 'tags are not allowed')
    } else {
      if (info !== 20 && info !== 21 && info !== 22) throw new MalformedCborError(at, info === 23 ? 'undefined is not allowed' : info >= 25 && info <= 27 ? 'floats are not allowed' : `simple value ${info} is not allowed`)
    }
    while (stack.length > 0 && stack[stack.length - 1] === 0) stack.pop()
  } while (stack.length > 0)
  if (offset !== bytes.length) throw new MalformedCborError(offset, `${bytes.length - offset} trailing bytes`)
}
