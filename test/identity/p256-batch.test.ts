import assert from 'node:assert/strict'
import { nodeP256Verifier } from '../../src/identity/index.js'
import { mixedBatch, p256Conformance, testP256Key } from '../helpers/p256-conformance.js'

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
})
