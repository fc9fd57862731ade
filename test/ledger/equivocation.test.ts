import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { HybridSigner, softwareP256Signer, nodeMlDsa65 } from '../../src/identity/index.js'
import {
  signCheckpoint, parseCheckpoint, verifyCheckpoint, detectEquivocation, verifyEquivocationEvidence, encodeEvidence, decodeEvidence, leafHash, subtreeRoot, consistencyProof,
  type CheckpointBody, type VerifiedCheckpoint
} from '../../src/ledger/index.js'

const feed = 'e'.repeat(52)
const signer = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32)))
const leaves = Array.from({ length: 20 }, (_, i) => leafHash(Buffer.from(`entry ${i}`)))
const forked = [...leaves.slice(0, 12), leafHash(Buffer.from('rewritten')), ...leaves.slice(13)]

async function checkpoint (tree: Uint8Array[], size: number, by = signer, epoch = 1): Promise<VerifiedCheckpoint> {
  const body: CheckpointBody = { origin: `fleet/${'0'.repeat(64)}/${feed}`, size, root: subtreeRoot(tree, 0, size), epoch, tpm: { clock: 1n, resetCount: 0, restartCount: 0 }, peers: [] }
  return verifyCheckpoint(parseCheckpoint(await signCheckpoint(body, by, feed)), { name: feed, key: by.publicKey })
}

describe('ledger/equivocation', () => {
  it('same size, different roots: evidence that verifies offline', async () => {
    const evidence = detectEquivocation(await checkpoint(leaves, 16), await checkpoint(forked, 16))
    assert.ok(evidence !== undefined)
    verifyEquivocationEvidence(decodeEvidence(encodeEvidence(evidence)), signer.publicKey)
  })

  it('a larger tree that does not extend the smaller: evidence from the larger tree\'s prefix root and its consistency proof', async () => {
    // The fork rewrote entry 12: a checkpoint of 14 entries cannot be a prefix of the forked 20.
    const small = await checkpoint(leaves, 14)
    const large = await checkpoint(forked, 20)
    const prefix = (m: number): { root: Uint8Array, proof: Uint8Array[] } => ({ root: subtreeRoot(forked, 0, m), proof: consistencyProof(forked, m, 20) })
    assert.equal(detectEquivocation(await checkpoint(leaves, 10), large, prefix(10)), undefined, 'entries before the fork are consistent')
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
      assert.throws(() => verifyEquivocationEvidence({ v: 1, feed, first: small.note, second: large.note, prefixRoot, proof: garbage }, signer.publicKey), { name: 'EvidenceRejectedError' })
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
    assert.throws(() => verifyEquivocationEvidence({ v: 1, feed, first: small.note, second: large.note, prefixRoot: subtreeRoot(leaves, 0, 10), proof }, signer.publicKey), { name: 'EvidenceRejectedError' })
  })

  it('forged evidence (a checkpoint signed by another key) and different epochs are refused', async () => {
    const other = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32)))
    const genuine = await checkpoint(leaves, 16)
    const forgedBy = await checkpoint(forked, 16, other)
    assert.throws(() => verifyEquivocationEvidence({ v: 1, feed, first: genuine.note, second: forgedBy.note, prefixRoot: new Uint8Array(0), proof: [] }, signer.publicKey), { name: 'EvidenceRejectedError' })
    const nextEpoch = await checkpoint(forked, 16, signer, 2)
    assert.equal(detectEquivocation(genuine, nextEpoch), undefined)
    assert.throws(() => verifyEquivocationEvidence({ v: 1, feed, first: genuine.note, second: nextEpoch.note, prefixRoot: new Uint8Array(0), proof: [] }, signer.publicKey), { name: 'EvidenceRejectedError' })
  })
})
