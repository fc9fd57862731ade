import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { HybridSigner, softwareP256Signer, nodeMlDsa65 } from '../../src/identity/index.js'
import {
  FeedLedger,
  BASE_ONTOLOGY,
  MemoryLedgerStore,
  ReplicaStore,
  ownFeedSource,
  nodeCryptoHasher,
  type Hasher
} from '../../src/ledger/index.js'
import { popCount } from '../../src/ledger/batch-hash.js'
import { hasherConformance } from '../helpers/hasher-conformance.js'

/** nodeCryptoHasher, counting its calls. */
function countingHasher(): Hasher & { entries: number; pairs: number } {
  const counted = {
    entries: 0,
    pairs: 0,
    hashEntries: (...args: Parameters<Hasher['hashEntries']>) => {
      counted.entries++
      nodeCryptoHasher.hashEntries(...args)
    },
    hashPairs: (...args: Parameters<Hasher['hashPairs']>) => {
      counted.pairs++
      nodeCryptoHasher.hashPairs(...args)
    }
  }
  return counted
}

describe('ledger/batch-hash: chaining and hashing a batch of entries in one call', () => {
  describe('the node:crypto hasher (the default)', () => {
    hasherConformance(nodeCryptoHasher)
  })

  it('popCount counts the set bits of safe integers (the roots of a frontier of that size)', () => {
    const cases = [
      [0, 0],
      [1, 1],
      [6, 2],
      [255, 8],
      [2 ** 32, 1],
      [Number.MAX_SAFE_INTEGER, 53]
    ] as const
    for (const [size, bits] of cases) assert.equal(popCount(size), bits)
  })

  it('the ledger, a feed source and a replica store hash with the hasher they are given', async () => {
    const feed = 'b'.repeat(52)
    const fleetId = new Uint8Array(32).fill(7)
    const signer = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32)))
    const [ledgerHasher, sourceHasher, replicaHasher] = [countingHasher(), countingHasher(), countingHasher()]
    const [db, replicaDb] = [new MemoryLedgerStore(), new MemoryLedgerStore()]
    await db.open()
    const tpmClock = { readTpmClock: async () => ({ clock: 1n, resetCount: 1, restartCount: 0 }) }
    const ledger = new FeedLedger(
      {
        store: db,
        signer,
        clock: { now: () => 1_795_000_000_000 },
        tpmClock,
        ontology: BASE_ONTOLOGY,
        hasher: ledgerHasher
      },
      { fleetId, feedId: feed, batchMs: 10_000 }
    )
    try {
      await ledger.start()
      const append = async (i: number): Promise<unknown> =>
        await ledger.append({
          type: 'alert.tamper',
          actor: { id: `agent/${feed}`, role: 'agent' },
          attest: null,
          body: { subject: feed, pcr: 7, detail: `r-${i}` }
        })
      await Promise.all(Array.from({ length: 100 }, async (_, i) => await append(i)))
      await ledger.checkpoint()
      assert.ok(ledgerHasher.entries > 0, 'the ledger hashed its appends with its hasher')
      await replicaDb.open()
      const store = new ReplicaStore(replicaDb, { hasher: replicaHasher })
      const source = ownFeedSource(db, feed, { hasher: sourceHasher })
      await source.proofBetween(40, 100)
      assert.ok(sourceHasher.pairs > 0, 'the source hashed the Merkle levels of its leaves with its hasher')
      const batch = await source.batch(0)
      assert.ok(batch !== undefined)
      const trust = { fleetId, feedKey: signer.publicKey, ontology: BASE_ONTOLOGY }
      assert.equal((await store.apply(batch, trust)).added, 100)
      assert.ok(replicaHasher.entries > 0, 'the replica verified the batch with its hasher')
      assert.deepEqual([ledgerHasher.pairs, sourceHasher.entries], [0, 0])
    } finally {
      await ledger.stop()
      await db.close()
      await replicaDb.close()
    }
  })
})
