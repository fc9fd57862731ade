/**
 * LevelLedgerStore on a disk that fills up (a 4 MiB tmpfs; root only). After a write fails,
 * LevelDB's log may end in a partial record, and records appended after it would be dropped when
 * the log is replayed at the next open: so the store refuses every later write until it is opened
 * again, and what was written before the failure is all there afterwards.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import path from 'node:path'
import { LevelLedgerStore, LEDGER_SUBLEVELS } from '../../../src/ledger/index.js'
import { tempDir } from '../../helpers/devices.js'

describe('ledger/store/LevelLedgerStore on a full disk', function () {
  this.timeout(30_000)
  let mount: string | undefined
  let store: LevelLedgerStore | undefined

  before(async function () {
    if (process.getuid?.() !== 0) {
      console.log('      (skipped: mounting a small tmpfs needs root)')
      this.skip()
    }
    mount = await tempDir('fleet-full-disk-')
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mount])
  })

  after(async () => {
    await store?.close()
    if (mount === undefined) return
    try {
      execFileSync('umount', [mount])
    } catch {
      execFileSync('umount', ['-l', mount])
    }
  })

  it('a failed write is told once to onWriteFailed; later writes throw LedgerStoreWriteFailedError until reopened; then writes resume and nothing written before is lost', async () => {
    store = new LevelLedgerStore(path.join(mount!, 'ledger'))
    const failures: unknown[] = []
    store.onWriteFailed = (err) => failures.push(err)
    await store.open()
    const entries = store.sublevel(LEDGER_SUBLEVELS.entries)
    const value = new Uint8Array(1024).fill(7)
    const written: string[] = []
    for (let i = 0; i < 20; i++) {
      const key = String(i).padStart(4, '0')
      await store.write([{ type: 'put', sublevel: entries, key, value }], { sync: true })
      written.push(key)
    }
    // The disk fills up (dd stops at ENOSPC), and the next synced write fails.
    const filler = path.join(mount!, 'filler')
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k'], { stdio: 'ignore' })
    } catch {}
    let failed: unknown
    for (let i = 20; i < 200 && failed === undefined; i++) {
      const key = String(i).padStart(4, '0')
      try {
        await store.write([{ type: 'put', sublevel: entries, key, value }], { sync: true })
        written.push(key)
      } catch (err) {
        failed = err
      }
    }
    assert.ok(failed !== undefined, 'no write failed on a full disk')
    assert.match(String((failed as Error).message), /No space left on device/)
    assert.equal(failures.length, 1)

    // Space comes back, but this database's log is in doubt: no more writes, in either form.
    rmSync(filler)
    const small = new Uint8Array(8)
    await assert.rejects(
      store.write([{ type: 'put', sublevel: entries, key: 'later', value: small }], { sync: true }),
      {
        name: 'LedgerStoreWriteFailedError',
        code: 'ERR_LEDGER_STORE_FAILED'
      }
    )
    const batch = store.batch()
    batch.put(entries, 'later', small)
    await assert.rejects(batch.write({ sync: true }), { name: 'LedgerStoreWriteFailedError' })
    assert.equal(failures.length, 1)

    // Opened again: every write that succeeded is there, and writes resume and last.
    await store.close()
    await store.open()
    for (const key of written) assert.ok((await entries.get(key)) !== undefined, `entry ${key} lost`)
    assert.equal(await entries.get('later'), undefined)
    await store.write([{ type: 'put', sublevel: entries, key: 'after', value: small }], { sync: true })
    await store.close()
    await store.open()
    assert.deepEqual(Buffer.from((await entries.get('after'))!), Buffer.from(small))
    await store.close()
  })
})
