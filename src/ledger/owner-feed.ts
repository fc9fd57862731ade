import { createHash } from 'node:crypto'

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'

/** RFC 4648 base32, lowercase, without padding: the alphabet of deviceIds. */
function base32 (bytes: Uint8Array): string {
  let out = ''
  let buffer = 0
  let bits = 0
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += BASE32[(buffer >>> (bits - 5)) & 31]
      bits -= 5
    }
    buffer &= (1 << bits) - 1
  }
  if (bits > 0) out += BASE32[(buffer << (5 - bits)) & 31]
  return out
}

/**
 * The owner's feed of a fleet: base32(SHA-256("fleet-owner-feed-v1" ‖ fleetId)). Owner-role
 * actions are valid in this feed only. Frozen: do NOT change the tag.
 */
export function ownerFeedId (fleetId: Uint8Array): string {
  return base32(createHash('sha256').update('fleet-owner-feed-v1').update(fleetId).digest())
}
