/** The owner of a SimFleet makes statements in its feed and hands the feed to agents, as `fleet` owner commands do. */
import assert from 'node:assert/strict'
import { ownerFeedId, publishOwnerFeed, type Agent } from '../../src/agent/index.js'
import { BASE_ONTOLOGY, decodeEntry, ontologyAfter, type AppendInput } from '../../src/ledger/index.js'
import type { SimFleet } from '../../simnet/fleet.js'

/**
 * Appends `statements` to the owner's feed in order (an ontology.update among them extends what
 * the owner's own ledger accepts next), seals them, and hands the feed to each of `agents`, which
 * must all take it.
 */
export async function publishOwnerStatements(
  fleet: SimFleet,
  statements: ReadonlyArray<Omit<AppendInput, 'actor' | 'attest'>>,
  agents: readonly Agent[]
): Promise<void> {
  const owner = fleet.owner
  for (const statement of statements) {
    const { seq } = await owner.feed.ledger.append({
      ...statement,
      actor: { id: 'owner/simnet', role: 'owner' },
      attest: null
    })
    if (statement.type !== 'ontology.update') continue
    let ontology = BASE_ONTOLOGY
    for (let at = 0; at <= seq; at++)
      ontology = ontologyAfter(ontology, decodeEntry((await owner.feed.ledger.getEntry(at))!).entry)
    owner.feed.ledger.useOntology(ontology)
  }
  await owner.feed.ledger.checkpoint()
  const feed = ownerFeedId(new Uint8Array(Buffer.from(owner.state.fleetId, 'hex')))
  const reached = await publishOwnerFeed(
    owner.node,
    owner.feed.store,
    feed,
    owner.feed.ledger.sealedSize,
    agents.map((agent) => agent.node.getMultiaddrs()[0]!)
  )
  assert.equal(reached.length, agents.length)
}
