/**
 * The table of digests already measured: keyed by one version of one file (device, inode, size,
 * mtime and ctime), bounded, and shared by callers that ask at the same time.
 */
import assert from 'node:assert/strict'
import { DigestCache, type FileIdentity } from '../../../src/agent/caller/index.js'

const FILE: FileIdentity = { dev: 1n, ino: 2n, size: 3n, mtimeNs: 4n, ctimeNs: 5n }

function counting(digest: number): { compute: () => Promise<Uint8Array>; calls: () => number } {
  let calls = 0
  return {
    compute: async () => {
      calls += 1
      return new Uint8Array(32).fill(digest)
    },
    calls: () => calls
  }
}

describe('agent/caller/digest-cache: digests of files already measured', () => {
  it('computes a version once, then answers from the table', async () => {
    const cache = new DigestCache(4)
    const { compute, calls } = counting(7)
    assert.deepEqual(await cache.digest(FILE, compute), new Uint8Array(32).fill(7))
    assert.deepEqual(await cache.digest({ ...FILE }, compute), new Uint8Array(32).fill(7))
    assert.equal(calls(), 1)
  })

  it('takes any change of device, inode, size, mtime or ctime for another version', async () => {
    const cache = new DigestCache(16)
    const { compute, calls } = counting(1)
    await cache.digest(FILE, compute)
    // A rewrite that restores the size and the mtime (utimes) still moves the ctime.
    for (const change of [{ dev: 9n }, { ino: 9n }, { size: 9n }, { mtimeNs: 9n }, { ctimeNs: 9n }])
      await cache.digest({ ...FILE, ...change }, compute)
    assert.equal(calls(), 6)
  })

  it('holds at most its capacity, forgetting the least recently used first', async () => {
    const cache = new DigestCache(2)
    const { compute, calls } = counting(1)
    const a = { ...FILE, ino: 10n }
    const b = { ...FILE, ino: 11n }
    const c = { ...FILE, ino: 12n }
    await cache.digest(a, compute)
    await cache.digest(b, compute)
    await cache.digest(a, compute) // a is now the most recent
    await cache.digest(c, compute) // b goes
    assert.equal(cache.size, 2)
    assert.equal(calls(), 3)
    await cache.digest(a, compute)
    assert.equal(calls(), 3)
    await cache.digest(b, compute)
    assert.equal(calls(), 4)
  })

  it('lets callers asking at the same time share one computation', async () => {
    const cache = new DigestCache(4)
    const { compute, calls } = counting(3)
    const digests = await Promise.all([cache.digest(FILE, compute), cache.digest(FILE, compute)])
    assert.equal(calls(), 1)
    assert.deepEqual(digests[0], digests[1])
  })

  it('does not record a failed computation', async () => {
    const cache = new DigestCache(4)
    await assert.rejects(
      cache.digest(FILE, async () => {
        throw new Error('read failed')
      }),
      /read failed/
    )
    assert.equal(cache.size, 0)
    const { compute, calls } = counting(5)
    assert.deepEqual(await cache.digest(FILE, compute), new Uint8Array(32).fill(5))
    assert.equal(calls(), 1)
  })

  it('gives each caller its own copy: changing one cannot change the recorded digest', async () => {
    const cache = new DigestCache(4)
    const { compute } = counting(2)
    const first = await cache.digest(FILE, compute)
    first.fill(0)
    assert.deepEqual(await cache.digest(FILE, compute), new Uint8Array(32).fill(2))
  })

  it('refuses a capacity below one', () => {
    assert.throws(() => new DigestCache(0), RangeError)
  })
})
