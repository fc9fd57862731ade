/**
 * What every ledger Hasher (src/ledger/hasher.ts) must do, as one suite to run on each: the bytes
 * of entryHash, leafHash, nodeHash and MerkleFrontier over the same input, and RangeError with
 * nothing written on spans or buffers that do not fit. test/ledger runs it on node:crypto's,
 * test/attest/tpm on the native binding's.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { popCount, ROOTS_CAPACITY } from '../../src/ledger/batch-hash.js'
import { EntryWriter } from '../../src/ledger/entry-encoder.js'
import { entryHash, leafHash, nodeHash, MerkleFrontier, type Entry, type Hasher } from '../../src/ledger/index.js'

const entryAt = (seq: number, detail: string): Entry => ({
  v: 1,
  fleet: new Uint8Array(32).fill(1),
  feed: 'a'.repeat(52),
  seq,
  prev: new Uint8Array(32),
  time: 1795000000000 + seq,
  type: 'alert.tamper',
  actor: { id: 'agent/a', role: 'agent' },
  device: 'a'.repeat(52),
  attest: null,
  body: { subject: 'a'.repeat(52), pcr: 7, detail }
})

/** A run of encoded entries as FeedLedger stages them: 0x00 ‖ entry, prev left zero. */
function encodeRun(count: number, first: number): { buf: Uint8Array; spans: Uint32Array } {
  const writer = new EntryWriter(64)
  const spans = new Uint32Array(3 * count)
  for (let i = 0; i < count; i++) {
    spans[3 * i] = writer.pos
    writer.byte(0)
    writer.entry(entryAt(first + i, 'r'.repeat(i % 300)))
    spans[3 * i + 1] = writer.pos
    spans[3 * i + 2] = writer.prevAt
  }
  return { buf: Uint8Array.from(writer.buf.subarray(0, writer.pos)), spans }
}

/** A frontier of `size` leaves with random roots (only its shape matters to appending). */
function randomFrontier(size: number): MerkleFrontier {
  return new MerkleFrontier(
    size,
    Array.from({ length: popCount(size) }, () => new Uint8Array(randomBytes(32)))
  )
}

function run(
  hashEntries: Hasher['hashEntries'],
  count: number,
  frontier: MerkleFrontier,
  head: Uint8Array
): { buf: Uint8Array; out: Uint8Array; roots: Uint8Array[]; leaves: Uint8Array } {
  const { buf, spans } = encodeRun(count, frontier.size)
  const rootBytes = new Uint8Array(ROOTS_CAPACITY * 32)
  for (const [i, root] of frontier.roots.entries()) rootBytes.set(root, 32 * i)
  const out = new Uint8Array(32 * count)
  const leaves = new Uint8Array(32 * count)
  hashEntries(buf, spans, count, head, frontier.size, rootBytes, out, count % 2 === 0 ? leaves : undefined)
  const roots = Array.from({ length: popCount(frontier.size + count) }, (_, i) => rootBytes.slice(32 * i, 32 * i + 32))
  return { buf, out, roots, leaves }
}

/** The conformance suite for `hasher`, inside the caller's describe. */
export function hasherConformance(hasher: Hasher): void {
  const { hashEntries, hashPairs } = hasher

  it('chains prev, and gives the entry hashes and frontier that entryHash, leafHash and MerkleFrontier do', () => {
    for (const size of [0, 1, 2, 3, 7, 8, 255, 1000, 2 ** 32 - 1, 2 ** 40 + 5, Number.MAX_SAFE_INTEGER - 700]) {
      for (const count of [1, 2, 33, 600]) {
        const frontier = randomFrontier(size)
        const head = new Uint8Array(randomBytes(32))
        const { buf, out, roots, leaves } = run(hashEntries, count, frontier, head)
        const { spans } = encodeRun(count, size)
        let expected = frontier
        let prev: Uint8Array = head
        for (let i = 0; i < count; i++) {
          const bytes = buf.subarray(spans[3 * i]! + 1, spans[3 * i + 1]!)
          assert.deepEqual(
            Buffer.from(bytes.subarray(spans[3 * i + 2]! - spans[3 * i]! - 1, spans[3 * i + 2]! - spans[3 * i]! + 31)),
            Buffer.from(prev),
            `size ${size}, entry ${i}: prev`
          )
          prev = entryHash(bytes)
          assert.deepEqual(
            Buffer.from(out.subarray(32 * i, 32 * i + 32)),
            Buffer.from(prev),
            `size ${size}, entry ${i}: hash`
          )
          expected = expected.append(leafHash(bytes))
          // Leaf hashes are given when asked for (even counts here), and nothing is written otherwise.
          assert.deepEqual(
            Buffer.from(leaves.subarray(32 * i, 32 * i + 32)),
            Buffer.from(count % 2 === 0 ? leafHash(bytes) : new Uint8Array(32)),
            `size ${size}, entry ${i}: leaf`
          )
        }
        assert.deepEqual(
          roots.map((r) => Buffer.from(r).toString('hex')),
          expected.roots.map((r) => Buffer.from(r).toString('hex')),
          `size ${size}, count ${count}: frontier`
        )
      }
    }
  })

  it('refuses spans outside the buffer or without the leaf prefix, and then writes nothing', () => {
    const { buf, spans } = encodeRun(3, 0)
    const original = Uint8Array.from(buf)
    const roots = new Uint8Array(ROOTS_CAPACITY * 32)
    const head = new Uint8Array(32).fill(7)
    const bad = (mutate: (s: Uint32Array, b: Uint8Array) => void): void => {
      const s = Uint32Array.from(spans)
      const b = Uint8Array.from(buf)
      mutate(s, b)
      assert.throws(() => {
        hashEntries(b, s, 3, head, 0, roots, new Uint8Array(96))
      }, RangeError)
      if (b[s[3]!] === 0 && b[s[0]!] === 0 && b[s[6]!] === 0) assert.deepEqual(b, original)
    }
    bad((s) => {
      s[7] = buf.length + 1
    })
    bad((s) => {
      s[5] = s[4]! - 10
    })
    bad((s) => {
      s[3] = s[4]!
    })
    bad((_, b) => {
      b[spans[6]!] = 1
    })
    assert.throws(() => {
      hashEntries(buf, spans, 4, head, 0, roots, new Uint8Array(128))
    }, RangeError)
    assert.throws(() => {
      hashEntries(buf, spans, 3, head, 0, roots, new Uint8Array(64))
    }, RangeError)
    assert.throws(() => {
      hashEntries(buf, spans, 3, head, 0, new Uint8Array(32), new Uint8Array(96))
    }, RangeError)
    assert.throws(() => {
      hashEntries(buf, spans, 3, head, 0, roots, new Uint8Array(96), new Uint8Array(64))
    }, RangeError)
  })

  it('hashPairs gives nodeHash of each pair, and refuses short buffers', () => {
    for (const count of [0, 1, 9, 300]) {
      const input = new Uint8Array(randomBytes(64 * count))
      const out = new Uint8Array(32 * count)
      hashPairs(input, count, out)
      for (let i = 0; i < count; i++)
        assert.deepEqual(
          Buffer.from(out.subarray(32 * i, 32 * i + 32)),
          Buffer.from(nodeHash(input.subarray(64 * i, 64 * i + 32), input.subarray(64 * i + 32, 64 * i + 64)))
        )
    }
    assert.throws(() => {
      hashPairs(new Uint8Array(63), 1, new Uint8Array(32))
    }, RangeError)
    assert.throws(() => {
      hashPairs(new Uint8Array(64), 1, new Uint8Array(31))
    }, RangeError)
  })
}
