/**
 * fleet peers: the running agent's live view with a header and whether each peer is connected;
 * without an agent, the last view written, said to be old, and exit 1 (it was shown as current).
 */
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { peersTable } from '../../src/cli/commands/agent-status.js'
import { runFleetAsync } from '../helpers/cli.js'
import { tempDir } from '../helpers/devices.js'

const DEVICE = 'k'.repeat(52)
const member = {
  peerId: '12D3KooWmember',
  deviceId: DEVICE,
  hostname: 'ward-7',
  trusted: true,
  reasons: [],
  at: '2026-12-06T10:00:00.000Z',
  attestations: 3
}
const stranger = {
  peerId: '12D3KooWstranger',
  trusted: false,
  kind: 'stranger',
  reasons: ['not a member of this fleet'],
  at: '2026-12-06T09:00:00.000Z',
  attestations: 0
}

describe('cli: fleet peers', function () {
  this.timeout(30_000)

  it('a table with a header, an online column and how each peer is reached; strangers no longer connected only with --all', () => {
    const table = peersTable(
      [
        { ...member, online: true, via: 'direct' },
        { ...stranger, online: false }
      ],
      false
    ).split('\n')
    assert.match(table[0]!, /^VERDICT\s+ONLINE\s+REACHED\s+DEVICE\s+HOST\s+SINCE\s+REASONS$/)
    assert.equal(table.length, 2)
    assert.match(table[1]!, new RegExp(`^trusted\\s+yes\\s+direct\\s+${DEVICE}\\s+ward-7\\s+2026-12-06T10:00:00.000Z$`))
    const relayed = peersTable([{ ...member, online: true, via: 'relay', hub: '12D3KooWhubhubhub12345678' }], false)
    assert.match(relayed.split('\n')[1]!, new RegExp(`^trusted\\s+yes\\s+via hub 12345678\\s+${DEVICE}`))
    const all = peersTable(
      [
        { ...member, online: true },
        { ...stranger, online: false }
      ],
      true
    ).split('\n')
    assert.equal(all.length, 3)
    assert.match(all[2]!, /^stranger\s+no\s+\(no device\)\s+.*not a member of this fleet$/)
    // A stranger connected now is shown: something is talking to the agent.
    assert.equal(peersTable([{ ...stranger, online: true }], false).split('\n').length, 2)
  })

  it('without a running agent: the last view, said to be old, on stdout and exit 1; nothing at all: exit 1', async () => {
    const dir = await tempDir('peers-')
    await writeFile(
      path.join(dir, 'peers.json'),
      JSON.stringify({ updatedAt: '2026-12-06T10:05:00.000Z', peers: [member] })
    )
    const result = await runFleetAsync(['peers', '--state', dir])
    assert.equal(result.status, 1)
    assert.match(result.stderr, /no agent is running for .*; its last view, from 2026-12-06T10:05:00.000Z, follows/)
    assert.match(result.stdout, /^VERDICT\s+ONLINE/)
    assert.match(result.stdout, new RegExp(`trusted\\s+\\?\\s+${DEVICE}`))
    const json = await runFleetAsync(['peers', '--state', dir, '--json'])
    assert.equal(json.status, 1)
    assert.deepEqual(JSON.parse(json.stdout), {
      running: false,
      updatedAt: '2026-12-06T10:05:00.000Z',
      peers: [member]
    })
    const empty = await runFleetAsync(['peers', '--state', await tempDir('peers-')])
    assert.equal(empty.status, 1)
    assert.equal(empty.stdout, '')
    assert.match(empty.stderr, /no agent is running/)
  })
})
