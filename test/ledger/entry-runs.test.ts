import assert from 'node:assert/strict'
import {
  EntryRuns,
  encodeRun,
  decodeRun,
  MalformedRunError,
  RUN_LIMITS,
  encodeEntry,
  type Entry,
  type LedgerSublevel
} from '../../src/ledger/index.js'
import { encodeRunFromSpans } from '../../src/ledger/entry-runs.js'
import { STORE_KINDS } from './store/kinds.js'

const entry = (seq: number): Uint8Array =>
  encodeEntry({
    v: 1,
    fleet: new Uint8Array(32).fill(1),
    feed: 'a'.repeat(52),
    seq,
    prev: new Uint8Array(32),
    time: 5,
    type: 'alert.tamper',
    actor: { id: 'a', role: 'agent' },
    device: 'a'.repeat(52),
    attest: null,
    body: { subject: 'a'.repeat(52), pcr: 7, detail: `r${seq}` }
  } satisfies Entry)
const key = (seq: number): string => seq.toString(16).padStart(16, '0')

describe("ledger/entry-runs: a feed's entries stored as runs, one LevelDB value per batch", () => {
  it('encodes a run and decodes it to the same entries; a run of one is the entry itself', () => {
    const entries = [entry(0), entry(1), entry(2)]
    const run = encodeRun(entries)
    assert.equal(run[0], 0x01)
    assert.deepEqual(
      decodeRun(key(2), run).map((e) => Buffer.from(e)),
      entries.map((e) => Buffer.from(e))
    )
    assert.equal(encodeRun([entries[0]!]), entries[0])
    assert.deepEqual(decodeRun(key(0), entries[0]!), [entries[0]])
  })

  it('encodes a run straight from an encoder buffer (entries after their 0x00 leaf prefix) to the same bytes, into scratch space when it fits', () => {
    const entries = [entry(0), entry(1), entry(2)]
    const buf = new Uint8Array(entries.reduce((n, e) => n + e.length + 1, 0))
    const spans = new Uint32Array(3 * entries.length)
    let at = 0
    entries.forEach((e, i) => {
      spans[3 * i] = at
      buf.set(e, at + 1)
      at += e.length + 1
      spans[3 * i + 1] = at
    })
    const scratch = new Uint8Array(1 << 16)
    const made = encodeRunFromSpans(buf, spans, 3, 3, 1, scratch)
    assert.equal(made.buffer, scratch.buffer)
    assert.deepEqual(Buffer.from(made), Buffer.from(encodeRun(entries)))
    assert.deepEqual(
      Buffer.from(encodeRunFromSpans(buf, spans, 3, 3, 1, new Uint8Array(8))),
      Buffer.from(encodeRun(entries))
    )
  })

  it('refuses malformed runs with a typed error naming the key', () => {
    const good = encodeRun([entry(0), entry(1)])
    const bad = (mutate: (b: Uint8Array) => Uint8Array, reason: RegExp): void => {
      assert.throws(
        () => decodeRun(key(1), mutate(new Uint8Array(good))),
        (err: unknown) => err instanceof MalformedRunError && err.key === key(1) && reason.test(err.message)
      )
    }
    bad(() => new Uint8Array(0), /empty/)
    bad((b) => b.subarray(0, 3), /truncated header/)
    bad((b) => {
      b[4] = 1
      return b
    }, /a run of 1 entries/)
    bad((b) => {
      new DataView(b.buffer).setUint32(1, RUN_LIMITS.maxEntries + 1)
      return b
    }, /a run of/)
    bad((b) => {
      new DataView(b.buffer).setUint32(1, 1000)
      return b
    }, /truncated header/)
    bad((b) => {
      new DataView(b.buffer).setUint32(5, 0)
      return b
    }, /entry 0 of the run is 0 bytes/)
    bad((b) => {
      new DataView(b.buffer).setUint32(9, 1 << 20)
      return b
    }, /entry 1 of the run is/)
    bad((b) => {
      new DataView(b.buffer).setUint32(9, new DataView(b.buffer).getUint32(9) + 1)
      return b
    }, /runs past its end/)
    bad((b) => new Uint8Array([...b, 0]), /1 bytes after the last entry/)
  })

  for (const kind of STORE_KINDS)
    it(`reads entries by seq and by range across runs of different lengths, stops at a gap, and reads the tail (${kind.name})`, async () => {
      const db = await kind.make()
      const put = async (sublevel: LedgerSublevel, key: string, value: Uint8Array): Promise<void> => {
        await db.write([{ type: 'put', sublevel, key, value }], { sync: false })
      }
      const store = db.sublevel('entries')
      const all = Array.from({ length: 30 }, (_, i) => entry(i))
      // Runs [0..9], [10], [11..19], then a gap (20..24 missing), then [25..29].
      for (const [first, last] of [
        [0, 9],
        [10, 10],
        [11, 19],
        [25, 29]
      ] as const)
        await put(store, key(last), encodeRun(all.slice(first, last + 1)))
      const runs = new EntryRuns(store)
      for (const seq of [0, 5, 9, 10, 11, 19, 25, 29])
        assert.deepEqual(Buffer.from((await runs.get(seq))!), Buffer.from(all[seq]!), `seq ${seq}`)
      for (const seq of [20, 24, 30, 1000]) assert.equal(await runs.get(seq), undefined, `seq ${seq}`)
      const same = (got: Uint8Array[], from: number, to: number): void =>
        assert.deepEqual(
          got.map((e) => Buffer.from(e)),
          all.slice(from, to).map((e) => Buffer.from(e))
        )
      same(await runs.read(0, 30, 1000), 0, 20)
      same(await runs.read(3, 15, 1000), 3, 15)
      same(await runs.read(3, 30, 4), 3, 7)
      same(await runs.read(10, 11, 5), 10, 11)
      same(await runs.read(25, 27, 5), 25, 27)
      same(await runs.read(20, 30, 5), 20, 20)
      assert.deepEqual(
        (await runs.tail(7)).map((e) => Buffer.from(e)),
        [18, 19, 25, 26, 27, 28, 29].map((seq) => Buffer.from(all[seq]!))
      )
      same(await runs.tail(3), 27, 30)
      const seen: number[] = []
      for await (const { seq } of runs.entries(8)) seen.push(seq)
      assert.deepEqual(seen, [8, 9, ...Array.from({ length: 10 }, (_, i) => 10 + i), 25, 26, 27, 28, 29])

      // A damaged run is refused by name; so is one longer than its key allows, and a key that is not a seq.
      await put(store, key(40), new Uint8Array([0x01, 0, 0, 0, 9]))
      await assert.rejects(
        new EntryRuns(store).get(40),
        (err: unknown) => err instanceof MalformedRunError && err.key === key(40)
      )
      await assert.rejects(new EntryRuns(store).read(30, 50, 10), MalformedRunError)
      await put(store, key(40), encodeRun(all.slice(0, 3)))
      const other = db.sublevel('other')
      await put(other, key(1), encodeRun(all.slice(0, 3)))
      await assert.rejects(new EntryRuns(other).get(0), /a run of 3 entries cannot end at 1/)
      await put(other, 'zz', entry(0))
      await assert.rejects(new EntryRuns(other).get(1000), /the key is not a seq/)
      await db.close()
    })
})
