import { createHash } from 'node:crypto'
import { base32 } from '../common/index.js'

/**
 * The owner's feed of a fleet: base32(SHA-256("fleet-owner-feed-v1" ‖ fleetId)). Owner-role
 * actions are valid in this feed only. Frozen: do NOT change the tag.
 */
export function ownerFeedId(fleetId: Uint8Array): string {
  return base32(createHash('sha256').update('fleet-owner-feed-v1').update(fleetId).digest())
}
