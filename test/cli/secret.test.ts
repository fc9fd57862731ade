/**
 * fleet secret on a device without a running agent (real swtpm, bin/fleet): sealed only after the
 * device's keys are released here; listed without values; refused in a tampered boot, on another
 * TPM with the same files, and for bad names or sizes.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { cpSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { haveSwtpm, tempDir } from '../helpers/devices.js'
import { runFleet as run } from '../helpers/cli.js'

describe('cli: fleet secret seal / list / remove (swtpm, no agent running)', function () {
  this.timeout(120_000)
  let dir: string
  let state: string
  const devices: string[] = []
  const tcti = (device: string): string => `swtpm:path=${path.join(device, 'tpm.sock')}`
  const value = `pw-${randomBytes(16).toString('hex')}`

  before(async function () {
    if (!haveSwtpm()) this.skip()
    dir = await tempDir('fleet-cli-secret-')
    for (const name of ['dev1', 'dev2']) {
      const device = path.join(dir, name)
      assert.equal(run(['swtpm', 'start', '--dir', device]).status, 0)
      assert.equal(run(['swtpm', 'boot', '--dir', device]).status, 0)
      devices.push(device)
    }
    state = path.join(dir, 'state1')
    const init = run(['init', '--state', state, '--tcti', tcti(devices[0]!), '--json'])
    assert.equal(init.status, 0, init.stderr)
    writeFileSync(path.join(dir, 'pw'), value)
  })

  after(() => {
    for (const device of devices) run(['swtpm', 'stop', '--dir', device])
  })

  it('seals after a good boot, lists names and policies without values, and removes', () => {
    const sealed = run(['secret', 'seal', '--state', state, 'db-password', '--from', path.join(dir, 'pw'), '--json'])
    assert.equal(sealed.status, 0, sealed.stderr)
    assert.equal((JSON.parse(sealed.stdout) as { name: string }).name, 'db-password')
    const listed = run(['secret', 'list', '--state', state, '--json'])
    assert.equal(listed.status, 0, listed.stderr)
    const secrets = JSON.parse(listed.stdout) as Array<{ name: string; bytes: number; sealedTo: string }>
    assert.deepEqual(
      secrets.map((s) => [s.name, s.bytes, s.sealedTo]),
      [['db-password', value.length, 'boot-pcrs']]
    )
    for (const out of [sealed, listed]) assert.ok(!out.stdout.includes(value) && !out.stderr.includes(value))
    for (const file of readdirSync(state, { recursive: true }) as string[]) {
      const full = path.join(state, file)
      try {
        assert.ok(!readFileSync(full).includes(Buffer.from(value)), `${file} holds the value`)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EISDIR') throw err
      }
    }
    // Sealed already: refused without --replace (exit 1), replaced with it.
    const again = run(['secret', 'seal', '--state', state, 'db-password', '--from', path.join(dir, 'pw')])
    assert.equal(again.status, 1)
    assert.match(again.stderr, /--replace/)
    assert.equal(
      run(['secret', 'seal', '--state', state, 'db-password', '--from', path.join(dir, 'pw'), '--replace']).status,
      0
    )
    assert.equal(run(['secret', 'seal', '--state', state, 'other', '--from', path.join(dir, 'pw')]).status, 0)
    assert.equal(run(['secret', 'remove', '--state', state, 'other']).status, 0)
    assert.equal(run(['secret', 'remove', '--state', state, 'other']).status, 1)
  })

  it('bad names and sizes are usage errors (exit 2), nothing written', () => {
    writeFileSync(path.join(dir, 'empty'), '')
    writeFileSync(path.join(dir, 'big'), Buffer.alloc(32 * 1024 + 1))
    for (const [name, from] of [
      ['../device', 'pw'],
      ['.hidden', 'pw'],
      ['ok', 'empty'],
      ['ok', 'big']
    ]) {
      const r = run(['secret', 'seal', '--state', state, name!, '--from', path.join(dir, from!)])
      assert.equal(r.status, 2, `${name} from ${from}: ${r.stderr}`)
      assert.ok(!r.stderr.includes('    at '), 'no stack trace')
    }
    assert.deepEqual(
      (JSON.parse(run(['secret', 'list', '--state', state, '--json']).stdout) as Array<{ name: string }>).map(
        (s) => s.name
      ),
      ['db-password']
    )
  })

  it("a re-seal fleet release install left interrupted is settled first by list, seal and remove, the state's secrets kept", () => {
    const secrets = path.join(state, 'secrets')
    const staged = path.join(state, 'secrets.next')
    const replaced = path.join(state, 'secrets.old')
    const held = readFileSync(path.join(secrets, 'db-password.json'))
    // The same secret as the owner's first approval would have re-sealed it: a policy this state is not at.
    const toOwner = (folder: string): void => {
      mkdirSync(folder, { mode: 0o700 })
      const file = JSON.parse(held.toString()) as Record<string, unknown>
      writeFileSync(
        path.join(folder, 'db-password.json'),
        JSON.stringify({ ...file, sealedTo: 'owner', authority: `04${'ab'.repeat(64)}` })
      )
    }
    const folders = (): string[] => readdirSync(state).filter((entry) => entry.startsWith('secrets'))
    const names = (): string[] =>
      (JSON.parse(run(['secret', 'list', '--state', state, '--json']).stdout) as Array<{ name: string }>).map(
        (s) => s.name
      )

    // Staged, the new state never written: list rolls back.
    toOwner(staged)
    assert.deepEqual(names(), ['db-password'])
    assert.deepEqual(folders(), ['secrets'])
    assert.deepEqual(readFileSync(path.join(secrets, 'db-password.json')), held)

    // Mid-swap, the secrets that match this state staged, the others set aside: seal rolls forward.
    renameSync(secrets, staged)
    toOwner(replaced)
    const sealed = run(['secret', 'seal', '--state', state, 'other', '--from', path.join(dir, 'pw')])
    assert.equal(sealed.status, 0, sealed.stderr)
    assert.deepEqual(folders(), ['secrets'])
    assert.deepEqual(readFileSync(path.join(secrets, 'db-password.json')), held)

    // Moved in, the set-aside ones not yet removed: remove finishes the swap, then removes.
    toOwner(replaced)
    assert.equal(run(['secret', 'remove', '--state', state, 'other']).status, 0)
    assert.deepEqual(folders(), ['secrets'])
    assert.deepEqual(names(), ['db-password'])
    assert.deepEqual(readFileSync(path.join(secrets, 'db-password.json')), held)
  })

  it('a copied state directory on another TPM seals nothing; a tampered boot seals nothing', () => {
    const copy = path.join(dir, 'copy')
    cpSync(state, copy, { recursive: true })
    const device = JSON.parse(readFileSync(path.join(copy, 'device.json'), 'utf8')) as Record<string, unknown>
    writeFileSync(path.join(copy, 'device.json'), JSON.stringify({ ...device, tcti: tcti(devices[1]!) }))
    const clone = run(['secret', 'seal', '--state', copy, 'stolen', '--from', path.join(dir, 'pw')])
    assert.equal(clone.status, 1)
    assert.match(clone.stderr, /copied from another machine/)

    assert.equal(run(['swtpm', 'boot', '--dir', devices[0]!, '--variant', 'tampered-kernel']).status, 0)
    const tampered = run(['secret', 'seal', '--state', state, 'late', '--from', path.join(dir, 'pw')])
    assert.equal(tampered.status, 1)
    assert.match(tampered.stderr, /keys stay sealed: PCR 4/)
    assert.deepEqual(
      (JSON.parse(run(['secret', 'list', '--state', state, '--json']).stdout) as Array<{ name: string }>).map(
        (s) => s.name
      ),
      ['db-password']
    )
  })
})
