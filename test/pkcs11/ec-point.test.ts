/**
 * CKA_EC_POINT and CKA_EC_PARAMS decoded strictly: only a DER OCTET STRING holding an
 * uncompressed P-256 point on the curve, only prime256v1 by OID.
 */
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { decodeEcPoint, isPrime256v1 } from '../../src/pkcs11/ec-point.js'

function point(): Buffer {
  const jwk = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' })
  return Buffer.concat([Buffer.of(4), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')])
}

describe('pkcs11: EC point and parameters', () => {
  const sec1 = point()
  const der = Buffer.concat([Buffer.of(0x04, 0x41), sec1])

  it('takes the SEC1 point out of its DER OCTET STRING', () => {
    assert.deepEqual(Buffer.from(decodeEcPoint(der)), sec1)
  })

  it('refuses a bare point, long length form, trailing bytes, another tag, compressed, off the curve', () => {
    const compressed = Buffer.concat([Buffer.of(0x04, 0x41, 0x02), sec1.subarray(1)])
    const offCurve = Buffer.from(der)
    offCurve[66]! ^= 1
    const cases: Array<[Buffer, RegExp]> = [
      [sec1, /65 bytes/],
      [Buffer.concat([Buffer.of(0x04, 0x81, 0x41), sec1]), /68 bytes/],
      [Buffer.concat([der, Buffer.of(0)]), /68 bytes/],
      [Buffer.concat([Buffer.of(0x03, 0x41), sec1]), /not a DER OCTET STRING/],
      [Buffer.concat([Buffer.of(0x04, 0x40), sec1]), /length byte 0x40/],
      [compressed, /not an uncompressed SEC1 point/],
      [offCurve, /not a point on P-256/]
    ]
    for (const [value, reason] of cases) {
      assert.throws(
        () => decodeEcPoint(value),
        (err: Error & { attribute?: string; reason?: string }) =>
          err.name === 'Pkcs11AttributeMalformedError' &&
          err.attribute === 'CKA_EC_POINT' &&
          reason.test(err.reason ?? '')
      )
    }
  })

  it('accepts prime256v1 by OID only (not secp384r1, not with trailing bytes)', () => {
    assert.equal(isPrime256v1(Buffer.from('06082a8648ce3d030107', 'hex')), true)
    assert.equal(isPrime256v1(Buffer.from('06052b81040022', 'hex')), false)
    assert.equal(isPrime256v1(Buffer.from('06082a8648ce3d03010700', 'hex')), false)
    assert.equal(isPrime256v1(Buffer.from('130a7072696d6532353676', 'hex')), false)
  })
})
