import crypto from 'node:crypto'

/** The length of a SEC1 uncompressed P-256 point: 0x04 ‖ x ‖ y. */
export const P256_POINT_SIZE = 65

/** The length of an IEEE P1363 P-256 signature: r ‖ s. */
export const P256_SIGNATURE_SIZE = 64

/**
 * The node:crypto public key of a SEC1 uncompressed P-256 point, or undefined when the bytes are
 * not one (another length or form, a coordinate out of range, a point off the curve).
 */
export function p256KeyObject(point: Uint8Array): crypto.KeyObject | undefined {
  if (point.length !== P256_POINT_SIZE || point[0] !== 0x04) return undefined
  try {
    return crypto.createPublicKey({
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: Buffer.from(point.subarray(1, 33)).toString('base64url'),
        y: Buffer.from(point.subarray(33)).toString('base64url')
      },
      format: 'jwk'
    })
  } catch {
    return undefined
  }
}
