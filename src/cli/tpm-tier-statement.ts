/**
 * The owner's device.tpm about a device it just enrolled (src/agent/membership/tpm-tiers.ts):
 * hardware or software, as its EK certificate's chain showed, and the CA it ended at. The first
 * time, an owner ontology.update defining the action goes before it, as agents check it.
 */
import { TPM_TIER_ACTIONS, type EnrolledDevice } from '../agent/index.js'
import { encodeCanonical } from '../codec/index.js'
import {
  BASE_ONTOLOGY,
  decodeEntry,
  formatOntologyActions,
  missingActions,
  ontologyAfter,
  type Entry,
  type FeedLedger
} from '../ledger/index.js'

export async function appendTpmTier(
  ledger: FeedLedger,
  device: Pick<EnrolledDevice, 'deviceId' | 'softwareTpm' | 'ekCa'>,
  actor: { id: string; role: 'owner' }
): Promise<void> {
  const entries: Entry[] = []
  for (let seq = 0; seq < ledger.size; seq++) entries.push(decodeEntry((await ledger.getEntry(seq))!).entry)
  let ontology = entries.reduce(ontologyAfter, BASE_ONTOLOGY)
  ledger.useOntology(ontology)
  const missing = missingActions(ontology, TPM_TIER_ACTIONS)
  if (Object.keys(missing).length > 0) {
    const { seq } = await ledger.append({
      type: 'ontology.update',
      actor,
      attest: null,
      body: { version: ontology.version + 1, actions: encodeCanonical(formatOntologyActions(missing)) }
    })
    ontology = ontologyAfter(ontology, decodeEntry((await ledger.getEntry(seq))!).entry)
    ledger.useOntology(ontology)
  }
  await ledger.append({
    type: 'device.tpm',
    actor,
    attest: null,
    body: { deviceId: device.deviceId, tier: device.softwareTpm ? 'software' : 'hardware', ekCa: device.ekCa }
  })
}
