import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { HybridSigner, softwareP256Signer, nodeMlDsa65 } from '../../src/identity/index.js'
import {
  FeedLedger,
  BASE_ONTOLOGY,
  ReplicaStore,
  ownFeedSource,
  feedSublevels,
  replicaSpace,
  verifyStoredFeed,
  makeProofBundle,
  verifyProofBundle,
  exportFeed,
  verifyExport,
  type LedgerStore,
  type TpmClockSource
} from '../../src/ledger/index.js'
import { STORE_KINDS } from './store/kinds.js'

const feed = 'a'.repeat(52)
const fleetId = new Uint8Array(32).fill(1)
const signer = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32)))
const clock = { now: () => 1_795_000_000_000 }
const tpmClock: TpmClockSource = { readTpmClock: async () => ({ clock: 1000n, resetCount: 3, restartCount: 0 }) }
const feedInfo = { fleetId, feedId: feed, key: signer.publicKey, ontology: BASE_ONTOLOGY }
const proofTrust = { feedKey: signer.publicKey, fleetId, ontology: BASE_ONTOLOGY }
const action = (i: number): Parameters<FeedLedger['append']>[0] => ({
  type: 'alert.tamper',
  actor: { id: `agent/${feed}`, role: 'agent' },
  attest: null,
  body: { subject: feed, pcr: 7, detail: `record-${i}` }
})

const ledgerOn = (store: LedgerStore): FeedLedger =>
  new FeedLedger(
    { store, signer, clock, tpmClock, ontology: BASE_ONTOLOGY },
    {
      fleetId,
      feedId: feed,
      batchMs: 3_600_000
    }
  )

/** Records the `sync` option of every write the store is given, directly or through a batch. */
function recordSyncs(store: LedgerStore): boolean[] {
  const syncs: boolean[] = []
  const write = store.write.bind(store)
  store.write = async (writes, options) => {
    syncs.push(options.sync)
    await write(writes, options)
  }
  const batch = store.batch.bind(store)
  store.batch = () => {
    const made = batch()
    const written = made.write.bind(made)
    made.write = async (options) => {
      syncs.push(options.sync)
      await written(options)
    }
    return made
  }
  return syncs
}

describe('ledger/FeedLedger on each LedgerStore: append, verify, prove, export, restart, replicate', function () {
  this.timeout(120_000)
  const outcomes = new Map<string, { root: string; entries: Buffer[] }>()

  for (const kind of STORE_KINDS) {
    it(`runs the whole flow on ${kind.name}, every write synced`, async () => {
      const store = await kind.make()
      const replicaStore = await kind.make()
      const syncs = recordSyncs(store)
      try {
        const ledger = ledgerOn(store)
        await ledger.start()
        // More than one group-commit chunk at once, then a few more in their own batches.
        const acks = await Promise.all(Array.from({ length: 1500 }, async (_, i) => await ledger.append(action(i))))
        assert.deepEqual(
          acks.map((a) => a.seq),
          Array.from({ length: 1500 }, (_, i) => i)
        )
        await ledger.checkpoint()
        for (let i = 1500; i < 1503; i++) await ledger.append(action(i))
        await ledger.checkpoint()
        await ledger.stop()
        assert.ok(syncs.length >= 4 && syncs.every((sync) => sync), `writes synced: ${JSON.stringify(syncs)}`)

        const report = await verifyStoredFeed(store, feedInfo)
        const { entries: count, checkpoints, sealed } = report
        assert.deepEqual({ count, checkpoints, sealed }, { count: 1503, checkpoints: 2, sealed: 1503 })
        for (const seq of [0, 999, 1000, 1502]) {
          const bundle = await makeProofBundle(store, { feedId: feed, seq })
          const proved = verifyProofBundle(JSON.parse(JSON.stringify(bundle)), proofTrust)
          assert.deepEqual({ seq: proved.seq, size: proved.checkpointSize }, { seq, size: seq < 1500 ? 1500 : 1503 })
          if (seq >= 1500) assert.equal(proved.root, report.root)
        }
        await assert.rejects(makeProofBundle(store, { feedId: feed, seq: 1503 }), { name: 'ProofError' })
        const lines: string[] = []
        for await (const line of exportFeed(store, { feedId: feed })) lines.push(JSON.stringify(line))
        assert.deepEqual(await verifyExport(lines, { ...proofTrust, feedId: feed }), report)

        // A restart on the same store resumes the feed where it was.
        await store.close()
        await store.open()
        const again = ledgerOn(store)
        await again.start()
        assert.deepEqual({ size: again.size, sealed: again.sealedSize }, { size: 1503, sealed: 1503 })
        assert.equal((await again.append(action(1503))).seq, 1503)
        await again.stop()

        // A replica in another store of the same kind, copied batch by batch, proves the same entries.
        const replicas = new ReplicaStore(replicaStore)
        const source = ownFeedSource(store, feed)
        const held = async (): Promise<number> => (await replicas.meta(feed)).size
        for (let batch = await source.batch(0); batch !== undefined; batch = await source.batch(await held())) {
          await replicas.apply(batch, proofTrust)
        }
        assert.equal((await replicas.meta(feed)).size, 1504)
        const fromReplica = await makeProofBundle(replicaSpace(replicaStore, feed), { feedId: feed, seq: 1200 })
        assert.equal(fromReplica.entry, (await makeProofBundle(store, { feedId: feed, seq: 1200 })).entry)
        assert.equal(verifyProofBundle(fromReplica, proofTrust).seq, 1200)
        assert.equal((await verifyStoredFeed(replicaSpace(replicaStore, feed), feedInfo)).entries, 1504)

        // A flipped byte in a stored run is found.
        const { entries } = feedSublevels(store)
        let first: [string, Uint8Array] | undefined
        for await (const pair of entries.iterator({ limit: 1 })) first = pair
        const [key, run] = first!
        const flipped = Uint8Array.from(run, (b, i) => (i === run.length - 1 ? b ^ 1 : b))
        await store.write([{ type: 'put', sublevel: entries, key, value: flipped }], { sync: true })
        await assert.rejects(verifyStoredFeed(store, feedInfo), { name: 'FeedVerificationError' })
        await store.write([{ type: 'put', sublevel: entries, key, value: run }], { sync: true })

        const stored: Buffer[] = []
        for await (const bytes of replicas.entries(feed)) stored.push(Buffer.from(bytes))
        outcomes.set(kind.name, { root: report.root, entries: stored })
      } finally {
        await store.close()
        await replicaStore.close()
      }
    })
  }

  it('both stores hold the same entry bytes and the same tree', () => {
    const [level, memory] = STORE_KINDS.map((kind) => outcomes.get(kind.name))
    assert.ok(level !== undefined && memory !== undefined, 'a flow above failed')
    assert.equal(memory.root, level.root)
    assert.equal(memory.entries.length, level.entries.length)
    assert.ok(memory.entries.every((bytes, i) => bytes.equals(level.entries[i]!)))
  })
})
