/**
 * Regression: a batch of the owner's feed holding an ontology.update and the first entry of an
 * action it adds was refused by every replica ("not in ontology version 3"), since the batch was
 * checked against the ontology in force before it. An update now counts from the next entry.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { HybridSigner, softwareP256Signer, nodeMlDsa65 } from '../../src/identity/index.js'
import { encodeCanonical } from '../../src/codec/index.js'
import {
  BASE_ONTOLOGY,
  FeedLedger,
  MemoryLedgerStore,
  ReplicaStore,
  decodeEntry,
  formatOntologyActions,
  ontologyAfter,
  ownerFeedId,
  ownFeedSource,
  type ActionSpec,
  type AppendInput
} from '../../src/ledger/index.js'

const fleetId = new Uint8Array(32).fill(5)
const owner = ownerFeedId(fleetId)
const signer = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32)))
const added: Record<string, ActionSpec> = {
  'owner.note': { roles: ['owner'], body: { text: { kind: 'string', max: 64 } } }
}
const statement = (type: string, body: Record<string, unknown>): AppendInput => ({
  type,
  actor: { id: 'owner/test', role: 'owner' },
  attest: null,
  body
})
const update = statement('ontology.update', { version: 4, actions: encodeCanonical(formatOntologyActions(added)) })

async function ownerFeed(): Promise<{ ledger: FeedLedger; store: MemoryLedgerStore }> {
  const store = new MemoryLedgerStore()
  await store.open()
  const ledger = new FeedLedger(
    {
      store,
      signer,
      clock: { now: () => 1_795_000_000_000 },
      tpmClock: { readTpmClock: async () => ({ clock: 1n, resetCount: 1, restartCount: 0 }) },
      ontology: BASE_ONTOLOGY
    },
    { fleetId, feedId: owner, batchMs: 60_000 }
  )
  await ledger.start()
  return { ledger, store }
}

describe('ledger/replica: an ontology.update in the batch it is replicated in', () => {
  it("takes the owner's entries of an action added earlier in the same batch", async () => {
    const { ledger, store } = await ownerFeed()
    const { seq } = await ledger.append(update)
    ledger.useOntology(ontologyAfter(BASE_ONTOLOGY, decodeEntry((await ledger.getEntry(seq))!).entry))
    await ledger.append(statement('owner.note', { text: 'hello' }))
    await ledger.checkpoint()
    const batch = (await ownFeedSource(store, owner).batch(0))!
    assert.equal(batch.entries.length, 2)
    const replicaDb = new MemoryLedgerStore()
    await replicaDb.open()
    const { added: taken } = await new ReplicaStore(replicaDb).apply(batch, {
      fleetId,
      feedKey: signer.publicKey,
      ontology: BASE_ONTOLOGY
    })
    assert.equal(taken, 2)
  })

  it('still refuses an entry of an action before the update that adds it', async () => {
    const { ledger, store } = await ownerFeed()
    ledger.useOntology(ontologyAfter(BASE_ONTOLOGY, { type: 'ontology.update', body: update.body } as never))
    await ledger.append(statement('owner.note', { text: 'too early' }))
    await ledger.append(update)
    await ledger.checkpoint()
    const batch = (await ownFeedSource(store, owner).batch(0))!
    const replicaDb = new MemoryLedgerStore()
    await replicaDb.open()
    await assert.rejects(
      new ReplicaStore(replicaDb).apply(batch, { fleetId, feedKey: signer.publicKey, ontology: BASE_ONTOLOGY }),
      (err: Error) => err.name === 'ReplicaRejectedError' && /not in ontology version 3/.test(err.message)
    )
  })
})
