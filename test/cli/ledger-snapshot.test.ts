import assert from 'node:assert/strict'
import { mkdir, readdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { openStore } from '../../src/cli/ledger-store.js'
import { LEDGER_DIR } from '../../src/agent/index.js'
import { LevelLedgerStore } from '../../src/ledger/index.js'
import { tempDir } from '../helpers/devices.js'

const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text))

describe('cli/ledger-snapshot: reading a ledger a running agent holds', () => {
  it('reads what the holder synced, not what it writes after, and leaves nothing behind', async () => {
    const dir = await tempDir('snapshot-')
    const holder = new LevelLedgerStore(path.join(dir, LEDGER_DIR))
    await holder.open()
    try {
      const sub = holder.sublevel('entries')
      // Past the 16 MiB write buffer: some writes reach table files, the rest stay in the write-ahead log.
      for (let batch = 0; batch < 100; batch++) {
        const ops = Array.from({ length: 100 }, (_, i) => ({
          type: 'put' as const,
          sublevel: sub,
          key: String(batch * 100 + i).padStart(8, '0'),
          value: bytes('x'.repeat(2_000))
        }))
        await holder.write(ops, { sync: true })
      }
      const files = await readdir(path.join(dir, LEDGER_DIR))
      assert.ok(files.some((name) => /\.(ldb|sst)$/.test(name)) && files.some((name) => /\.log$/.test(name)))
      const snapshot = await openStore(dir)
      await holder.write([{ type: 'put', sublevel: sub, key: 'later', value: bytes('after') }], { sync: true })
      let count = 0
      for await (const _ of snapshot.sublevel('entries').keys()) count++
      assert.equal(count, 10_000)
      assert.equal(await snapshot.sublevel('entries').get('later'), undefined)
      assert.ok((await readdir(dir)).some((name) => name.startsWith('.ledger-snapshot-')))
      await snapshot.close()
      assert.deepEqual(
        (await readdir(dir)).filter((name) => name.startsWith('.ledger-snapshot-')),
        []
      )
      // The holder's store is untouched: it still takes writes and holds everything.
      assert.equal(Buffer.from((await holder.sublevel('entries').get('later'))!).toString(), 'after')
    } finally {
      await holder.close()
    }
  })

  it('refuses a ledger whose CURRENT is damaged with a typed error, after a few tries, leaving nothing behind', async () => {
    const dir = await tempDir('snapshot-bad-')
    const holder = new LevelLedgerStore(path.join(dir, LEDGER_DIR))
    await holder.open()
    try {
      await writeFile(path.join(dir, LEDGER_DIR, 'CURRENT'), '../../etc/passwd\n')
      await assert.rejects(openStore(dir), { code: 'ERR_LEDGER_SNAPSHOT' })
      assert.deepEqual(
        (await readdir(dir)).filter((name) => name.startsWith('.ledger-snapshot-')),
        []
      )
    } finally {
      await holder.close()
    }
  })

  it('says so when there is no ledger yet', async () => {
    const dir = await tempDir('snapshot-none-')
    await mkdir(path.join(dir, 'other'))
    await assert.rejects(openStore(dir), { code: 'ERR_NO_LEDGER' })
  })
})
