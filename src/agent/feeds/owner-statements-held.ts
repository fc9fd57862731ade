/**
 * The owner's statements as a state directory holds them, and as an export header or proof file
 * carries them (proof bundles under owner-signed checkpoints): for whoever needs the owner's word
 * on something without a running agent (the actors of src/agent/membership/stored-actors.ts).
 */
import { FleetError } from '../../common/index.js'
import {
  BASE_ONTOLOGY,
  EntryRuns,
  ProofError,
  ReplicaStore,
  decodeEntry,
  feedSublevels,
  makeProofBundle,
  verifyProofBundle,
  type Entry,
  type LedgerStore,
  type ProofBundle
} from '../../ledger/index.js'
import { ownerFeedId } from '../enrolment/index.js'
import { FeedTrustError, ownEntries, ownerKeyOf, ownerSpaceOf, type FeedIdentity } from './feed-identity.js'

/** The owner's entries a store holds (its own feed for the owner, the verified replica for a device), decoded, in feed order. */
export async function* heldOwnerEntries(store: LedgerStore, identity: FeedIdentity): AsyncGenerator<Entry> {
  const owner = ownerFeedId(identity.fleetId)
  const entries = identity.kind === 'owner' ? ownEntries(store) : new ReplicaStore(store).entries(owner)
  for await (const bytes of entries) yield decodeEntry(bytes).entry
}

/**
 * Proof bundles of the owner's sealed entries that `keep` picks, in feed order, for an export
 * header or a proof file (an entry not sealed yet is not part of what an auditor can check).
 * More than `max` is refused: a header that silently left statements out would prove less than
 * it says.
 */
export async function heldOwnerProofs(
  store: LedgerStore,
  identity: FeedIdentity,
  keep: (entry: Entry) => boolean,
  max: number
): Promise<ProofBundle[]> {
  const owner = ownerFeedId(identity.fleetId)
  const space = ownerSpaceOf(store, identity)
  const out: ProofBundle[] = []
  for await (const { seq, bytes } of new EntryRuns(feedSublevels(space).entries).entries()) {
    if (!keep(decodeEntry(bytes).entry)) continue
    try {
      out.push(await makeProofBundle(space, { feedId: owner, seq }))
    } catch (err) {
      if (!(err instanceof ProofError)) throw err
    }
    if (out.length > max)
      throw new FleetError(`more than ${max} owner statements would have to go with it`, {
        code: 'ERR_TOO_MANY_OWNER_STATEMENTS'
      })
  }
  return out
}

/**
 * The owner's entries a header or proof file carries as proof bundles: each an inclusion proof
 * of an entry of the owner's feed under an owner-signed checkpoint (verified against the genesis
 * statement's owner key), of a type in `types`, in feed order, at most `max`.
 */
export function ownerEntriesFromHeader(
  value: unknown,
  identity: FeedIdentity,
  expect: { what: string; types: readonly string[]; max: number }
): Entry[] {
  if (value === undefined) return []
  if (!Array.isArray(value) || value.length > expect.max)
    throw new FeedTrustError(`${expect.what} must be a list of at most ${expect.max} proof bundles`)
  const ownerKey = ownerKeyOf(identity)
  const owner = ownerFeedId(identity.fleetId)
  const out: Entry[] = []
  let last = -1
  for (const bundle of value) {
    let proved: ReturnType<typeof verifyProofBundle>
    try {
      proved = verifyProofBundle(bundle, { feedKey: ownerKey, fleetId: identity.fleetId, ontology: BASE_ONTOLOGY })
    } catch (err) {
      throw new FeedTrustError(`${expect.what}: a statement does not verify: ${(err as Error).message}`)
    }
    if (proved.feed !== owner || !expect.types.includes(proved.entry.type))
      throw new FeedTrustError(`${expect.what}: a statement is not one of the owner's ${expect.types.join(' or ')}`)
    if (proved.seq <= last) throw new FeedTrustError(`${expect.what}: the statements are not in feed order`)
    last = proved.seq
    out.push(proved.entry)
  }
  return out
}
