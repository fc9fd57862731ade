import assert from 'node:assert/strict'
import { HELLO } from '../../../src/agent/enrolment/ceremony.js'
import { decodeRecord, encodeCanonical } from '../../../src/codec/index.js'

describe('enrolment hello: the device name the owner is shown', () => {
  it('is refused with a control character in it (an escape sequence would rewrite the owner\u2019s screen), and taken without', () => {
    const hostname = (name: string): Record<string, unknown> => ({
      deviceId: 'a'.repeat(52),
      ekPub: new Uint8Array(8),
      ekCert: null,
      akPub: new Uint8Array(8),
      dskPub: new Uint8Array(8),
      certifyAttest: new Uint8Array(8),
      certifySignature: new Uint8Array(8),
      pqPub: new Uint8Array(1952),
      peerId: `12D3KooW${'A'.repeat(44)}`,
      hostname: name,
      role: 'server',
      commit: new Uint8Array(32)
    })
    assert.equal(decodeRecord(encodeCanonical(hostname('ward-3 pc é')), HELLO).hostname, 'ward-3 pc é')
    for (const name of ['\x1b[2Jok', 'a\nb', 'bell\x07', 'c1\x9b31m', ''])
      assert.throws(
        () => decodeRecord(encodeCanonical(hostname(name)), HELLO),
        { path: 'hostname' },
        JSON.stringify(name)
      )
  })
})
