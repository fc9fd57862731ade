import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { encodeCanonical, type Schema } from '../../src/codec/index.js'
import { checkFields, decodeMessage, encodeMessage } from '../../src/p2p/index.js'

describe('p2p/messages: wire messages in canonical CBOR', () => {
  it('encodes a message to exactly the canonical CBOR of {t, ...fields}, whatever the field order', () => {
    const entries = Array.from({ length: 300 }, (_, i) => new Uint8Array(randomBytes(100 + i)))
    const samples: Array<[string, Record<string, unknown>]> = [
      [
        'batch',
        {
          feed: 'a'.repeat(52),
          from: 70_000,
          entries,
          checkpoint: new Uint8Array(randomBytes(6000)),
          proof: [new Uint8Array(32), new Uint8Array(32).fill(1)]
        }
      ],
      ['batch', { proof: [], checkpoint: new Uint8Array(0), entries: [], from: 0, feed: 'b'.repeat(52) }],
      ['end', { more: true }],
      ['announce', { feed: 'c'.repeat(52), size: 2 ** 40, checkpoint: new Uint8Array(randomBytes(40)) }],
      ['abort', { reason: `ünïcode reason, and a longer text than the short-string path takes: ${'x'.repeat(100)}` }]
    ]
    for (const [type, fields] of samples)
      assert.deepEqual(
        Buffer.from(encodeMessage(type, fields)),
        Buffer.from(encodeCanonical({ t: type, ...fields })),
        type
      )
  })

  it('decodes byte fields as copies, or as views into the frame when asked', () => {
    const schema = {
      feed: { kind: 'string', max: 60 },
      from: { kind: 'uint' },
      entries: { kind: 'list', maxItems: 10, item: { kind: 'bytes', max: 100 } },
      checkpoint: { kind: 'bytes', max: 100 },
      proof: { kind: 'list', maxItems: 4, item: { kind: 'bytes', max: 32 } }
    } as const
    const frame = encodeMessage('batch', {
      feed: 'a'.repeat(52),
      from: 3,
      entries: [new Uint8Array([1, 2, 3])],
      checkpoint: new Uint8Array([9]),
      proof: []
    })
    const copied = decodeMessage('test', frame, 'batch', schema, 1000) as { entries: Uint8Array[] }
    const viewed = decodeMessage('test', frame, 'batch', schema, 1000, { byteViews: true }) as { entries: Uint8Array[] }
    assert.deepEqual([...copied.entries[0]!], [1, 2, 3])
    assert.deepEqual([...viewed.entries[0]!], [1, 2, 3])
    assert.notEqual(copied.entries[0]!.buffer, frame.buffer)
    assert.equal(viewed.entries[0]!.buffer, frame.buffer)
  })

  const SCHEMA = {
    feed: { kind: 'string', max: 52, pattern: '^[a-z2-7]{52}$' },
    from: { kind: 'uint', max: 1000 },
    entries: { kind: 'list', maxItems: 4, item: { kind: 'bytes', max: 16 } },
    cert: { kind: 'bytes', max: 8, nullable: true },
    nonce: { kind: 'bytes', size: 32, max: 32 },
    more: { kind: 'bool' }
  } as const satisfies Schema
  const good = {
    feed: 'a'.repeat(52),
    from: 3,
    entries: [Uint8Array.of(1)],
    cert: null,
    nonce: new Uint8Array(32),
    more: false
  }
  const batch = (fields: Record<string, unknown>): Uint8Array => encodeMessage('batch', fields)
  const { from: _from, ...withoutFrom } = good

  it("decodes a message of exactly its schema's fields, typed", () => {
    const message = decodeMessage('test', batch(good), 'batch', SCHEMA, 4096)
    assert.equal(message.t, 'batch')
    const typed = message as Exclude<typeof message, { t: 'abort' }>
    const from: number = typed.from
    const cert: Uint8Array | null = typed.cert
    assert.equal(from, 3)
    assert.equal(cert, null)
    const withCert = decodeMessage('test', batch({ ...good, cert: new Uint8Array(8) }), 'batch', SCHEMA, 4096)
    assert.deepEqual([...(withCert as { cert: Uint8Array }).cert], new Array(8).fill(0))
    decodeMessage('test', batch({ ...good, entries: new Array(4).fill(new Uint8Array(16)) }), 'batch', SCHEMA, 4096)
  })

  const refused: Array<[string, Uint8Array]> = [
    ['an unknown field', batch({ ...good, smuggled: 1 })],
    ['a missing field', batch(withoutFrom)],
    ['text where a uint is wanted', batch({ ...good, from: '3' })],
    ['a negative uint', batch({ ...good, from: -1 })],
    ['a uint above its max', batch({ ...good, from: 1001 })],
    ['text of the wrong form', batch({ ...good, feed: 'A'.repeat(52) })],
    ['text too long', batch({ ...good, feed: 'a'.repeat(53) })],
    ['bytes where text is wanted', batch({ ...good, feed: new Uint8Array(52) })],
    ['bytes of the wrong size', batch({ ...good, nonce: new Uint8Array(31) })],
    ['nullable bytes too long', batch({ ...good, cert: new Uint8Array(9) })],
    ['text where nullable bytes are wanted', batch({ ...good, cert: 'x' })],
    ['null where bytes are wanted', batch({ ...good, nonce: null })],
    ['a list past its cap', batch({ ...good, entries: new Array(5).fill(new Uint8Array(1)) })],
    ['a list item too long', batch({ ...good, entries: [new Uint8Array(17)] })],
    ['a list item of the wrong kind', batch({ ...good, entries: ['x'] })],
    ['bytes where a list is wanted', batch({ ...good, entries: new Uint8Array(1) })],
    ['0 where a bool is wanted', batch({ ...good, more: 0 })],
    ['another type', encodeMessage('end', { more: true })],
    ['no type', encodeCanonical({ ...good })],
    ['a list, not a map', encodeCanonical([1])],
    // {"t": "batch", "t": 1}
    ['a repeated key', new Uint8Array(Buffer.from('a26174656261746368617401', 'hex'))],
    ['an abort with another field', encodeMessage('abort', { reason: 'x', more: 1 })],
    ['an abort with a reason too long', encodeMessage('abort', { reason: 'x'.repeat(1025) })],
    ['an abort without a reason', encodeMessage('abort', {})],
    ['an abort whose reason is bytes', encodeMessage('abort', { reason: new Uint8Array(1) })]
  ]
  for (const [name, frame] of refused) {
    it(`refuses ${name} with MalformedMessageError`, () => {
      assert.throws(() => decodeMessage('test', frame, 'batch', SCHEMA, 4096), {
        name: 'MalformedMessageError',
        protocol: 'test'
      })
    })
  }

  it('returns an abort with its reason, and a message of another accepted type unchecked until checkFields', () => {
    assert.deepEqual(decodeMessage('test', encodeMessage('abort', { reason: 'stop' }), 'batch', SCHEMA, 4096), {
      t: 'abort',
      reason: 'stop'
    })
    const end = encodeMessage('end', { more: 1 })
    const other = decodeMessage('test', end, 'batch', SCHEMA, 4096, { acceptTypes: ['end'] })
    assert.equal(other.t, 'end')
    assert.throws(() => checkFields('test', other, 'end', { more: { kind: 'bool' } }), {
      name: 'MalformedMessageError',
      message: /end\.more must be true or false/
    })
    assert.throws(() => checkFields('test', other, 'batch', SCHEMA), {
      name: 'MalformedMessageError',
      message: /expected "batch", got "end"/
    })
    assert.throws(() => decodeMessage('test', batch(good), 'batch', SCHEMA, 64), {
      name: 'MalformedMessageError',
      message: /exceed 64/
    })
  })
})
