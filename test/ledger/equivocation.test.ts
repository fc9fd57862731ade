import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { HybridSigner, softwareP256Signer, nodeMlDsa65 } from '../../src/identity/index.js'
import {
  signCheckpoint,
  parseCheckpoint,
  verifyCheckpoint,
  detectEquivocation,
  verifyEquivocationEvidence,
  encodeEvidence,
  decodeEvidence,
  evidenceId,
  leafHash,
  subtreeRoot,
  consistencyProof,
  type CheckpointBody,
  type VerifiedCheckpoint
} from '../../src/ledger/index.js'

const feed = 'e'.repeat(52)
const signer = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32)))
const leaves = Array.from({ length: 20 }, (_, i) => leafHash(Buffer.from(`entry ${i}`)))
const forked = [...leaves.slice(0, 12), leafHash(Buffer.from('rewritten')), ...leaves.slice(13)]

async function checkpoint(tree: Uint8Array[], size: number, by = signer, epoch = 1): Promise<VerifiedCheckpoint> {
  const body: CheckpointBody = {
    origin: `fleet/${'0'.repeat(64)}/${feed}`,
    size,
    root: subtreeRoot(tree, 0, size),
    epoch,
    tpm: { clock: 1n, resetCount: 0, restartCount: 0 },
    peers: []
  }
  return verifyCheckpoint(parseCheckpoint(await signCheckpoint(body, by, feed)), { name: feed, key: by.publicKey })
}

describe('ledger/equivocation', () => {
  it('same size, different roots: evidence that verifies offline', async () => {
    const evidence = detectEquivocation(await checkpoint(leaves, 16), await checkpoint(forked, 16))
    assert.ok(evidence !== undefined)
    verifyEquivocationEvidence(decodeEvidence(encodeEvidence(evidence)), signer.publicKey)
  })

  it("a larger tree that does not extend the smaller: evidence from the larger tree's prefix root and its consistency proof", async () => {
    // The fork rewrote entry 12: a checkpoint of 14 entries cannot be a prefix of the forked 20.
    const small = await checkpoint(leaves, 14)
    const large = await checkpoint(forked, 20)
    const prefix = (m: number): { root: Uint8Array; proof: Uint8Array[] } => ({
      root: subtreeRoot(forked, 0, m),
      proof: consistencyProof(forked, m, 20)
    })
    assert.equal(
      detectEquivocation(await checkpoint(leaves, 10), large, prefix(10)),
      undefined,
      'entries before the fork are consistent'
    )
    const evidence = detectEquivocation(small, large, prefix(14))
    assert.ok(evidence !== undefined)
    verifyEquivocationEvidence(decodeEvidence(encodeEvidence(evidence)), signer.publicKey)
  })

  it('a proof that merely fails is not evidence: consistent checkpoints cannot be framed with garbage', async () => {
    const small = await checkpoint(leaves, 10)
    const large = await checkpoint(leaves, 20)
    const garbage = [new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)]
    assert.equal(detectEquivocation(small, large, { root: new Uint8Array(32).fill(3), proof: garbage }), undefined)
    for (const prefixRoot of [new Uint8Array(32).fill(3), subtreeRoot(leaves, 0, 10)]) {
      assert.throws(
        () =>
          verifyEquivocationEvidence(
            { v: 1, feed, first: small.note, second: large.note, prefixRoot, proof: garbage },
            signer.publicKey
          ),
        { name: 'EvidenceRejectedError' }
      )
    }
  })

  it('malformed evidence bytes are refused with a typed error', () => {
    for (const bytes of [new Uint8Array(0), Uint8Array.of(0xa0), new Uint8Array(40_000), Uint8Array.of(0x01)]) {
      assert.throws(() => decodeEvidence(bytes), { name: 'EvidenceRejectedError' })
    }
  })

  it('consistent checkpoints are not evidence; offering them as evidence is refused', async () => {
    const small = await checkpoint(leaves, 10)
    const large = await checkpoint(leaves, 20)
    const proof = consistencyProof(leaves, 10, 20)
    assert.equal(detectEquivocation(small, large, { root: subtreeRoot(leaves, 0, 10), proof }), undefined)
    assert.throws(
      () =>
        verifyEquivocationEvidence(
          { v: 1, feed, first: small.note, second: large.note, prefixRoot: subtreeRoot(leaves, 0, 10), proof },
          signer.publicKey
        ),
      { name: 'EvidenceRejectedError' }
    )
  })

  it('forged evidence (a checkpoint signed by another key) is refused', async () => {
    const other = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32)))
    const genuine = await checkpoint(leaves, 16)
    const forgedBy = await checkpoint(forked, 16, other)
    assert.throws(
      () =>
        verifyEquivocationEvidence(
          { v: 1, feed, first: genuine.note, second: forgedBy.note, prefixRoot: new Uint8Array(0), proof: [] },
          signer.publicKey
        ),
      { name: 'EvidenceRejectedError' }
    )
  })

  it('a history re-signed under epoch 2 is evidence of equivocation like any other: the epoch line excuses nothing', async () => {
    const genuine = await checkpoint(leaves, 16)
    const nextEpoch = await checkpoint(forked, 16, signer, 2)
    const evidence = detectEquivocation(genuine, nextEpoch)
    assert.ok(evidence !== undefined)
    const verified = verifyEquivocationEvidence(decodeEvidence(encodeEvidence(evidence)), signer.publicKey)
    assert.equal(verified.epoch, 2)
    assert.deepEqual(verified.fork, { first: { size: 16, epoch: 1 }, second: { size: 16, epoch: 2 } })
    // Of different sizes too: the larger tree in epoch 2 does not extend the smaller one of epoch 1.
    const large = await checkpoint(forked, 20, signer, 2)
    const grown = detectEquivocation(await checkpoint(leaves, 14), large, {
      root: subtreeRoot(forked, 0, 14),
      proof: consistencyProof(forked, 14, 20)
    })
    assert.ok(grown !== undefined)
    assert.equal(verifyEquivocationEvidence(grown, signer.publicKey).epoch, 2)
    // A consistent history restated in another epoch is not equivocation (it is refused as unauthorised elsewhere).
    assert.equal(detectEquivocation(genuine, await checkpoint(leaves, 16, signer, 2)), undefined)
  })

  it('evidence has one id whichever order its checkpoints come in, and the id does not depend on signature lines', async () => {
    const a = await checkpoint(leaves, 16)
    const b = await checkpoint(forked, 16)
    const one = detectEquivocation(a, b)!
    const other = detectEquivocation(b, a)!
    assert.deepEqual(evidenceId(one), evidenceId(other))
    // The same two checkpoints signed again (ML-DSA signatures differ each time) are the same evidence.
    const again = detectEquivocation(await checkpoint(leaves, 16), await checkpoint(forked, 16))!
    assert.deepEqual(evidenceId(again), evidenceId(one))
    // Another pair is other evidence.
    const elsewhere = detectEquivocation(await checkpoint(leaves, 12), await checkpoint(forked, 13), {
      root: subtreeRoot(forked, 0, 12),
      proof: consistencyProof(forked, 12, 13)
    })
    assert.equal(elsewhere, undefined, 'entry 12 is the first rewritten: the first 12 agree')
    const later = detectEquivocation(await checkpoint(leaves, 18), await checkpoint(forked, 18))!
    assert.notDeepEqual(evidenceId(later), evidenceId(one))
  })
})
