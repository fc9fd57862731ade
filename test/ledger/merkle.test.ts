import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import {
  leafHash,
  nodeHash,
  subtreeRoot,
  levelsRoot,
  MerkleFrontier,
  inclusionProof,
  verifyInclusion,
  consistencyProof,
  verifyConsistency,
  EMPTY_ROOT,
  ProofError
} from '../../src/ledger/index.js'

/** RFC 9162 §2.1.1 MTH written the slow, obvious way, as the reference. */
function naiveRoot(data: Uint8Array[]): Uint8Array {
  if (data.length === 0) return new Uint8Array(createHash('sha256').digest())
  if (data.length === 1) return new Uint8Array(createHash('sha256').update(Uint8Array.of(0)).update(data[0]!).digest())
  let k = 1
  while (k * 2 < data.length) k *= 2
  return new Uint8Array(
    createHash('sha256')
      .update(Uint8Array.of(1))
      .update(naiveRoot(data.slice(0, k)))
      .update(naiveRoot(data.slice(k)))
      .digest()
  )
}

const data = Array.from({ length: 64 }, (_, i) => new Uint8Array(Buffer.from(`entry ${i}`)))
const leaves = data.map(leafHash)

describe('ledger/merkle (RFC 9162)', () => {
  it('the empty tree is SHA-256 of nothing', () => {
    assert.deepEqual(Buffer.from(new MerkleFrontier().root()), Buffer.from(EMPTY_ROOT))
    assert.equal(
      Buffer.from(EMPTY_ROOT).toString('hex'),
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
    )
  })

  it('frontier appends give the reference root for every size 1..64', () => {
    let frontier = new MerkleFrontier()
    for (let n = 1; n <= 64; n++) {
      frontier = frontier.append(leaves[n - 1]!)
      const expected = naiveRoot(data.slice(0, n))
      assert.deepEqual(Buffer.from(frontier.root()), Buffer.from(expected), `size ${n}`)
      assert.deepEqual(Buffer.from(subtreeRoot(leaves, 0, n)), Buffer.from(expected), `size ${n}`)
    }
  })

  it('every inclusion proof of every tree up to 64 verifies, and fails for another leaf, index or root', () => {
    for (let n = 1; n <= 64; n++) {
      const root = subtreeRoot(leaves, 0, n)
      for (let i = 0; i < n; i++) {
        const proof = inclusionProof(leaves, i, n)
        verifyInclusion(leaves[i]!, i, n, proof, root)
        if (n > 1) {
          assert.throws(() => verifyInclusion(leaves[(i + 1) % n]!, i, n, proof, root), { name: 'ProofError' })
          assert.throws(() => verifyInclusion(leaves[i]!, (i + 1) % n, n, proof, root), { name: 'ProofError' })
        }
        assert.throws(() => verifyInclusion(leaves[i]!, i, n, proof, nodeHash(root, root)), { name: 'ProofError' })
      }
    }
  })

  it('every consistency proof between sizes up to 64 verifies, and fails when tampered', () => {
    for (let n = 1; n <= 64; n++) {
      const newRoot = subtreeRoot(leaves, 0, n)
      for (let m = 1; m <= n; m++) {
        const oldRoot = subtreeRoot(leaves, 0, m)
        const proof = consistencyProof(leaves, m, n)
        verifyConsistency(m, n, oldRoot, newRoot, proof)
        if (m < n) {
          const forgedOld = nodeHash(oldRoot, oldRoot)
          assert.throws(
            () => verifyConsistency(m, n, forgedOld, newRoot, proof),
            { name: 'ProofError' },
            `${m}->${n} old`
          )
          assert.throws(
            () => verifyConsistency(m, n, oldRoot, forgedOld, proof),
            { name: 'ProofError' },
            `${m}->${n} new`
          )
          if (proof.length > 0) {
            const tampered = proof.map((p, i) => (i === 0 ? nodeHash(p, p) : p))
            assert.throws(
              () => verifyConsistency(m, n, oldRoot, newRoot, tampered),
              { name: 'ProofError' },
              `${m}->${n} path`
            )
            assert.throws(
              () => verifyConsistency(m, n, oldRoot, newRoot, proof.slice(0, -1)),
              { name: 'ProofError' },
              `${m}->${n} short`
            )
          }
        }
      }
    }
  })

  it('a rewritten history is not consistent with what was published', () => {
    const forked = [...leaves.slice(0, 10), leafHash(Buffer.from('rewritten')), ...leaves.slice(11, 20)]
    const published = subtreeRoot(leaves, 0, 16)
    assert.throws(
      () => verifyConsistency(16, 20, published, subtreeRoot(forked, 0, 20), consistencyProof(forked, 16, 20)),
      { name: 'ProofError' }
    )
  })

  it('refuses malformed frontiers and proofs', () => {
    assert.throws(() => new MerkleFrontier(3, [leaves[0]!]), RangeError)
    assert.throws(() => verifyInclusion(leaves[0]!, 5, 3, [], leaves[0]!), { name: 'ProofError' })
    assert.throws(() => verifyInclusion(leaves[0]!, 0, 2, [new Uint8Array(5)], leaves[0]!), {
      name: 'ProofHashLengthError'
    })
    assert.throws(() => verifyConsistency(5, 3, leaves[0]!, leaves[0]!, []), { name: 'ProofError' })
  })

  it('a leaf, root or proof hash that is not 32 bytes is refused with ProofHashLengthError, even where the arithmetic would accept it (it was hashed as given)', () => {
    const refused = (run: () => void, which: string, length: number): void => {
      assert.throws(run, (err: Error & { which: string; length: number; code: string; kind: string }) => {
        assert.equal(err.name, 'ProofHashLengthError')
        assert.ok(err instanceof ProofError)
        assert.equal(err.code, 'ERR_PROOF_HASH_LENGTH')
        assert.deepEqual([err.which, err.length], [which, length])
        return true
      })
    }
    // A one-leaf tree whose "leaf" and "root" are the same short or long value: old code accepted it.
    for (const length of [0, 1, 31, 33, 64]) {
      const odd = new Uint8Array(length).fill(7)
      refused(() => verifyInclusion(odd, 0, 1, [], odd), 'leaf', length)
      refused(() => verifyInclusion(leaves[0]!, 0, 1, [], odd), 'root', length)
      // Equal sizes with equal (odd-sized) roots: old code accepted it as consistent.
      refused(() => verifyConsistency(4, 4, odd, odd, []), 'old root', length)
      refused(
        () => verifyConsistency(4, 8, subtreeRoot(leaves, 0, 4), odd, consistencyProof(leaves, 4, 8)),
        'new root',
        length
      )
    }
    // A 64-byte "old root" made of two real children, offered where one 32-byte root belongs.
    const joined = Uint8Array.from([...subtreeRoot(leaves, 0, 2), ...subtreeRoot(leaves, 2, 4)])
    refused(
      () => verifyConsistency(4, 8, joined, subtreeRoot(leaves, 0, 8), consistencyProof(leaves, 4, 8)),
      'old root',
      64
    )
    const proof = inclusionProof(leaves, 5, 16)
    refused(
      () =>
        verifyInclusion(
          leaves[5]!,
          5,
          16,
          proof.map((p, i) => (i === 2 ? p.subarray(0, 16) : p)),
          subtreeRoot(leaves, 0, 16)
        ),
      'proof[2]',
      16
    )
    const consistency = consistencyProof(leaves, 3, 16)
    refused(
      () =>
        verifyConsistency(
          3,
          16,
          subtreeRoot(leaves, 0, 3),
          subtreeRoot(leaves, 0, 16),
          consistency.map((p, i) => (i === 1 ? new Uint8Array(48) : p))
        ),
      'proof[1]',
      48
    )
  })

  it('levelsRoot (cached perfect subtrees, as a feed source keeps them) gives the roots and proofs the leaves give', () => {
    // Levels as FeedSource builds them: complete pairs only, for a tree of 53 leaves (not a power of two).
    const held = leaves.slice(0, 53)
    const levels: Uint8Array[][] = [held]
    for (let j = 1; levels[j - 1]!.length >= 2; j++) {
      const below = levels[j - 1]!
      const level: Uint8Array[] = []
      while (level.length * 2 + 1 < below.length)
        level.push(nodeHash(below[level.length * 2]!, below[level.length * 2 + 1]!))
      levels.push(level)
    }
    for (let start = 0; start <= 53; start++) {
      for (let end = start; end <= 53; end++)
        assert.deepEqual(levelsRoot(levels, start, end), subtreeRoot(held, start, end), `[${start}, ${end})`)
    }
    for (let m = 1; m <= 53; m++) {
      const proof = consistencyProof(held, m, 53, (start, end) => levelsRoot(levels, start, end))
      assert.deepEqual(proof, consistencyProof(held, m, 53))
      verifyConsistency(m, 53, subtreeRoot(held, 0, m), subtreeRoot(held), proof)
    }
  })
})
