import assert from 'node:assert/strict'
import {
  CBOR_LIMITS,
  CborWriter,
  decodeCanonical,
  decodeCanonicalFixedMap,
  encodeCanonical,
  MalformedCborError
} from '../../src/codec/index.js'

const hex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'))

/** Asserts that `bytes` are refused as malformed CBOR at `offset` (and past `limit`, when a cap refuses them). */
function refused(bytes: Uint8Array, offset: number, reason: RegExp, limit?: keyof typeof CBOR_LIMITS): void {
  assert.throws(
    () => decodeCanonical(bytes),
    (err: Error) => {
      assert.ok(err instanceof MalformedCborError, `${err.name}: ${err.message}`)
      assert.equal(err.name, 'MalformedCborError')
      assert.equal(err.code, 'ERR_MALFORMED_CBOR')
      assert.equal(err.exitCode, 2)
      assert.equal(err.offset, offset)
      assert.match(err.reason, reason)
      assert.equal(err.limit, limit)
      return true
    }
  )
}

describe('codec/cbor: strict canonical CBOR', () => {
  /**
   * Golden bytes of a small record: map keys sorted by encoded length, then bytewise.
   *   a4                    map(4)
   *     61 6e  18 18        "n": 24 (the shortest head for 24 is 0x18 0x18)
   *     61 74  63 616263    "t": "abc"
   *     62 6f6b  f5         "ok": true
   *     63 6b6579  42 0102  "key": bytes(2)
   */
  const GOLDEN = 'a4616e1818617463616263626f6bf5636b6579420102'
  const record = { key: Uint8Array.of(1, 2), ok: true, t: 'abc', n: 24 }

  it('encodes to the golden bytes with either encoder, and decodes them back', () => {
    assert.equal(Buffer.from(encodeCanonical(record)).toString('hex'), GOLDEN)
    const writer = new CborWriter(8)
    writer.map(record)
    assert.equal(Buffer.from(writer.subarray(0, writer.pos)).toString('hex'), GOLDEN)
    assert.deepEqual(decodeCanonical(hex(GOLDEN)), record)
  })

  it('writes the same bytes as the generic encoder for integers at every head size, text, nesting and null', () => {
    const values: unknown[] = [
      0,
      23,
      24,
      255,
      256,
      65535,
      65536,
      2 ** 32 - 1,
      2 ** 32,
      2 ** 53 - 1,
      -1,
      -24,
      -25,
      -(2 ** 53) + 1,
      '',
      'é'.repeat(30),
      'x'.repeat(300),
      [],
      [[[1]]],
      {},
      { b: 1, a: 2, aa: 3 },
      null,
      false,
      new Uint8Array(300)
    ]
    for (const value of values) {
      const writer = new CborWriter(1)
      writer.value(value)
      const written = Buffer.from(writer.subarray(0, writer.pos))
      assert.deepEqual(written, Buffer.from(encodeCanonical(value)), JSON.stringify(value))
      assert.deepEqual(decodeCanonical(encodeCanonical(value)), value)
    }
  })

  it('refuses repeated map keys, indefinite lengths and non-canonical forms, at the offending byte', () => {
    refused(hex('a2617601617601'), 4, /out of canonical order or repeated/)
    refused(hex('a2637365710761760a'), 6, /out of canonical order or repeated/)
    refused(hex('bf617601ff'), 0, /indefinite lengths/)
    refused(hex('7f61616161ff'), 0, /indefinite lengths/)
    refused(hex('9f01ff'), 0, /indefinite lengths/)
    refused(hex('1817'), 0, /longer head than needed/)
    refused(hex('a161761801'), 3, /longer head than needed/)
    refused(hex('190001'), 0, /longer head than needed/)
    refused(hex('5801ff'), 0, /longer head than needed/)
    refused(hex('a10101'), 1, /map keys must be text strings/)
    refused(hex('fb3ff0000000000000'), 0, /floats/)
    refused(hex('c11a5f5e1000'), 0, /tags/)
    refused(hex('f7'), 0, /undefined/)
    refused(hex('a1617601ff'), 4, /trailing bytes/)
    refused(hex('a161766261'), 3, /truncated string/)
    refused(hex('62c328'), 0, /UTF-8/)
    refused(hex('1bffffffffffffffff'), 0, /beyond 2\^53/)
  })

  it('refuses input past each cap of CBOR_LIMITS, naming the cap', () => {
    // Arrays nested maxDepth deep hold a value; one more level is refused where it starts.
    const depth = CBOR_LIMITS.maxDepth
    const nested = JSON.parse(`${'['.repeat(depth)}1${']'.repeat(depth)}`) as unknown
    assert.deepEqual(decodeCanonical(hex(`${'81'.repeat(depth)}01`)), nested)
    refused(hex(`${'81'.repeat(depth + 1)}01`), depth, /nesting deeper than/, 'maxDepth')
    refused(new Uint8Array(CBOR_LIMITS.maxBytes + 1), 0, /exceed/, 'maxBytes')
    assert.throws(() => decodeCanonical(hex('0102'), { maxBytes: 1 }), { limit: 'maxBytes' })
    refused(encodeCanonical(new Array(CBOR_LIMITS.maxItems + 1).fill(0)), 0, /a container of/, 'maxItems')
    // 100 lists of 50 zeros: item 4097 is the 15th zero of the 81st list (heads of 2 bytes, lists of 52).
    const lists = encodeCanonical(new Array(100).fill(new Array(50).fill(0)))
    refused(lists, 2 + 52 * 80 + 2 + 14, /more than \d+ items/, 'maxItems')
    refused(encodeCanonical('x'.repeat(CBOR_LIMITS.maxStringBytes + 1)), 0, /a text string of/, 'maxStringBytes')
    const longest = 'x'.repeat(CBOR_LIMITS.maxStringBytes)
    assert.equal(decodeCanonical(encodeCanonical(longest)), longest)
  })

  it('reads a map of fixed keys in place, telling where each value starts, or leaves it to the generic decoder', () => {
    const keys = ['t', 'key'].map((k) => encodeCanonical(k))
    const bytes = encodeCanonical({ t: 'x', key: Uint8Array.of(7) })
    const fixed = decodeCanonicalFixedMap(bytes, keys)!
    assert.deepEqual(fixed.values, ['x', Uint8Array.of(7)])
    assert.deepEqual(fixed.offsets, [3, 9])
    assert.equal(decodeCanonicalFixedMap(encodeCanonical({ t: 'x', kez: 1 }), keys), undefined)
    assert.equal(decodeCanonicalFixedMap(bytes, keys, bytes.length - 1), undefined)
    assert.throws(() => decodeCanonicalFixedMap(new Uint8Array([...bytes, 0]), keys), { name: 'MalformedCborError' })
  })
})
