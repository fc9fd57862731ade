/**
 * startMemoryTrim and the binding's trimHeap and releaseExecutablePages: memory freed through
 * malloc, held in glibc's arenas behind live allocations, goes back to the kernel; so do the
 * resident pages of Node's executable mapped read-only, while its written (private) pages stay.
 */
import assert from 'node:assert/strict'
import { readFileSync, readlinkSync } from 'node:fs'
import { runInNewContext } from 'node:vm'
import { nativeMemory } from '../../../src/attest/index.js'
import { procStatusMemory, startMemoryTrim } from '../../../src/agent/index.js'
import { gc } from '../../helpers/gc.js'

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

interface Mapping { perms: string, rssKb: number, anonymousKb: number }

/** The mappings of this process's executable (Node), from /proc/self/smaps. */
function executableMappings (): Mapping[] {
  const exe = readlinkSync('/proc/self/exe')
  const mappings: Mapping[] = []
  let current: Mapping | undefined
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+ (\S{4}) \S+ \S+ \S+\s*(.*)$/.exec(line)
    if (header !== null) {
      current = header[2] === exe ? { perms: header[1]!, rssKb: 0, anonymousKb: 0 } : undefined
      if (current !== undefined) mappings.push(current)
      continue
    }
    const field = /^(Rss|Anonymous):\s+(\d+) kB/.exec(line)
    if (field !== null && current !== undefined) current[field[1] === 'Rss' ? 'rssKb' : 'anonymousKb'] = Number(field[2])
  }
  return mappings
}

/** Resident kB of the executable's read-only mappings that hold no private pages: what may be released. */
const releasableKb = (mappings: Mapping[]): number =>
  mappings.filter((m) => m.perms[1] === '-' && m.anonymousKb === 0).reduce((sum, m) => sum + m.rssKb, 0)

/** Touches a spread of Node's code and data again: compiles, runs, formats numbers (ICU), parses JSON. */
function work (): string {
  const source = Array.from({ length: 200 }, (_, i) => `function f${i} (x) { return x * ${i} + ${i % 7} }`).join('\n')
  const total = runInNewContext(`${source}; let t = 0; for (let i = 0; i < 200; i++) t += globalThis['f' + i](i); t`) as number
  return `${total} ${new Intl.NumberFormat('en').format(total)} ${JSON.stringify(JSON.parse('{"a":[1,2,3]}'))}`
}

/** The blocks still allocated kept their contents through every trim. */
function assertIntact (blocks: Buffer[]): void {
  assert.equal(blocks.length, 1024)
  assert.ok(blocks.every((b) => b.length === 4096 && b[0] === 1 && b[4095] === 1), 'a live block changed')
}

describe('agent/memory-trim: unused memory back to the kernel', function () {
  this.timeout(30_000)
  const isGlibc = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime !== undefined

  before(function () {
    if (process.platform !== 'linux' || !isGlibc) this.skip()
  })

  it('trimHeap returns the free pages of fragmented arenas (tens of MB), and nothing is lost', () => {
    const trim = nativeMemory().trimHeap
    assert.equal(typeof trim, 'function')
    const kept = fragmentHeap()
    const before = anonBytes()
    assert.equal(trim!(), true)
    const after = anonBytes()
    assert.ok(before - after > 20e6, `released only ${((before - after) / 1e6).toFixed(1)} MB (${(before / 1e6).toFixed(1)} → ${(after / 1e6).toFixed(1)} MB)`)
    assertIntact(kept)
  })

  it('releaseExecutablePages unmaps the resident read-only pages of Node\'s executable, keeps its written pages, and Node runs on', () => {
    const release = nativeMemory().releaseExecutablePages
    assert.equal(typeof release, 'function')
    const expected = work()
    const before = executableMappings()
    assert.ok(before.some((m) => m.anonymousKb > 0), 'no written pages to check')
    const releasable = releasableKb(before)
    assert.ok(releasable > 10_000, `only ${releasable} kB of Node's executable resident`)
    const released = release!()
    const after = executableMappings()
    // What this test does in between maps a few pages back.
    assert.ok(releasableKb(after) < releasable / 2, `${releasableKb(after)} of ${releasable} kB still resident`)
    // Reported from the binding's own reading of smaps, moments later.
    assert.ok(released / 1024 >= releasable * 0.8 && released / 1024 <= releasable * 1.2, `reported ${released} bytes for ${releasable} kB`)
    assert.equal(after.length, before.length)
    before.forEach((m, i) => {
      if (m.anonymousKb > 0) assert.ok(after[i]!.anonymousKb >= m.anonymousKb, `written pages of a ${m.perms} mapping were dropped: ${m.anonymousKb} → ${after[i]!.anonymousKb} kB`)
    })
    assert.equal(work(), expected)
    assert.ok(releasableKb(executableMappings()) > releasableKb(after), 'the work mapped nothing back')
  })

  it('startMemoryTrim trims soon after start, then on its interval, until stopped', async () => {
    const kept = fragmentHeap()
    const before = anonBytes()
    work()
    const residentCode = releasableKb(executableMappings())
    const stop = startMemoryTrim({ firstMs: 50, everyMs: 200 })
    try {
      await new Promise((resolve) => setTimeout(resolve, 300))
      const first = anonBytes()
      assert.ok(before - first > 20e6, `first trim released only ${((before - first) / 1e6).toFixed(1)} MB`)
      assert.ok(releasableKb(executableMappings()) < residentCode / 2, 'the first trim left Node\'s executable resident')
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
