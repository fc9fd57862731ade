import assert from 'node:assert/strict'
import path from 'node:path'
import { Level } from 'level'
import {
  LevelLedgerStore,
  MemoryLedgerStore,
  LEDGER_SUBLEVELS,
  type LedgerStore,
  type LedgerSublevel,
  type LedgerRange,
  type LedgerWrite
} from '../../../src/ledger/index.js'
import { tempDir } from '../../helpers/devices.js'
import { STORE_KINDS } from './kinds.js'

const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text))
const text = (value: Uint8Array | undefined): string | undefined =>
  value === undefined ? undefined : Buffer.from(value).toString()
const put = (sublevel: LedgerSublevel, key: string, value = key): LedgerWrite => ({
  type: 'put',
  sublevel,
  key,
  value: bytes(value)
})
const del = (sublevel: LedgerSublevel, key: string): LedgerWrite => ({ type: 'del', sublevel, key })

async function read(sublevel: LedgerSublevel, range?: LedgerRange): Promise<Array<[string, string]>> {
  const out: Array<[string, string]> = []
  for await (const [key, value] of sublevel.iterator(range)) out.push([key, text(value)!])
  return out
}
const keysOf = async (sublevel: LedgerSublevel, range?: LedgerRange): Promise<string[]> =>
  (await read(sublevel, range)).map(([key]) => key)

/**
 * Keys whose order differs between UTF-16 code units (JavaScript's <) and UTF-8 bytes (LevelDB's
 * comparator): '\uffff' sorts below '😀' in UTF-8, above it in UTF-16.
 */
const KEYS = ['b', 'a', '0000000000000010', '000000000000000f', 'é', '\uffff', '😀', 'a!', 'a\u0000', 'Z', 'ab', '~']
const UTF8_ORDER = [...KEYS].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))

for (const kind of STORE_KINDS) {
  describe(`ledger/store compliance: ${kind.name}`, () => {
    let store: LedgerStore
    beforeEach(async () => {
      store = await kind.make()
    })
    afterEach(async () => {
      await store.close()
    })

    it('gets a missing key as undefined, and getMany answers each key in order', async () => {
      const s = store.sublevel('t')
      assert.equal(await s.get('missing'), undefined)
      await store.write([put(s, 'x', 'one'), put(s, 'z', 'three')], { sync: true })
      assert.equal(text(await s.get('x')), 'one')
      assert.deepEqual((await s.getMany(['z', 'y', 'x'])).map(text), ['three', undefined, 'one'])
      assert.deepEqual(await s.getMany([]), [])
    })

    it('iterates keys in UTF-8 byte order (not UTF-16 order), values as written', async () => {
      assert.notDeepEqual(UTF8_ORDER, [...KEYS].sort(), 'the keys do not tell the two orders apart')
      const s = store.sublevel('t')
      for (const key of KEYS) await store.write([put(s, key, `v-${key}`)], { sync: false })
      assert.deepEqual(
        await read(s),
        UTF8_ORDER.map((key) => [key, `v-${key}`])
      )
      const keys: string[] = []
      for await (const key of s.keys()) keys.push(key)
      assert.deepEqual(keys, UTF8_ORDER)
      const values: string[] = []
      for await (const value of s.values({ reverse: true, limit: 2 })) values.push(text(value)!)
      assert.deepEqual(
        values,
        UTF8_ORDER.slice(-2)
          .reverse()
          .map((key) => `v-${key}`)
      )
    })

    it('reads ranges: gt, gte, lt, lte, gte over gt, lte over lt, limits, reverse, empty ranges', async () => {
      const s = store.sublevel('t')
      const all = Array.from({ length: 20 }, (_, i) => (i * 3).toString(16).padStart(16, '0'))
      await store.write(
        all.map((key) => put(s, key)),
        { sync: true }
      )
      const k = (n: number): string => n.toString(16).padStart(16, '0')
      assert.deepEqual(await keysOf(s, { gte: k(9), lt: k(18) }), [k(9), k(12), k(15)])
      assert.deepEqual(await keysOf(s, { gt: k(9), lte: k(18) }), [k(12), k(15), k(18)])
      assert.deepEqual(await keysOf(s, { gt: k(10), lt: k(14) }), [k(12)])
      assert.deepEqual(await keysOf(s, { gte: k(9), gt: k(9), lte: k(12), lt: k(12) }), [k(9), k(12)])
      assert.deepEqual(await keysOf(s, { gte: k(50), limit: 3 }), [k(51), k(54), k(57)])
      assert.deepEqual(await keysOf(s, { lte: k(10), reverse: true }), [k(9), k(6), k(3), k(0)])
      assert.deepEqual(await keysOf(s, { reverse: true, limit: 1 }), [k(57)])
      assert.deepEqual(await keysOf(s, { gte: k(6), reverse: true, limit: 2 }), [k(57), k(54)])
      assert.deepEqual(await keysOf(s, { lte: k(6), reverse: true, limit: 1 }), [k(6)])
      assert.deepEqual(await keysOf(s, { limit: 0 }), [])
      assert.deepEqual(await keysOf(s, { gt: k(30), lt: k(10) }), [])
      assert.deepEqual(await keysOf(s, { gt: k(57) }), [])
      assert.deepEqual(await keysOf(s, { gte: undefined, limit: 2 }), [k(0), k(3)], 'an unset bound is no bound')
      assert.equal((await keysOf(s, { limit: -1 })).length, 20, 'a negative limit is no limit')
    })

    it('reads in chunks with nextv, next gives undefined at the end, a closed iterator refuses to read', async () => {
      const s = store.sublevel('t')
      await store.write(
        ['a', 'b', 'c', 'd', 'e'].map((key) => put(s, key)),
        { sync: false }
      )
      const iterator = s.iterator({ gte: 'b' })
      assert.deepEqual(
        (await iterator.nextv(2)).map(([key]) => key),
        ['b', 'c']
      )
      assert.deepEqual(
        (await iterator.nextv(10)).map(([key]) => key),
        ['d', 'e']
      )
      assert.deepEqual(await iterator.nextv(10), [])
      assert.equal(await iterator.next(), undefined)
      await iterator.close()
      await assert.rejects(iterator.next())
    })

    it('an iterator reads the store as it was when it was made', async () => {
      const s = store.sublevel('t')
      await store.write([put(s, 'a'), put(s, 'c')], { sync: false })
      const iterator = s.iterator()
      await store.write([put(s, 'b'), del(s, 'c'), put(s, 'a', 'changed')], { sync: false })
      const seen: Array<[string, string]> = []
      for await (const [key, value] of iterator) seen.push([key, text(value)!])
      assert.deepEqual(seen, [
        ['a', 'a'],
        ['c', 'c']
      ])
      assert.deepEqual(await read(s), [
        ['a', 'changed'],
        ['b', 'b']
      ])
    })

    it('applies a write whole, in order, or not at all', async () => {
      const s = store.sublevel('t')
      await store.write([put(s, 'keep'), put(s, 'gone')], { sync: true })
      await store.write([put(s, 'x', '1'), del(s, 'gone'), put(s, 'x', '2'), put(s, 'y'), del(s, 'y')], { sync: true })
      assert.deepEqual(await read(s), [
        ['keep', 'keep'],
        ['x', '2']
      ])
      const reused = Buffer.from('before')
      await store.write([{ type: 'put', sublevel: s, key: 'reused', value: reused }], { sync: false })
      reused.write('AFTER!')
      const got = (await s.get('reused'))!
      got[0] = 0x21
      assert.equal(text(await s.get('reused')), 'before', 'a write copies its value, and a read hands out a copy')
      await store.write([del(s, 'reused')], { sync: false })
      const other = new MemoryLedgerStore()
      await other.open()
      const foreign = other.sublevel('t')
      const refused = store.write([put(s, 'new'), del(s, 'keep'), put(foreign, 'z')], { sync: true })
      await assert.rejects(refused, { name: 'ForeignSublevelError' })
      assert.deepEqual(
        await read(s),
        [
          ['keep', 'keep'],
          ['x', '2']
        ],
        'nothing of a refused write is applied'
      )
      assert.deepEqual(await read(foreign), [])
      await other.close()
    })

    it('a batch copies what is put when put (a Buffer too), writes once; a closed batch writes nothing', async () => {
      const s = store.sublevel('t')
      const buffer = Buffer.from('first')
      const batch = store.batch()
      batch.put(s, 'a', buffer)
      buffer.set(bytes('XXXXX'))
      batch.put(s, 'b', buffer)
      batch.del(s, 'missing')
      assert.deepEqual(await read(s), [], 'nothing is visible before the write')
      await batch.write({ sync: true })
      assert.deepEqual(await read(s), [
        ['a', 'first'],
        ['b', 'XXXXX']
      ])
      assert.throws(
        () => {
          batch.put(s, 'c', buffer)
        },
        { name: 'LedgerBatchClosedError' }
      )
      await assert.rejects(batch.write({ sync: true }), { name: 'LedgerBatchClosedError' })
      await batch.close()
      const dropped = store.batch()
      dropped.put(s, 'c', bytes('c'))
      await dropped.close()
      await assert.rejects(dropped.write({ sync: true }), { name: 'LedgerBatchClosedError' })
      assert.equal(await s.get('c'), undefined)
      const foreign = new MemoryLedgerStore().sublevel('t')
      assert.throws(
        () => {
          store.batch().put(foreign, 'z', bytes('z'))
        },
        { name: 'ForeignSublevelError' }
      )
    })

    it('keeps sublevels apart: one key in two, neighbours by name, names refused, nesting as LevelDB', async () => {
      const a = store.sublevel('a')
      const ab = store.sublevel('ab')
      const nested = a.sublevel('n')
      assert.equal(store.sublevel('a'), a, 'one handle per name')
      assert.deepEqual(nested.path, ['a', 'n'])
      const b = store.sublevel('b')
      const writes = [put(a, 'k', 'in a'), put(ab, 'k', 'in ab'), put(nested, 'k', 'in a/n'), put(b, 'k', 'in b')]
      await store.write(writes, { sync: true })
      assert.equal(text(await a.get('k')), 'in a')
      assert.equal(text(await ab.get('k')), 'in ab')
      assert.deepEqual(await read(ab), [['k', 'in ab']])
      assert.deepEqual(await read(nested), [['k', 'in a/n']])
      // A sublevel's range holds the keys of the sublevels nested in it, under their prefix.
      assert.deepEqual(await read(a), [
        ['!n!k', 'in a/n'],
        ['k', 'in a']
      ])
      await store.write([del(a, 'k')], { sync: false })
      assert.equal(text(await ab.get('k')), 'in ab')
      for (const name of ['', '!', 'a!b', 'a b', '"', 'é', 'a\u007f']) {
        assert.throws(() => store.sublevel(name), { name: 'InvalidSublevelNameError' }, JSON.stringify(name))
      }
      assert.throws(() => a.sublevel('x!'), { name: 'InvalidSublevelNameError' })
      for (const name of Object.values(LEDGER_SUBLEVELS)) assert.doesNotThrow(() => store.sublevel(name))
    })

    it('refuses reads and writes while closed, closes its iterators with it, opens again idempotently', async () => {
      const s = store.sublevel('t')
      await store.write([put(s, 'a'), put(s, 'b')], { sync: true })
      const iterator = s.iterator()
      await store.open()
      assert.equal(store.status, 'open')
      await store.close()
      await store.close()
      assert.equal(store.status, 'closed')
      await assert.rejects(iterator.next())
      await assert.rejects(s.get('a'), { name: 'LedgerStoreClosedError' })
      await assert.rejects(s.getMany(['a']), { name: 'LedgerStoreClosedError' })
      await assert.rejects(store.write([put(s, 'c')], { sync: true }), { name: 'LedgerStoreClosedError' })
      assert.throws(() => s.iterator(), { name: 'LedgerStoreClosedError' })
      assert.throws(() => store.batch(), { name: 'LedgerStoreClosedError' })
      await store.open()
      assert.deepEqual(
        await read(s),
        [
          ['a', 'a'],
          ['b', 'b']
        ],
        'a store holds its contents across close and open'
      )
    })
  })
}

describe('ledger/store compliance: both stores answer alike', () => {
  it('the same random writes give the same reads over random ranges in both stores', async () => {
    // A fixed-seed generator: the same sequence on every run, so a failure can be replayed.
    let seed = 0x5eed
    const random = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
      return (seed >>> 8) % n
    }
    const alphabet = ['0', '1', 'a', 'b', 'z', '!', '"', 'é', '\uffff', '😀']
    const key = (): string => Array.from({ length: 1 + random(3) }, () => alphabet[random(alphabet.length)]).join('')
    const names = [['x'], ['x', 'y'], ['xy'], ['y']]
    const stores = await Promise.all(STORE_KINDS.map(async (kind) => await kind.make()))
    const sublevel = (store: LedgerStore, at: number): LedgerSublevel =>
      names[at]!.slice(1).reduce((s, name) => s.sublevel(name), store.sublevel(names[at]![0]!))
    try {
      for (let round = 0; round < 60; round++) {
        const op = (): { at: number; key: string; removes: boolean } => ({
          at: random(names.length),
          key: key(),
          removes: random(4) === 0
        })
        const ops = Array.from({ length: 1 + random(8) }, op)
        for (const store of stores) {
          const writes = ops.map((op) =>
            op.removes ? del(sublevel(store, op.at), op.key) : put(sublevel(store, op.at), op.key, `r${round}`)
          )
          await store.write(writes, { sync: false })
        }
      }
      for (let query = 0; query < 200; query++) {
        const range: LedgerRange = {}
        if (random(2) === 0) range[random(2) === 0 ? 'gt' : 'gte'] = key()
        if (random(2) === 0) range[random(2) === 0 ? 'lt' : 'lte'] = key()
        if (random(3) === 0) range.limit = random(5)
        if (random(2) === 0) range.reverse = true
        const at = random(names.length)
        const [level, memory] = await Promise.all(stores.map(async (store) => await read(sublevel(store, at), range)))
        assert.deepEqual(memory, level, `${names[at]!.join('/')} ${JSON.stringify(range)}`)
        const probe = key()
        assert.equal(text(await sublevel(stores[1]!, at).get(probe)), text(await sublevel(stores[0]!, at).get(probe)))
      }
    } finally {
      for (const store of stores) await store.close()
    }
  })
})

describe('ledger/store compliance: LevelLedgerStore on disk', () => {
  it('persists synced writes across close and a new store at the same location', async () => {
    const location = path.join(await tempDir('fleet-store-'), 'ledger')
    const first = new LevelLedgerStore(location)
    await first.open()
    const t = first.sublevel('t')
    await first.write([put(t, 'a', 'kept'), put(t.sublevel('n'), 'b', 'nested')], { sync: true })
    const batch = first.batch()
    batch.put(first.sublevel('u'), 'c', bytes('batched'))
    await batch.write({ sync: true })
    await first.close()
    const second = new LevelLedgerStore(location)
    await second.open()
    try {
      assert.equal(text(await second.sublevel('t').get('a')), 'kept')
      assert.equal(text(await second.sublevel('t').sublevel('n').get('b')), 'nested')
      assert.equal(text(await second.sublevel('u').get('c')), 'batched')
    } finally {
      await second.close()
    }
  })

  it("lays keys out as LevelDB's own sublevels do, both ways: a store written before reads unchanged", async () => {
    const location = path.join(await tempDir('fleet-store-'), 'ledger')
    const store = new LevelLedgerStore(location)
    await store.open()
    const replica = store.sublevel(LEDGER_SUBLEVELS.replicas).sublevel('f')
    const entries = store.sublevel(LEDGER_SUBLEVELS.entries)
    const meta = replica.sublevel(LEDGER_SUBLEVELS.meta)
    const writes = [put(entries, '0000000000000001', 'run'), put(meta, 'state', 'meta')]
    await store.write(writes, { sync: true })
    await store.close()
    const raw = new Level<string, Uint8Array>(location, { valueEncoding: 'view' })
    await raw.open()
    const seen: Array<[string, string]> = []
    for await (const [key, value] of raw.iterator()) seen.push([key, text(value)!])
    assert.deepEqual(seen, [
      ['!entries!0000000000000001', 'run'],
      ['!replicas!!f!!meta!state', 'meta']
    ])
    const rawCheckpoints = raw.sublevel<string, Uint8Array>('checkpoints', { valueEncoding: 'view' })
    await rawCheckpoints.put('0000000000000002', bytes('note'))
    await raw.close()
    await store.open()
    try {
      assert.equal(text(await store.sublevel(LEDGER_SUBLEVELS.checkpoints).get('0000000000000002')), 'note')
      const state = await replica.sublevel(LEDGER_SUBLEVELS.meta).get('state')
      assert.equal(text(state), 'meta', 'a handle taken before a reopen still reads')
    } finally {
      await store.close()
    }
  })

  it('a second store on a location in use is refused with LedgerStoreLockedError', async () => {
    const location = path.join(await tempDir('fleet-store-'), 'ledger')
    const holder = new LevelLedgerStore(location)
    await holder.open()
    try {
      await assert.rejects(
        new LevelLedgerStore(location).open(),
        (err: Error & { location?: string }) => err.name === 'LedgerStoreLockedError' && err.location === location
      )
    } finally {
      await holder.close()
    }
  })
})
