/**
 * A proof file (fleet-proof-file/1): one entry's inclusion proof with the trust chain from the
 * fleetId to its feed's key and, for an actor's action, the owner's statements about the actor.
 * `fleet ledger verify-proof` checks it offline. Made by `fleet ledger proof` and the console.
 */
import { fromBase64, toHex } from '../../common/index.js'
import {
  decodeEntry,
  makeProofBundle,
  type LedgerSpace,
  type LedgerStore,
  type ProofBundle
} from '../../ledger/index.js'
import type { FeedIdentity, FeedTrust } from '../feeds/index.js'
import { MAX_ACTOR_STATEMENTS_PER_ACTOR, storedActorProofs } from './stored-actors.js'

export const PROOF_FILE_FORMAT = 'fleet-proof-file/1'

export interface ProofFile {
  format: typeof PROOF_FILE_FORMAT
  fleet: string
  trust: FeedTrust
  bundle: ProofBundle
  actors?: ProofBundle[]
}

/** The proof file of entry `seq` of `identity`'s feed, laid out at `space` in `store` (default: the store's own feed). */
export async function makeProofFile(
  store: LedgerStore,
  identity: FeedIdentity,
  seq: number,
  space: LedgerSpace = store
): Promise<ProofFile> {
  const bundle = await makeProofBundle(space, { feedId: identity.feedId, seq })
  const { entry } = decodeEntry(fromBase64(bundle.entry))
  const actors =
    entry.v === 2
      ? await storedActorProofs(store, identity, new Set([entry.actor.id]), MAX_ACTOR_STATEMENTS_PER_ACTOR)
      : []
  return {
    format: PROOF_FILE_FORMAT,
    fleet: toHex(identity.fleetId),
    trust: identity.trust,
    bundle,
    ...(actors.length === 0 ? {} : { actors })
  }
}
