import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { openStore } from '../../src/cli/ledger-store.js'
import { LEDGER_DIR } from '../../src/agent/index.js'
import { LevelLedgerStore } from '../../src/ledger/index.js'
import { tempDir } from '../helpers/devices.js'

const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text))

describe('cli/ledger-snapshot: reading a ledger a running agent holds', () => {
  it('reads what the holder synced, not what it writes after, from a copy of its own, removed after', async () => {
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
      // A copy, never a link: opening it (its log replayed into new tables) cannot write into the agent's files.
      const copyDir = (snapshot as unknown as { location: string }).location
      assert.ok(!copyDir.startsWith(dir), 'not in the state directory')
      const live = new Set<number>()
      for (const name of await readdir(path.join(dir, LEDGER_DIR)))
        live.add((await stat(path.join(dir, LEDGER_DIR, name))).ino)
      for (const name of await readdir(copyDir)) {
        const info = await stat(path.join(copyDir, name))
        assert.ok(!live.has(info.ino) && info.nlink === 1, `${name} is no link to the agent's files`)
      }
      await snapshot.close()
      await assert.rejects(stat(copyDir), { code: 'ENOENT' })
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
    } finally {
      await holder.close()
    }
  })

  it('while the holder writes on (flushes and compactions among them), each snapshot holds a gapless prefix and the holder stays whole', async function () {
    this.timeout(120_000)
    const dir = await tempDir('snapshot-busy-')
    const holder = new LevelLedgerStore(path.join(dir, LEDGER_DIR))
    await holder.open()
    const sub = holder.sublevel('entries')
    let written = 0
    let writing = true
    const writer = (async () => {
      while (writing) {
        const ops = Array.from({ length: 500 }, (_, i) => ({
          type: 'put' as const,
          sublevel: sub,
          key: String(written + i).padStart(10, '0'),
          value: bytes('y'.repeat(2_000))
        }))
        await holder.write(ops, { sync: true })
        written += 500
      }
    })()
    try {
      for (let taken = 0; taken < 6; taken++) {
        const floor = written
        const snapshot = await openStore(dir)
        let count = 0
        let last = -1
        for await (const key of snapshot.sublevel('entries').keys()) {
          assert.equal(Number(key), last + 1, 'no gap')
          last = Number(key)
          count++
        }
        await snapshot.close()
        assert.ok(count >= floor, `at least what was written before it was taken (${count} < ${floor})`)
      }
    } finally {
      writing = false
      await writer
    }
    // The holder's own data is whole: every key, read back after closing and opening again.
    await holder.close()
    await holder.open()
    let count = 0
    for await (const _ of holder.sublevel('entries').keys()) count++
    assert.equal(count, written)
    await holder.close()
  })

  it('copies only regular files: a pipe planted in the ledger is refused, not waited on', async () => {
    const dir = await tempDir('snapshot-fifo-')
    const holder = new LevelLedgerStore(path.join(dir, LEDGER_DIR))
    await holder.open()
    try {
      execFileSync('mkfifo', [path.join(dir, LEDGER_DIR, '000099.log')])
      await assert.rejects(openStore(dir), { code: 'ERR_LEDGER_SNAPSHOT', message: /not a regular file/ })
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
