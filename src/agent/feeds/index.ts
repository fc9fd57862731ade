/**
 * Feeds: this device's own ledger feed (opened with the TPM-held signer and rollback counter), and
 * the identity of any feed (its key, ontology, epochs and witnesses) as proven by stored records.
 */
export {
  FeedTrustError,
  epochsFromHeader,
  feedIdentityFromTrust,
  feedIdentityOf,
  knownFeedKeys,
  ontologyFromHeader,
  storedEpochProofs,
  storedEpochs,
  storedOntology,
  storedOntologyProofs,
  storedWitnessRecords,
  witnessKeysFromHeader,
  type FeedIdentity,
  type FeedTrust
} from './feed-identity.js'
export { heldOwnerEntries, heldOwnerProofs, ownerEntriesFromHeader } from './owner-statements-held.js'
export { LEDGER_DIR, openOwnFeed, rollbackCounterIndex, type OpenedLedger } from './own-feed.js'
