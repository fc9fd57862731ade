import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { encodeCanonical } from '../../src/codec/index.js'
import { decodeMessage, encodeMessage } from '../../src/p2p/messages.js'

describe('p2p/messages: wire messages in canonical CBOR', () => {
  it('encodes a message to exactly the canonical CBOR of {t, ...fields}, whatever the field order', () => {
    const entries = Array.from({ length: 300 }, (_, i) => new Uint8Array(randomBytes(100 + i)))
    const samples: Array<[string, Record<string, unknown>]> = [
      ['batch', { feed: 'a'.repeat(52), from: 70_000, entries, checkpoint: new Uint8Array(randomBytes(6000)), proof: [new Uint8Array(32), new Uint8Array(32).fill(1)] }],
      ['batch', { proof: [], checkpoint: new Uint8Array(0), entries: [], from: 0, feed: 'b'.repeat(52) }],
      ['end', { more: true }],
      ['announce', { feed: 'c'.repeat(52), size: 2 ** 40, checkpoint: new Uint8Array(randomBytes(40)) }],
      ['abort', { reason: 'ünïcode reason, and a longer text than the short-string path takes: ' + 'x'.repeat(100) }]
    ]
    for (const [type, fields] of samples) assert.deepEqual(Buffer.from(encodeMessage(type, fields)), Buffer.from(encodeCanonical({ t: type, ...fields })), type)
  })

  it('decodes byte fields as copies, or as views into the frame when asked', () => {
    const schema = { feed: { kind: 'string', max: 60 }, from: { kind: 'uint' }, entries: { kind: 'list', maxItems: 10, item: { kind: 'bytes', max: 100 } }, checkpoint: { kind: 'bytes', max: 100 }, proof: { kind: 'list', maxItems: 4, item: { kind: 'bytes', max: 32 } } } as const
    const frame = encodeMessage('batch', { feed: 'a'.repeat(52), from: 3, entries: [new Uint8Array([1, 2, 3])], checkpoint: new Uint8Array([9]), proof: [] })
    const copied = decodeMessage('test', frame, 'batch', schema, 1000) as { entries: Uint8Array[] }
    const viewed = decodeMessage('test', frame, 'batch', schema, 1000, { byteViews: true }) as { entries: Uint8Array[] }
    assert.deepEqual([...copied.entries[0]!], [1, 2, 3])
    assert.deepEqual([...viewed.entries[0]!], [1, 2, 3])
    assert.notEqual(copied.entries[0]!.buffer, frame.buffer)
    assert.equal(viewed.entries[0]!.buffer, frame.buffer)
  })
})
