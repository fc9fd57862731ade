/** The owner identity and the genesis statement, on a real swtpm and through the CLI. */
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { EsysTpm, type SwtpmDevice } from '../../../src/attest/index.js'
import { readOwnerState, unlockOwner, verifyGenesis, fleetIdOf } from '../../../src/agent/index.js'
import { DOMAIN, verifyHybrid } from '../../../src/identity/index.js'
import { haveSwtpm, startDevice, stopAllDevices, tempDir } from '../../helpers/devices.js'
import { runFleet as run } from '../../helpers/cli.js'

describe('agent/owner: fleet owner init and the genesis statement', function () {
  this.timeout(60_000)
  let device: SwtpmDevice
  let dir: string

  before(async function () {
    if (!haveSwtpm()) this.skip()
    device = await startDevice()
    dir = await tempDir('fleet-owner-')
  })

  after(async () => {
    await stopAllDevices()
  })

  it('founds a fleet: fleetId is the hash of a genesis statement self-signed by the TPM-held owner key', async () => {
    const result = run(['owner', 'init', '--state', dir, '--tcti', device.tcti, '--name', 'clinic-west', '--json'])
    assert.equal(result.status, 0, result.stderr)
    const { fleetId } = JSON.parse(result.stdout) as { fleetId: string }
    assert.match(fleetId, /^[0-9a-f]{64}$/)
    const state = await readOwnerState(dir)
    const statement = new Uint8Array(Buffer.from(state.genesis.statement, 'base64'))
    assert.equal(fleetIdOf(statement), fleetId)
    const verified = verifyGenesis(statement, {
      p256: new Uint8Array(Buffer.from(state.genesis.p256, 'base64')),
      mldsa65: new Uint8Array(Buffer.from(state.genesis.mldsa65, 'base64'))
    })
    assert.equal(verified.genesis.name, 'clinic-west')
    // The owner can sign again on this machine, with the same key.
    const tpm = await EsysTpm.open({ tcti: device.tcti })
    try {
      const { signer } = await unlockOwner(state, { tpm })
      assert.deepEqual(Buffer.from(signer.publicKey.p256), Buffer.from(verified.ownerKey.p256))
      const message = Buffer.from('device.enrol …')
      verifyHybrid(verified.ownerKey, DOMAIN.statement, message, await signer.sign(DOMAIN.statement, message))
    } finally {
      await tpm.close()
    }
  })

  it('refuses a doctored owner state: another fleetId, or a genesis statement signed by someone else', async () => {
    const file = path.join(dir, 'owner.json')
    const original = readFileSync(file, 'utf8')
    const state = JSON.parse(original) as { fleetId: string; genesis: { p256: string } }
    writeFileSync(file, JSON.stringify({ ...state, fleetId: 'ab'.repeat(32) }))
    await assert.rejects(readOwnerState(dir), { name: 'GenesisError' })
    const p256 = Buffer.from(state.genesis.p256, 'base64')
    p256[10]! ^= 1
    writeFileSync(file, JSON.stringify({ ...state, genesis: { ...state.genesis, p256: p256.toString('base64') } }))
    await assert.rejects(readOwnerState(dir), { name: 'GenesisError' })
    writeFileSync(file, original)
    await readOwnerState(dir)
  })

  it('will not replace an owner identity without --yes (exit 2)', () => {
    assert.equal(run(['owner', 'init', '--state', dir, '--tcti', device.tcti]).status, 2)
    assert.equal(
      run(['owner', 'init', '--state', path.join(dir, 'x'), '--tcti', device.tcti, '--name', '\u0007bell']).status,
      2
    )
  })
})
