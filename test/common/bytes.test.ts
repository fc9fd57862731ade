import assert from 'node:assert/strict'
import { fromHex, toHex, concatBytes, bytesEqual } from '../../src/common/index.js'

describe('common/bytes', () => {
  it('round-trips hex', () => {
    assert.equal(toHex(fromHex('00ff10')), '00ff10')
    assert.deepEqual(fromHex(''), new Uint8Array(0))
  })

  it('refuses odd-length and non-hex input with MalformedInputError', () => {
    assert.throws(() => fromHex('abc'), { name: 'MalformedInputError' })
    assert.throws(() => fromHex('zz'), { name: 'MalformedInputError' })
  })

  it('concatenates and compares', () => {
    const joined = concatBytes(Uint8Array.of(1), Uint8Array.of(2, 3))
    assert.ok(bytesEqual(joined, Uint8Array.of(1, 2, 3)))
    assert.ok(!bytesEqual(joined, Uint8Array.of(1, 2, 4)))
    assert.ok(!bytesEqual(joined, Uint8Array.of(1, 2)))
  })
})
