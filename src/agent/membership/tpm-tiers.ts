/**
 * What kind of TPM each enrolled device has, as the owner found at enrolment: `hardware` when the
 * device's EK certificate chained to a TPM maker's CA in the owner's trust store, `software` when
 * it chained to a CA the owner listed as a software TPM's (swtpm), or when the owner allowed
 * software TPMs without telling them apart. The owner records it right after the device.enrol:
 *
 *   device.tpm  {deviceId, tier: 'hardware' | 'software', ekCa: SHA-256 of the CA certificate
 *                the EK certificate chained to}
 *
 * A well-known action (src/ledger/well-known-actions.ts): `fleet enrol` defines it with an owner
 * ontology.update the first time, and agents take it only where the ontology in force defines it
 * exactly so. A device with no such statement is taken as software: attestation results
 * under-claim, never over-claim (EAR's fleet.tpm-tier).
 *
 * Do NOT change this spec: agents compare it byte for byte.
 */
import { definesAction, type ActionSpec, type Entry, type Ontology } from '../../ledger/index.js'
import { MEMBERSHIP_LIMITS } from './limits.js'

export type TpmTier = 'hardware' | 'software'

export const TPM_TIER_ACTIONS: Readonly<Record<string, ActionSpec>> = {
  'device.tpm': {
    roles: ['owner'],
    body: {
      deviceId: { kind: 'string', max: 52, pattern: '^[a-z2-7]{52}$' },
      tier: { kind: 'string', max: 8, oneOf: ['hardware', 'software'] },
      ekCa: { kind: 'bytes', size: 32, max: 32 }
    }
  }
}

/** The owner's device.tpm statements so far (the latest per device), bounded by MEMBERSHIP_LIMITS.maxTpmTiers. */
export class TpmTiers {
  private readonly tiers = new Map<string, TpmTier>()

  /** Applies a verified entry of the owner's feed with the ontology in force at it; the device's new tier, or undefined. */
  apply(entry: Entry, ontology: Ontology): { deviceId: string; tier: TpmTier } | undefined {
    if (entry.type !== 'device.tpm' || !definesAction(ontology, 'device.tpm', TPM_TIER_ACTIONS['device.tpm']!))
      return undefined
    const { deviceId, tier } = entry.body as { deviceId: string; tier: TpmTier }
    if (!this.tiers.has(deviceId) && this.tiers.size >= MEMBERSHIP_LIMITS.maxTpmTiers) return undefined
    this.tiers.set(deviceId, tier)
    return { deviceId, tier }
  }

  /** The device's tier as the owner recorded it; software when it recorded none. */
  tierOf(deviceId: string): TpmTier {
    return this.tiers.get(deviceId) ?? 'software'
  }
}
