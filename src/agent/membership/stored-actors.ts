/**
 * The fleet's enrolled actors where no agent runs: from the owner's feed a state directory holds
 * (`fleet ledger verify --state`, `fleet actor list`), or from the owner's actor statements an
 * export header or proof file carries as proof bundles (checked against the genesis owner key).
 */
import { heldOwnerEntries, heldOwnerProofs, ownerEntriesFromHeader, type FeedIdentity } from '../feeds/index.js'
import {
  EntryRuns,
  decodeEntry,
  feedSublevels,
  requiresActorProof,
  type Entry,
  type LedgerStore,
  type ProofBundle
} from '../../ledger/index.js'
import { ActorRegistry, type ActorRegistryInit } from './actors.js'
import { ACTOR_LIMITS } from './limits.js'

/** The owner's statements about actors: persons' keys, and the programs services act through. */
const ACTOR_STATEMENTS = ['actor.enrol', 'actor.revoke', 'workload.allow', 'workload.revoke'] as const

/** At most this many actor statements go with an export (each proof bundle is ~6 KB of its header). */
export const MAX_EXPORTED_ACTOR_STATEMENTS = 128

function registryOf(entries: Iterable<Entry>, init: ActorRegistryInit): ActorRegistry {
  const registry = new ActorRegistry(init)
  for (const entry of entries) {
    try {
      registry.apply(entry)
    } catch {
      // More actors than the registry's cap: the new one is not taken, as the agents do.
    }
  }
  return registry
}

/** The actors the owner's feed held in `store` enrols and revokes, in feed order. */
export async function storedActors(
  store: LedgerStore,
  identity: FeedIdentity,
  init: ActorRegistryInit = {}
): Promise<ActorRegistry> {
  const statements: Entry[] = []
  for await (const entry of heldOwnerEntries(store, identity))
    if ((ACTOR_STATEMENTS as readonly string[]).includes(entry.type)) statements.push(entry)
  return registryOf(statements, init)
}

/**
 * Proof bundles of the owner's sealed statements about `actorIds` (their enrolments and
 * revocations), for an export header or a proof file.
 */
export async function storedActorProofs(
  store: LedgerStore,
  identity: FeedIdentity,
  actorIds: ReadonlySet<string>,
  max = MAX_EXPORTED_ACTOR_STATEMENTS
): Promise<ProofBundle[]> {
  if (actorIds.size === 0) return []
  return await heldOwnerProofs(
    store,
    identity,
    (entry) =>
      (ACTOR_STATEMENTS as readonly string[]).includes(entry.type) &&
      actorIds.has(String(entry.body.actorId ?? entry.body.service)),
    max
  )
}

/** The actors a header's or proof file's `actors` proves the owner enrolled and revoked. */
export function actorsFromHeader(
  value: unknown,
  identity: FeedIdentity,
  init: ActorRegistryInit = {},
  max = MAX_EXPORTED_ACTOR_STATEMENTS
): ActorRegistry {
  return registryOf(ownerEntriesFromHeader(value, identity, { what: 'actors', types: ACTOR_STATEMENTS, max }), init)
}

/** At most this many statements about one actor go with a proof file: every enrolment kept, and a revocation. */
export const MAX_ACTOR_STATEMENTS_PER_ACTOR = ACTOR_LIMITS.maxKeysPerActor * 2

/** The actors the store's own feed names in a role that signs: whose statements go with its export. */
export async function ownFeedActors(store: LedgerStore): Promise<Set<string>> {
  const named = new Set<string>()
  for await (const { bytes } of new EntryRuns(feedSublevels(store).entries).entries()) {
    const { entry } = decodeEntry(bytes)
    if (entry.v === 2 || requiresActorProof(entry.actor.role)) named.add(entry.actor.id)
  }
  return named
}
