/**
 * fleet init / fleet run on real swtpm devices: keys released only after a good boot and the
 * agent's self-measurement; a tampered boot, a changed agent and a copied state directory refused.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { cpSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { haveSwtpm, tempDir } from '../helpers/devices.js'
import { runFleet as run, spawnFleet } from '../helpers/cli.js'
import { printed } from '../../simnet/printed.js'

describe('cli: fleet init / fleet run', function () {
  this.timeout(120_000)
  let dir: string
  const devices: string[] = []
  const tcti = (device: string): string => `swtpm:path=${path.join(device, 'tpm.sock')}`

  before(async function () {
    if (!haveSwtpm()) this.skip()
    dir = await tempDir('fleet-cli-agent-')
    for (const name of ['dev1', 'dev2']) {
      const device = path.join(dir, name)
      assert.equal(run(['swtpm', 'start', '--dir', device]).status, 0)
      assert.equal(run(['swtpm', 'boot', '--dir', device]).status, 0)
      devices.push(device)
    }
    assert.equal(
      run([
        'policy',
        'create',
        '--from-eventlog',
        path.join(devices[0]!, 'binary_bios_measurements'),
        '--out',
        path.join(dir, 'policy.json')
      ]).status,
      0
    )
  })

  after(() => {
    for (const device of devices) run(['swtpm', 'stop', '--dir', device])
  })

  it('init makes an identity; run releases its keys after a good boot', () => {
    const init = run(['init', '--state', path.join(dir, 'state1'), '--tcti', tcti(devices[0]!), '--json'])
    assert.equal(init.status, 0, init.stderr)
    const identity = JSON.parse(init.stdout) as { deviceId: string; peerId: string }
    const started = run([
      'run',
      '--state',
      path.join(dir, 'state1'),
      '--once',
      '--listen',
      '/ip4/127.0.0.1/tcp/0',
      '--json'
    ])
    assert.equal(started.status, 0, started.stderr)
    const status = JSON.parse(started.stdout.trim().split('\n').pop()!) as { deviceId: string; peerId: string }
    assert.equal(status.deviceId, identity.deviceId)
    assert.equal(status.peerId, identity.peerId)
    // Nothing secret on disk: the state file holds public data and TPM-wrapped blobs.
    const state = readFileSync(path.join(dir, 'state1', 'device.json'), 'utf8')
    assert.doesNotMatch(state, /seed|privateKey"/i)
  })

  /** `fleet run` on state1, once it printed its status line (so it listens and holds its lock). */
  async function startedAgent(): Promise<ReturnType<typeof spawnFleet>> {
    const agent = spawnFleet(['run', '--state', path.join(dir, 'state1'), '--listen', '/ip4/127.0.0.1/tcp/0', '--json'])
    await printed(agent.child, 'peerId', 20_000)
    return agent
  }

  it('runs until SIGTERM, then stops cleanly (exit 0)', async () => {
    const agent = await startedAgent()
    agent.child.kill('SIGTERM')
    const { code, stderr } = await agent.done
    assert.equal(code, 0, `the agent exited with ${code}: ${stderr.slice(-2000)}`)
    // The TPM is free again: the next start works.
    assert.equal(run(['run', '--state', path.join(dir, 'state1'), '--once']).status, 0)
  })

  it("a second agent on the same state directory is refused naming the first one's pid (exit 1), before the TPM releases anything", async () => {
    const { child, done } = await startedAgent()
    try {
      const second = run(['run', '--state', path.join(dir, 'state1'), '--once'])
      assert.equal(second.status, 1)
      assert.match(second.stderr, new RegExp(`^fleet: an agent is already running on .*state1 \\(pid ${child.pid}\\)`))
    } finally {
      child.kill('SIGTERM')
      await done
    }
    assert.equal(run(['run', '--state', path.join(dir, 'state1'), '--once']).status, 0)
  })

  it('says at start that the boot event log cannot be read, naming it (peers would refuse every attestation)', () => {
    const missing = path.join(dir, 'no-such-log')
    const result = run(['run', '--state', path.join(dir, 'state1'), '--once', '--eventlog', missing])
    assert.equal(result.status, 0)
    assert.match(result.stderr, /the boot event log cannot be read: peers will refuse this device's attestations/)
    assert.match(result.stderr, /no-such-log/)
    const good = run([
      'run',
      '--state',
      path.join(dir, 'state1'),
      '--once',
      '--eventlog',
      path.join(devices[0]!, 'binary_bios_measurements')
    ])
    assert.equal(good.status, 0)
    assert.doesNotMatch(good.stderr, /event log cannot be read/)
  })

  it('a listen address in use: exit 1 with one line naming it, nothing left running, and the next start works', async () => {
    const { createServer } = await import('node:net')
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    const port = (blocker.address() as { port: number }).port
    try {
      const result = run([
        'run',
        '--state',
        path.join(dir, 'state1'),
        '--eventlog',
        path.join(devices[0]!, 'binary_bios_measurements'),
        '--listen',
        `/ip4/127.0.0.1/tcp/${port}`
      ])
      assert.equal(result.status, 1)
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr)
      assert.match(
        result.stderr,
        new RegExp(`^fleet: listen address /ip4/127.0.0.1/tcp/${port} is in use by another program`)
      )
    } finally {
      blocker.close()
    }
    assert.equal(run(['run', '--state', path.join(dir, 'state1'), '--once']).status, 0)
  })

  it('a private network key the agent cannot use stops the start (exit 2, one line naming it); a usable one starts it', () => {
    const key = path.join(dir, 'network.key')
    assert.equal(run(['network-key', 'generate', '--out', key]).status, 0)
    const config = path.join(dir, 'config-network-key.json')
    writeFileSync(config, JSON.stringify({ state: path.join(dir, 'state1'), networkKeyFile: key }))
    execFileSync('chmod', ['644', key])
    const refused = run(['run', '--once', '--config', config])
    assert.equal(refused.status, 2)
    assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr)
    assert.match(refused.stderr, new RegExp(`^fleet: network key ${key}: is open to others \\(mode 644\\)`))
    execFileSync('chmod', ['600', key])
    const started = run(['run', '--once', '--config', config])
    assert.equal(started.status, 0, started.stderr)
  })

  it("the config file is honoured: its tcti over the state's, its state directory and peers; PCRs the keys are not sealed to are refused (exit 2)", async () => {
    const { spawnSync } = await import('node:child_process')
    const { FLEET } = await import('../helpers/cli.js')
    const config = (fields: Record<string, unknown>): string => {
      const file = path.join(dir, `config-${Object.keys(fields).join('-')}.json`)
      writeFileSync(file, JSON.stringify(fields))
      return file
    }
    const elsewhere = run([
      'run',
      '--state',
      path.join(dir, 'state1'),
      '--once',
      '--config',
      config({ tcti: 'swtpm:path=/nonexistent/tpm.sock' })
    ])
    // A TPM not reachable at start is worth another try by the service manager: exit 75.
    assert.equal(elsewhere.status, 75)
    assert.match(elsewhere.stderr, /no TPM reachable at swtpm:path=\/nonexistent\/tpm\.sock/)
    const fromFile = run(['run', '--once', '--config', config({ state: path.join(dir, 'state1') })])
    assert.equal(fromFile.status, 0, fromFile.stderr)
    const fromEnv = spawnSync(FLEET, ['run', '--once'], {
      encoding: 'utf8',
      env: { ...process.env, FLEET_STATE: path.join(dir, 'state1') }
    })
    assert.equal(fromEnv.status, 0, fromEnv.stderr)
    const pcr = run(['run', '--state', path.join(dir, 'state1'), '--once', '--config', config({ agentPcr: 22 })])
    assert.equal(pcr.status, 2)
    assert.match(pcr.stderr, /agentPcr 22 and bootPcrs .* differ from what this device's keys are sealed to \(23;/)
    const peers = run([
      'run',
      '--state',
      path.join(dir, 'state1'),
      '--once',
      '--config',
      config({ peers: ['/ip4/127.0.0.1/tcp/1'] })
    ])
    assert.equal(peers.status, 2)
    assert.match(peers.stderr, /peers/)
    assert.equal(run(['run', '--once']).status, 2)
    // As the unit runs it: the config file when there is one, the defaults when there is none.
    const state1 = path.join(dir, 'state1')
    const absent = run(['run', '--state', state1, '--once', '--config-if-present', path.join(dir, 'none.json')])
    assert.equal(absent.status, 0, absent.stderr)
    assert.equal(run(['run', '--state', state1, '--once', '--config', path.join(dir, 'none.json')]).status, 2)
    const present = run(['run', '--state', state1, '--once', '--config-if-present', config({ agentPcr: 22 })])
    assert.equal(present.status, 2, 'a file that is there is read, and checked')
    const both = run(['run', '--state', state1, '--once', '--config', 'a', '--config-if-present', 'b'])
    assert.equal(both.status, 2)
  })

  it('refuses to init over an existing identity without --yes (exit 2)', () => {
    assert.equal(run(['init', '--state', path.join(dir, 'state1'), '--tcti', tcti(devices[0]!)]).status, 2)
  })

  it('a tampered boot: exit 1, keys stay sealed, the PCR and the event are named', () => {
    assert.equal(run(['swtpm', 'boot', '--dir', devices[0]!, '--variant', 'tampered-kernel']).status, 0)
    const result = run([
      'run',
      '--state',
      path.join(dir, 'state1'),
      '--once',
      '--eventlog',
      path.join(devices[0]!, 'binary_bios_measurements'),
      '--policy',
      path.join(dir, 'policy.json')
    ])
    assert.equal(result.status, 1)
    assert.match(result.stderr, /keys stay sealed: PCR 4 /)
    assert.match(result.stderr, /PCR 4 event #\d+ EV_EFI_BOOT_SERVICES_APPLICATION digest [0-9a-f]{64} is not allowed/)
    assert.equal(run(['swtpm', 'boot', '--dir', devices[0]!]).status, 0)
    assert.equal(run(['run', '--state', path.join(dir, 'state1'), '--once']).status, 0)
  })

  it('another agent measured this boot: exit 1', () => {
    execFileSync('tpm2_pcrextend', [`23:sha256=${'ab'.repeat(32)}`], {
      env: { ...process.env, TPM2TOOLS_TCTI: tcti(devices[0]!) }
    })
    const result = run(['run', '--state', path.join(dir, 'state1'), '--once'])
    assert.equal(result.status, 1)
    assert.match(result.stderr, /PCR 23 already holds/)
    assert.equal(run(['swtpm', 'boot', '--dir', devices[0]!]).status, 0)
  })

  it('a state directory copied to another machine: refused as a clone (exit 1); doctored, its keys do not load', () => {
    cpSync(path.join(dir, 'state1'), path.join(dir, 'copy'), { recursive: true })
    const clone = run(['run', '--state', path.join(dir, 'copy'), '--tcti', tcti(devices[1]!), '--once'])
    assert.equal(clone.status, 1)
    assert.match(clone.stderr, /copied from another machine/)
    // Claiming to be the other device does not help: its TPM cannot load or unseal the blobs.
    const other = JSON.parse(run(['tpm', 'info', '--tcti', tcti(devices[1]!), '--json']).stdout) as { deviceId: string }
    const file = path.join(dir, 'copy', 'device.json')
    writeFileSync(
      file,
      readFileSync(file, 'utf8').replace(/"deviceId": "[a-z2-7]+"/, `"deviceId": "${other.deviceId}"`)
    )
    const doctored = run(['run', '--state', path.join(dir, 'copy'), '--tcti', tcti(devices[1]!), '--once'])
    assert.equal(doctored.status, 1)
    assert.match(doctored.stderr, /does not load|refused to unseal|keys stay sealed/)
  })

  it('a damaged state file: exit 2', () => {
    const file = path.join(dir, 'copy', 'device.json')
    writeFileSync(file, '{"version": 2}')
    assert.equal(run(['run', '--state', path.join(dir, 'copy'), '--once']).status, 2)
    assert.equal(run(['run', '--state', path.join(dir, 'missing'), '--once']).status, 2)
  })
})
