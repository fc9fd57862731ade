/**
 * A command interrupted with Ctrl-C gives back the TPM objects it loaded: on a TPM without a
 * resource manager (swtpm here, /dev/tpm0) they stayed until the TPM restarted, and the next
 * `fleet run` found no free object slot (TPM_RC_OBJECT_MEMORY).
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import path from 'node:path'
import { printed } from '../../simnet/printed.js'
import { runFleet as run, spawnFleet } from '../helpers/cli.js'
import { haveSwtpm, tempDir } from '../helpers/devices.js'

describe('cli: an interrupted command flushes what it loaded in the TPM', function () {
  this.timeout(120_000)
  let dir: string
  let device: string
  let tcti: string

  before(async function () {
    if (!haveSwtpm()) this.skip()
    dir = await tempDir('fleet-cli-interrupt-')
    device = path.join(dir, 'dev')
    const started = run(['swtpm', 'start', '--dir', device, '--json'])
    assert.equal(started.status, 0, started.stderr)
    tcti = (JSON.parse(started.stdout) as { tcti: string }).tcti
    assert.equal(run(['swtpm', 'boot', '--dir', device]).status, 0)
    assert.equal(run(['init', '--state', path.join(dir, 'state'), '--tcti', tcti]).status, 0)
  })

  after(() => {
    if (device !== undefined) run(['swtpm', 'stop', '--dir', device])
  })

  const transientObjects = (): string[] =>
    execFileSync('tpm2_getcap', ['handles-transient'], {
      env: { ...process.env, TPM2TOOLS_TCTI: tcti },
      encoding: 'utf8'
    })
      .split('\n')
      .filter((line) => line.startsWith('- 0x'))

  it('fleet join stopped by SIGINT while its window is open: exit 130, no transient object left, and fleet run starts', async () => {
    assert.deepEqual(transientObjects(), [])
    const join = spawnFleet([
      'join',
      '--state',
      path.join(dir, 'state'),
      '--eventlog',
      path.join(device, 'binary_bios_measurements'),
      '--listen',
      '/ip4/127.0.0.1/tcp/0',
      '--json',
      '--timeout',
      '60'
    ])
    await printed(join.child, 'window-open', 30_000)
    // What the join holds loaded while it waits for the owner: the leak this is about.
    assert.ok(transientObjects().length > 0, 'fleet join holds an object while its window is open')
    join.child.kill('SIGINT')
    const { code } = await join.done
    assert.equal(code, 130)
    assert.deepEqual(transientObjects(), [])
    assert.equal(run(['run', '--state', path.join(dir, 'state'), '--once']).status, 0)
  })
})
