/**
 * startHeapTrim / the binding's trimHeap: memory freed through malloc, held in glibc's arenas
 * behind live allocations, goes back to the kernel.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { loadNative } from '../../src/attest/tpm/native.js'
import { procStatusMemory, startHeapTrim } from '../../src/agent/index.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

function anonBytes (): number {
  const { anon } = procStatusMemory(readFileSync('/proc/self/status', 'utf8'))
  if (anon === undefined) throw new Error('no RssAnon in /proc/self/status')
  return anon
}

/**
 * Frees ~60 MB of 4 KiB malloc blocks (Buffer backing stores, below malloc's mmap threshold)
 * while every 16th stays allocated, so no arena can shrink from its top; returns what stays.
 */
function fragmentHeap (): Buffer[] {
  const blocks = Array.from({ length: 16_384 }, () => Buffer.allocUnsafeSlow(4096).fill(1))
  const kept = blocks.filter((_, i) => i % 16 === 0)
  blocks.length = 0
  gc()
  gc()
  return kept
}

/** The blocks still allocated kept their contents through every trim. */
function assertIntact (blocks: Buffer[]): void {
  assert.equal(blocks.length, 1024)
  assert.ok(blocks.every((b) => b.length === 4096 && b[0] === 1 && b[4095] === 1), 'a live block changed')
}

describe('agent/heap-trim: freed malloc memory back to the kernel', function () {
  this.timeout(30_000)
  const isGlibc = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime !== undefined

  before(function () {
    if (process.platform !== 'linux' || !isGlibc) this.skip()
  })

  it('trimHeap returns the free pages of fragmented arenas (tens of MB), and nothing is lost', () => {
    const trim = loadNative().trimHeap
    assert.equal(typeof trim, 'function')
    const kept = fragmentHeap()
    const before = anonBytes()
    assert.equal(trim!(), true)
    const after = anonBytes()
    assert.ok(before - after > 20e6, `released only ${((before - after) / 1e6).toFixed(1)} MB (${(before / 1e6).toFixed(1)} → ${(after / 1e6).toFixed(1)} MB)`)
    assertIntact(kept)
  })

  it('startHeapTrim trims soon after start, then on its interval, until stopped', async () => {
    const kept = fragmentHeap()
    const before = anonBytes()
    const stop = startHeapTrim({ firstMs: 50, everyMs: 200 })
    try {
      await new Promise((resolve) => setTimeout(resolve, 300))
      const first = anonBytes()
      assert.ok(before - first > 20e6, `first trim released only ${((before - first) / 1e6).toFixed(1)} MB`)
      const again = fragmentHeap()
      const second = anonBytes()
      await new Promise((resolve) => setTimeout(resolve, 400))
      assert.ok(second - anonBytes() > 20e6, 'the interval did not trim again')
      assertIntact(again)
    } finally {
      stop()
    }
    const third = fragmentHeap()
    const stopped = anonBytes()
    await new Promise((resolve) => setTimeout(resolve, 400))
    assert.ok(stopped - anonBytes() < 10e6, 'trimmed after stop')
    assertIntact(kept)
    assertIntact(third)
  })
})
