/** What an agent does with the owner's statements as they arrive in the owner's feed. */
import type { Entry, ReplicaStore } from '../ledger/index.js'
import type { AttestationService } from './attest-service.js'
import type { OpenedLedger } from './ledgers.js'
import type { Logger } from './logger.js'
import type { Membership } from './membership.js'
import type { quarantineSublevel } from './witnessing.js'

export interface OwnerStatementTargets {
  membership: Membership
  attestation: AttestationService
  ledger: OpenedLedger['ledger']
  replicas: ReplicaStore
  quarantineStore: ReturnType<typeof quarantineSublevel>
  logger?: Logger
}

/**
 * Applies verified entries of the owner's feed: a new boot policy re-judges peers, an ontology
 * update reaches the own ledger, a revocation hangs up on the device (its feed cut where the
 * owner said), a cleared quarantine lets the device back in.
 */
export async function applyOwnerStatements (entries: readonly Entry[], t: OwnerStatementTargets): Promise<void> {
  for (const entry of entries) {
    const { revoked, released, policy, ontology } = t.membership.applyOwnerEntry(entry)
    if (policy !== undefined) {
      t.logger?.warn({ policyId: entry.body.policyId }, 'the owner set a new boot policy: peers are judged by it from now on')
      t.attestation.setPolicy(policy)
    }
    if (ontology !== undefined) {
      t.logger?.info({ version: ontology.version }, 'the owner updated the ontology')
      t.ledger.useOntology(ontology)
    }
    if (revoked !== undefined) {
      const keep = t.membership.cutOf(revoked)
      const held = (await t.replicas.meta(revoked)).size
      t.logger?.warn({ deviceId: revoked, keep, held }, keep === undefined
        ? 'device revoked by the owner: hanging up and refusing it'
        : `device revoked by the owner: hanging up and refusing it; its feed is cut at ${keep} entries${held > keep ? ` (${held - keep} held past the cut are kept apart, unserved)` : ''}`)
      await t.attestation.revoke(revoked)
    }
    if (released !== undefined && !t.membership.isRevoked(released)) {
      t.logger?.warn({ deviceId: released }, 'the owner cleared a quarantine: the device may connect again')
      await t.quarantineStore.del(released)
      t.attestation.release(released)
    }
  }
}
