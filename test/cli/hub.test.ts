/**
 * fleet hub: the owner's list of hubs refuses what agents could not use, before anything is
 * signed: a device that is not an enrolled hub (exit 1), an address with a PeerId or a circuit, a
 * malformed deviceId (exit 2); remove refuses a hub not listed; list on an empty feed says so.
 */
import assert from 'node:assert/strict'
import path from 'node:path'
import { feedIdentityOf } from '../../src/agent/index.js'
import { storedOwnerEntries } from '../../src/cli/ledger-store.js'
import { runFleet as run } from '../helpers/cli.js'
import { haveSwtpm, startDevice, stopAllDevices, tempDir } from '../helpers/devices.js'

describe('cli: fleet hub', function () {
  this.timeout(120_000)
  let owner: string
  const device = 'b'.repeat(52)
  const hub = (...args: string[]): ReturnType<typeof run> => run(['hub', ...args, '--timeout', '1'])

  before(async function () {
    if (!haveSwtpm()) this.skip()
    const tpm = await startDevice()
    owner = path.join(await tempDir('fleet-hub-cli-'), 'owner')
    const init = run(['owner', 'init', '--state', owner, '--tcti', tpm.tcti, '--json'])
    assert.equal(init.status, 0, init.stderr)
  })
  after(async () => {
    await stopAllDevices()
  })

  it('refuses a device that is not an enrolled hub (exit 1) and malformed input (exit 2), signing nothing', async () => {
    const before = (await storedOwnerEntries(owner, await feedIdentityOf(owner))).length
    const unknown = hub('add', '--state', owner, device, '--address', '/dns4/hub.example.org/tcp/7000')
    assert.equal(unknown.status, 1)
    assert.match(unknown.stderr, new RegExp(`device ${device} is not an enrolled member of this fleet`))
    for (const address of [
      '/dns4/hub.example.org/tcp/7000/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN',
      '/ip4/192.0.2.1/tcp/7000/p2p-circuit',
      'hub.example.org:7000'
    ]) {
      const refused = hub('add', '--state', owner, device, '--address', address)
      assert.equal(refused.status, 2, address)
      assert.match(refused.stderr, /--address/)
    }
    const badId = hub('add', '--state', owner, 'not-a-device', '--address', '/ip4/192.0.2.1/tcp/7000')
    assert.equal(badId.status, 2)
    const notListed = hub('remove', '--state', owner, device, '--reason', 'gone')
    assert.equal(notListed.status, 1)
    assert.match(notListed.stderr, new RegExp(`no hub ${device} is listed`))
    for (const result of [unknown, badId, notListed]) assert.doesNotMatch(result.stderr, /at .*\.js:\d+/)
    assert.equal((await storedOwnerEntries(owner, await feedIdentityOf(owner))).length, before)
    const listed = run(['hub', 'list', '--state', owner, '--json'])
    assert.equal(listed.status, 0, listed.stderr)
    assert.deepEqual(JSON.parse(listed.stdout), { hubs: [] })
  })
})
