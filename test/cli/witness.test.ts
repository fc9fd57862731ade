/**
 * fleet witness add | remove | list on an owner state (swtpm): the first add defines the actions in
 * an owner ontology.update, later ones do not; a repeated add is done already; refusals exit 2
 * (malformed URL or key) or 1 (no such witness).
 */
import assert from 'node:assert/strict'
import path from 'node:path'
import { feedIdentityOf } from '../../src/agent/index.js'
import { formatWitnessKey } from '../../src/ledger/index.js'
import { storedOwnerEntries } from '../../src/cli/ledger-store.js'
import { runFleet as run } from '../helpers/cli.js'
import { haveSwtpm, startDevice, stopAllDevices, tempDir } from '../helpers/devices.js'

describe('cli: fleet witness', function () {
  this.timeout(120_000)
  let owner: string
  const vkey = (name: string): string => formatWitnessKey(name, new Uint8Array(32).fill(name.length))
  const add = (name: string, url = `https://${name}`, key = vkey(name)): ReturnType<typeof run> =>
    run(['witness', 'add', '--state', owner, '--url', url, '--vkey', key, '--timeout', '1', '--json'])
  const list = (): Array<{ name: string; url: string }> => {
    const listed = run(['witness', 'list', '--state', owner, '--json'])
    assert.equal(listed.status, 0, listed.stderr)
    return (JSON.parse(listed.stdout) as { witnesses: Array<{ name: string; url: string }> }).witnesses
  }
  const types = async (): Promise<string[]> =>
    (await storedOwnerEntries(owner, await feedIdentityOf(owner))).map((entry) => entry.type)

  before(async function () {
    if (!haveSwtpm()) this.skip()
    const tpm = await startDevice()
    owner = path.join(await tempDir('fleet-witness-cli-'), 'owner')
    const init = run(['owner', 'init', '--state', owner, '--tcti', tpm.tcti, '--json'])
    assert.equal(init.status, 0, init.stderr)
  })
  after(async () => {
    await stopAllDevices()
  })

  it('adds a witness, defining the actions first; a second witness needs no second definition', async () => {
    const first = add('witness.example/w1')
    assert.equal(first.status, 0, first.stderr)
    assert.deepEqual(JSON.parse(first.stdout), {
      name: 'witness.example/w1',
      url: 'https://witness.example/w1',
      reached: []
    })
    assert.equal(add('witness.example/w2', 'https://witness.example/w2/').status, 0)
    assert.equal(add('witness.example/w1').status, 0, 'the same statement again is done already')
    const held = await types()
    assert.deepEqual(held.slice(-3), ['ontology.update', 'witness.external', 'witness.external'])
    assert.deepEqual(
      list().map((w) => [w.name, w.url]),
      [
        ['witness.example/w1', 'https://witness.example/w1'],
        ['witness.example/w2', 'https://witness.example/w2']
      ]
    )
  })

  it('removes a witness by name, and refuses one that is not listed', async () => {
    const removed = run([
      'witness',
      'remove',
      '--state',
      owner,
      'witness.example/w1',
      '--reason',
      'retired',
      '--timeout',
      '1'
    ])
    assert.equal(removed.status, 0, removed.stderr)
    assert.deepEqual(
      list().map((w) => w.name),
      ['witness.example/w2']
    )
    const again = run(['witness', 'remove', '--state', owner, 'witness.example/w1', '--reason', 'x', '--timeout', '1'])
    assert.equal(again.status, 1)
    assert.match(again.stderr, /no external witness named witness.example\/w1/)
  })

  it('refuses a URL that is not http(s), or has credentials, and a key that is not an Ed25519 cosignature key', async () => {
    const before = (await types()).length
    // '@' anywhere: the well-known spec's pattern refuses it (it was refused after the definition was appended).
    for (const url of [
      'ftp://witness.example',
      'https://user:pw@witness.example',
      'not a url',
      'https://w.example/a@b'
    ]) {
      const refused = add('witness.example/w3', url)
      assert.equal(refused.status, 2, url)
      assert.match(refused.stderr, /--url/)
    }
    const badKey = add('witness.example/w3', 'https://witness.example/w3', 'witness.example/w3+00000000+AQ==')
    assert.equal(badKey.status, 2)
    assert.match(badKey.stderr, /--vkey/)
    assert.equal((await types()).length, before, 'nothing appended')
  })

  it('refuses a witness past the 8 agents take, instead of listing one no agent would submit to', async () => {
    // Handed to a closed port, not looked for over mDNS: each add costs no discovery wait.
    const nobody = ['--peer', '/ip4/127.0.0.1/tcp/9/p2p/12D3KooWSUrN2qxQShDdsyEbWSBPAvbgR7BroUpatJ4Wxay7AFXq']
    const first = list().length
    for (let i = first; i < 8; i++) {
      const name = `witness.example/n${i}`
      const added = run([
        'witness',
        'add',
        '--state',
        owner,
        '--url',
        `https://${name}`,
        '--vkey',
        vkey(name),
        ...nobody
      ])
      assert.equal(added.status, 0, added.stderr)
    }
    assert.equal(list().length, 8)
    const before = (await types()).length
    const refused = add('witness.example/ninth')
    assert.equal(refused.status, 1)
    assert.match(refused.stderr, /8 external witnesses are listed already/)
    assert.equal((await types()).length, before, 'nothing appended')
    // Replacing a listed one (a new URL) is still taken.
    const listed = `witness.example/n${first}`
    assert.equal(add(listed, `https://${listed}-moved`).status, 0)
  })
})
