/**
 * The fleet's published keys as a JWKS (RFC 7517): each enrolled device's DSK, the TPM-held P-256
 * key its results are signed with, named by its device id (the results' kid). A relying party
 * verifies a result with any JOSE library from this set.
 */
import { checkDeviceSigningKey, eccPoint, parsePublic } from '../../attest/index.js'
import type { Entry } from '../../ledger/index.js'

export interface EarJwk {
  kty: 'EC'
  crv: 'P-256'
  x: string
  y: string
  kid: string
  alg: 'ES256'
  use: 'sig'
}

/** The JWK of a device's DSK, given as a SEC1 uncompressed P-256 point (65 bytes). */
export function deviceJwk(deviceId: string, point: Uint8Array): EarJwk {
  if (point.length !== 65 || point[0] !== 4) throw new RangeError('a P-256 public key is a 65-byte uncompressed point')
  return {
    kty: 'EC',
    crv: 'P-256',
    x: Buffer.from(point.subarray(1, 33)).toString('base64url'),
    y: Buffer.from(point.subarray(33)).toString('base64url'),
    kid: deviceId,
    alg: 'ES256',
    use: 'sig'
  }
}

/** The JWKS of the devices given, in device-id order. */
export function fleetJwks(devices: Iterable<{ deviceId: string; point: Uint8Array }>): { keys: EarJwk[] } {
  return {
    keys: [...devices]
      .sort((a, b) => a.deviceId.localeCompare(b.deviceId))
      .map((device) => deviceJwk(device.deviceId, device.point))
  }
}

/**
 * The devices of the owner's feed (verified entries, in feed order) whose results may be
 * trusted: enrolled (device.enrol, with a DSK made in a TPM) and not revoked. A quarantined
 * device keeps its key: its results about others stand until the owner revokes it.
 */
export function enrolledSigningKeys(entries: Iterable<Entry>): Array<{ deviceId: string; point: Uint8Array }> {
  const keys = new Map<string, Uint8Array>()
  const revoked = new Set<string>()
  for (const entry of entries) {
    const deviceId = entry.body.deviceId
    if (typeof deviceId !== 'string') continue
    if (entry.type === 'device.revoke') revoked.add(deviceId)
    if (entry.type !== 'device.enrol' || keys.has(deviceId) || !(entry.body.dskPub instanceof Uint8Array)) continue
    try {
      const dsk = parsePublic(entry.body.dskPub)
      checkDeviceSigningKey(dsk)
      keys.set(deviceId, eccPoint(dsk))
    } catch {
      // Not a key made in a TPM: never a member, whoever signed the entry.
    }
  }
  return [...keys].filter(([deviceId]) => !revoked.has(deviceId)).map(([deviceId, point]) => ({ deviceId, point }))
}
