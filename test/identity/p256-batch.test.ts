import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { stat as fsStat } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { nativeP256Verifier } from '../../src/attest/index.js'
import { nodeP256Verifier, type P256BatchItem } from '../../src/identity/index.js'
import { mixedBatch, p256Conformance, signedItem, testP256Key } from '../helpers/p256-conformance.js'

describe('identity/p256-batch: P-256 signatures checked in batches', () => {
  describe("node:crypto's verifier", () => {
    p256Conformance(() => nodeP256Verifier())

    it('keeps at most maxCachedKeys keys, and answers the same for keys it dropped', async () => {
      const verifier = nodeP256Verifier({ maxCachedKeys: 2 })
      const { items, valid } = mixedBatch([testP256Key(), testP256Key(), testP256Key(), testP256Key()], 40)
      assert.deepEqual(await verifier.verifyAll(items), valid)
      assert.deepEqual(await verifier.verifyAll(items.toReversed()), valid.toReversed())
    })
  })

  describe("the native binding's verifier (nativeP256Verifier)", () => {
    describe('without tables', () => {
      p256Conformance(() => nativeP256Verifier({ tableAfterUses: 0 }))
    })
    describe('with a table for every key from its first use', () => {
      p256Conformance(() => nativeP256Verifier({ tableAfterUses: 1, maxTables: 64 }))
    })
    describe('with the default bounds, on one thread', () => {
      p256Conformance(() => nativeP256Verifier({ threads: 1 }))
    })

    it('builds a table for a key once it has been used tableAfterUses times, and no more than maxTables', async () => {
      const keys = [testP256Key(), testP256Key(), testP256Key()]
      const verifier = nativeP256Verifier({ tableAfterUses: 50, maxTables: 2 })
      // 40 items per key and batch, all valid: 40 uses, then 80 (over 50) for each key.
      const first = mixedBatch(keys, 3 * 40, Number.POSITIVE_INFINITY)
      assert.deepEqual(await verifier.verifyAll(first.items), first.valid)
      assert.deepEqual(verifier.stats(), { keys: 3, tables: 0 })
      const second = mixedBatch(keys, 3 * 40, 4)
      assert.deepEqual(await verifier.verifyAll(second.items), second.valid)
      assert.equal(verifier.stats().tables, 2)
      const third = mixedBatch(keys, 3 * 40, 4)
      assert.deepEqual(await verifier.verifyAll(third.items), third.valid)
    })

    it('keeps at most maxCachedKeys keys, and frees the table of a key it drops', async () => {
      const verifier = nativeP256Verifier({ maxCachedKeys: 2, tableAfterUses: 1, maxTables: 1 })
      const [a, b, c] = [testP256Key(), testP256Key(), testP256Key()]
      const batchOf = (key: typeof a): P256BatchItem[] => [signedItem(key, crypto.randomBytes(100))]
      assert.deepEqual(await verifier.verifyAll(batchOf(a)), [true])
      assert.deepEqual(verifier.stats(), { keys: 1, tables: 1 })
      assert.deepEqual(await verifier.verifyAll(batchOf(b)), [true])
      assert.deepEqual(verifier.stats(), { keys: 2, tables: 1 })
      // b found no room for a table. a is the least recently used: dropped with its table when c
      // comes, which frees the room for c's.
      assert.deepEqual(await verifier.verifyAll(batchOf(c)), [true])
      assert.deepEqual(verifier.stats(), { keys: 2, tables: 1 })
      // a again, parsed anew (b dropped), and without a table: c holds the only one.
      assert.deepEqual(await verifier.verifyAll(batchOf(a)), [true])
      assert.deepEqual(verifier.stats(), { keys: 2, tables: 1 })
    })

    it('agrees with node:crypto item by item on a large mixed batch, checked by several batches at once', async () => {
      const keys = [testP256Key(), testP256Key(), testP256Key(), testP256Key(), testP256Key()]
      const { items, valid } = mixedBatch(keys, 1500, 3)
      const native = nativeP256Verifier({ tableAfterUses: 100 })
      const [byNode, ...byNative] = await Promise.all([
        nodeP256Verifier().verifyAll(items),
        native.verifyAll(items),
        native.verifyAll(items.slice(500)),
        native.verifyAll(items.slice(0, 700))
      ])
      assert.deepEqual(byNode, valid)
      assert.deepEqual(byNative, [valid, valid.slice(500), valid.slice(0, 700)])
    })

    it('leaves the libuv thread pool to I/O: a stat started after six long batches ends before them', async () => {
      const key = testP256Key()
      const items = Array.from({ length: 3000 }, () => signedItem(key, crypto.randomBytes(64)))
      const verifier = nativeP256Verifier({ tableAfterUses: 0, threads: 1 })
      const order: string[] = []
      const batches = Array.from({ length: 6 }, async () => {
        const valid = await verifier.verifyAll(items)
        order.push(valid.every(Boolean) ? 'batch' : 'batch with an invalid signature')
      })
      // As work items of the pool, these would take its 4 threads, and the stat would wait.
      const stat = fsStat(fileURLToPath(import.meta.url)).then(() => order.push('stat'))
      await Promise.all([...batches, stat])
      assert.deepEqual(order, ['stat', ...Array(6).fill('batch')])
    })

    it('works on copies: changing the items while a batch is checked does not change its answers', async () => {
      const key = testP256Key()
      const items = Array.from({ length: 64 }, () => signedItem(key, crypto.randomBytes(64)))
      const pending = nativeP256Verifier().verifyAll(items)
      for (const item of items) item.signature[5]! ^= 1
      assert.deepEqual(await pending, Array(64).fill(true))
    })
  })
})
