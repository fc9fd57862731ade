/**
 * Strict decoding of a P-256 public key as a token gives it. Pure.
 */
import { bytesEqual } from '../common/index.js'
import { p256KeyObject } from '../identity/index.js'
import { PRIME256V1_PARAMS } from './constants.js'
import { Pkcs11AttributeMalformedError } from './errors.js'

/** SEC1 uncompressed point: 0x04 ‖ X (32) ‖ Y (32). */
export const P256_POINT_BYTES = 65

const DER_OCTET_STRING = 0x04

/**
 * CKA_EC_POINT is the DER encoding of an OCTET STRING holding the SEC1 point (PKCS#11 2.40
 * §2.3.3): 04 41 04 X Y. Refused: a bare point (some old tokens), the long length form, trailing
 * bytes, a compressed or hybrid point, a point not on P-256.
 */
export function decodeEcPoint(value: Uint8Array): Uint8Array {
  const fail = (reason: string): never => {
    throw new Pkcs11AttributeMalformedError('CKA_EC_POINT', reason)
  }
  if (value.length !== 2 + P256_POINT_BYTES) fail(`${value.length} bytes, a DER OCTET STRING of a P-256 point is 67`)
  if (value[0] !== DER_OCTET_STRING) fail(`not a DER OCTET STRING (tag 0x${(value[0] ?? 0).toString(16)})`)
  if (value[1] !== P256_POINT_BYTES) fail(`OCTET STRING length byte 0x${(value[1] ?? 0).toString(16)}, expected 0x41`)
  const point = value.slice(2)
  if (point[0] !== 0x04) fail('not an uncompressed SEC1 point')
  if (p256KeyObject(point) === undefined) fail('not a point on P-256')
  return point
}

/** CKA_EC_PARAMS must name prime256v1 by OID; explicit curve parameters and other curves are refused. */
export function isPrime256v1(params: Uint8Array): boolean {
  return bytesEqual(params, PRIME256V1_PARAMS)
}
