import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { cp, rm } from 'node:fs/promises'
import path from 'node:path'
import { Level } from 'level'
import { EsysTpm } from '../../src/attest/index.js'
import { openOwnFeed, rollbackCounterIndex, LEDGER_DIR } from '../../src/agent/index.js'
import { HybridSigner, softwareP256Signer, nodeMlDsa65 } from '../../src/identity/index.js'
import { haveSwtpm, startDevice, stopAllDevices, tempDir } from '../helpers/devices.js'

const fleetId = new Uint8Array(32).fill(3)
const feedId = 'a'.repeat(52)
const signer = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32)))
const action = (i: number): Parameters<Awaited<ReturnType<typeof openOwnFeed>>['ledger']['append']>[0] => ({
  type: 'alert.tamper',
  actor: { id: `agent/${feedId}`, role: 'agent' },
  attest: null,
  body: { subject: feedId, pcr: 7, detail: `r-${i}` }
})

/** The store is bound to a TPM NV counter: an older copy of the whole store is refused on start. */
describe('ledger/rollback: the store bound to a TPM NV counter (swtpm)', function () {
  this.timeout(60_000)
  let tpm: EsysTpm
  let dir: string
  before(async function () {
    if (!haveSwtpm()) this.skip()
    tpm = await EsysTpm.open({ tcti: (await startDevice()).tcti })
    dir = await tempDir('fleet-rollback-')
  })
  after(async () => {
    await tpm?.close()
    await stopAllDevices()
  })

  async function session(appends: number): Promise<void> {
    const feed = await openOwnFeed({ dir, tpm, signer, fleetId, feedId })
    for (let i = 0; i < appends; i++) await feed.ledger.append(action(i))
    await feed.close()
  }

  it('each start advances the counter; a backup restored later is refused as an older copy', async () => {
    const index = rollbackCounterIndex(feedId)
    assert.ok(index >= 0x01000000 && index <= 0x013fffff)
    await session(3)
    const first = await tpm.readCounter(index)
    const backup = path.join(dir, 'backup')
    await cp(path.join(dir, LEDGER_DIR), backup, { recursive: true })
    await session(2)
    assert.equal(await tpm.readCounter(index), first + 1n)
    await rm(path.join(dir, LEDGER_DIR), { recursive: true })
    await cp(backup, path.join(dir, LEDGER_DIR), { recursive: true })
    await assert.rejects(
      openOwnFeed({ dir, tpm, signer, fleetId, feedId }),
      (err: Error) => err.name === 'RollbackDetectedError' && /older copy/.test(err.message)
    )
  })

  it('a crash between binding the store and advancing the counter is accepted on the next start', async () => {
    const fresh = await tempDir('fleet-rollback-crash-')
    const feed = await openOwnFeed({ dir: fresh, tpm, signer, fleetId, feedId: 'b'.repeat(52) })
    await feed.ledger.append(action(0))
    await feed.close()
    // As if the last start wrote the next value and died before the TPM counted it.
    const value = await tpm.readCounter(rollbackCounterIndex('b'.repeat(52)))
    const db = new Level<string, Uint8Array>(path.join(fresh, LEDGER_DIR), { valueEncoding: 'view' })
    const next = Buffer.alloc(8)
    next.writeBigUInt64BE(value + 1n)
    await db.sublevel<string, Uint8Array>('meta', { valueEncoding: 'view' }).put('rollback', new Uint8Array(next))
    await db.close()
    const reopened = await openOwnFeed({ dir: fresh, tpm, signer, fleetId, feedId: 'b'.repeat(52) })
    assert.equal(reopened.ledger.size, 1)
    await reopened.close()
    assert.equal(await tpm.readCounter(rollbackCounterIndex('b'.repeat(52))), value + 1n)
  })

  it('a store with entries whose binding was removed is refused', async () => {
    const fresh = await tempDir('fleet-rollback-strip-')
    const feed = await openOwnFeed({ dir: fresh, tpm, signer, fleetId, feedId: 'c'.repeat(52) })
    await feed.ledger.append(action(0))
    await feed.close()
    const db = new Level<string, Uint8Array>(path.join(fresh, LEDGER_DIR), { valueEncoding: 'view' })
    await db.sublevel<string, Uint8Array>('meta', { valueEncoding: 'view' }).del('rollback')
    await db.close()
    await assert.rejects(
      openOwnFeed({ dir: fresh, tpm, signer, fleetId, feedId: 'c'.repeat(52) }),
      (err: Error) => err.name === 'RollbackDetectedError' && /no TPM counter binding/.test(err.message)
    )
  })
})
