/**
 * Owner-approved key release on swtpm, as separate processes: an enrolled device's keys move from
 * its PCR values to the owner (TPM2_PolicyAuthorize); a kernel update keeps them sealed until the
 * owner approves the new boot; a tampered boot and forged approvals are refused.
 */
import assert from 'node:assert/strict'
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { EsysTpm } from '../../src/attest/index.js'
import { openSecret, readDeviceState } from '../../src/agent/index.js'
import { haveSwtpm, tempDir } from '../helpers/devices.js'
import { runFleet as run, joinAndEnrol, spawnFleet, startSwtpm as startSoftwareTpm } from '../helpers/cli.js'
import { printed } from '../../simnet/printed.js'

describe('cli: fleet release (owner-approved key release)', function () {
  this.timeout(240_000)
  let dir: string
  const swtpms: string[] = []
  const tcti = (device: string): string => `swtpm:path=${path.join(device, 'tpm.sock')}`
  let owner: string
  let state: string
  let device: string
  let deviceId: string

  const startSwtpm = (name: string): string => startSoftwareTpm(dir, name, swtpms)

  const log = (): string => path.join(device, 'binary_bios_measurements')
  const request = (): ReturnType<typeof run> =>
    run([
      'release',
      'request',
      '--state',
      state,
      '--eventlog',
      log(),
      '--out',
      path.join(dir, 'request.json'),
      '--json'
    ])
  const approve = (extra: string[]): ReturnType<typeof run> =>
    run([
      'release',
      'approve',
      '--state',
      owner,
      '--request',
      path.join(dir, 'request.json'),
      '--out',
      path.join(dir, 'approval.json'),
      '--timeout',
      '1',
      '--json',
      ...extra
    ])
  const install = (file = path.join(dir, 'approval.json')): ReturnType<typeof run> =>
    run(['release', 'install', '--state', state, '--approval', file, '--json'])
  const start = (): ReturnType<typeof run> =>
    run(['run', '--state', state, '--once', '--listen', '/ip4/127.0.0.1/tcp/0', '--json'])

  before(async function () {
    if (!haveSwtpm()) this.skip()
    dir = await tempDir('fleet-cli-release-')
    const ownerTpm = startSwtpm('owner-tpm')
    owner = path.join(dir, 'owner')
    const made = run(['owner', 'init', '--state', owner, '--tcti', tcti(ownerTpm), '--name', 'clinic', '--json'])
    assert.equal(made.status, 0, made.stderr)
    const fleetId = (JSON.parse(made.stdout) as { fleetId: string }).fleetId
    assert.equal(
      run([
        'policy',
        'create',
        '--from-eventlog',
        path.join(ownerTpm, 'binary_bios_measurements'),
        '--out',
        path.join(dir, 'policy.json')
      ]).status,
      0
    )

    device = startSwtpm('dev1')
    state = path.join(dir, 'state1')
    const init = run(['init', '--state', state, '--tcti', tcti(device), '--json'])
    assert.equal(init.status, 0, init.stderr)
    deviceId = (JSON.parse(init.stdout) as { deviceId: string }).deviceId
    const { enrolled, joined } = await joinAndEnrol(
      {
        state,
        eventLog: log(),
        fleetId,
        owner,
        policy: path.join(dir, 'policy.json'),
        ca: path.join(dir, 'ca'),
        deviceId
      },
      run
    )
    assert.equal(enrolled.status, 0, enrolled.stderr)
    assert.equal(joined.code, 0, joined.stderr)
  })

  after(() => {
    for (const at of swtpms) run(['swtpm', 'stop', '--dir', at])
  })

  it('the first approval moves the keys, and the workload secrets, from PCR values to the owner; they are released under it', async () => {
    assert.equal(start().status, 0)
    const asked = request()
    assert.equal(asked.status, 0, asked.stderr)
    const agent = (JSON.parse(asked.stdout) as { agentMeasurement: string }).agentMeasurement
    // Refused before anything is signed: no allowlist of agent builds at all (fail closed), an
    // agent build the owner's allowlist does not name (whatever the device reports), PCR values
    // that are not the quoted ones, a device this fleet never enrolled.
    const requestFile = path.join(dir, 'request.json')
    const good = readFileSync(requestFile, 'utf8')
    const noList = approve(['--policy', path.join(dir, 'policy.json')])
    assert.equal(noList.status, 2)
    assert.match(noList.stderr, /no agent allowlist/)
    writeFileSync(path.join(owner, 'agent-allowlist'), `# an older build\n${'0'.repeat(64)}\n`)
    const unlisted = approve(['--policy', path.join(dir, 'policy.json')])
    assert.equal(unlisted.status, 1)
    assert.match(
      unlisted.stderr,
      /release request refused: the agent measured is [0-9a-f]{64}, not one on the owner's allowlist \(1 allowed\)/
    )
    const pinned = approve(['--policy', path.join(dir, 'policy.json'), '--agent', '1'.repeat(64)])
    assert.equal(pinned.status, 1)
    assert.match(pinned.stderr, /not one on the owner's allowlist/)
    writeFileSync(path.join(owner, 'agent-allowlist'), `# an older build\n${'0'.repeat(64)}\n# this one\n${agent}\n`)
    const edited = JSON.parse(good) as { values: string[]; deviceId: string }
    edited.values[0] = 'ab'.repeat(32)
    writeFileSync(requestFile, JSON.stringify(edited))
    const forged = approve(['--policy', path.join(dir, 'policy.json')])
    assert.equal(forged.status, 1)
    assert.match(forged.stderr, /the quote does not verify with the device's enrolled AK/)
    writeFileSync(requestFile, JSON.stringify({ ...(JSON.parse(good) as object), deviceId: 'a'.repeat(52) }))
    const stranger = approve(['--policy', path.join(dir, 'policy.json')])
    assert.equal(stranger.status, 1)
    assert.match(stranger.stderr, /was never enrolled in this fleet/)
    writeFileSync(requestFile, good)
    assert.equal(run(['ledger', 'tail', '--state', owner, '--json']).stdout.includes('device.approve_release'), false)
    const approved = approve(['--policy', path.join(dir, 'policy.json')])
    assert.equal(approved.status, 0, approved.stderr)
    const result = JSON.parse(approved.stdout) as { deviceId: string; pcrs: number[]; agentMeasurement: string }
    assert.equal(result.deviceId, deviceId)
    assert.ok(result.pcrs.includes(23))
    // A workload secret sealed before, to the PCR values, follows the keys to the owner.
    writeFileSync(path.join(dir, 'secret'), 'model-key-bytes')
    const sealedSecret = run(['secret', 'seal', '--state', state, 'model-key', '--from', path.join(dir, 'secret')])
    assert.equal(sealedSecret.status, 0, sealedSecret.stderr)
    // A damaged owner copy is not read in the boot of fleet init, where it is not needed, and goes.
    writeFileSync(path.join(state, 'owner-sealed.json'), '{"version":1')
    const installed = install()
    assert.equal(installed.status, 0, installed.stderr)
    assert.equal(existsSync(path.join(state, 'owner-sealed.json')), false)
    const outcome = JSON.parse(installed.stdout) as { resealed: boolean; secretsResealed: string[] }
    assert.equal(outcome.resealed, true)
    assert.deepEqual(outcome.secretsResealed, ['model-key'])
    const listed = JSON.parse(run(['secret', 'list', '--state', state, '--json']).stdout) as Array<{ sealedTo: string }>
    assert.deepEqual(
      listed.map((s) => s.sealedTo),
      ['owner']
    )
    const saved = JSON.parse(readFileSync(path.join(state, 'device.json'), 'utf8')) as {
      version: number
      mldsa: { sealed: { authority?: unknown; expected?: unknown } }
      approvals: unknown[]
    }
    assert.equal(saved.version, 3)
    assert.ok(saved.mldsa.sealed.authority !== undefined && saved.mldsa.sealed.expected === undefined)
    assert.equal(saved.approvals.length, 1)
    const started = start()
    assert.equal(started.status, 0, started.stderr)
    assert.equal((JSON.parse(started.stdout.trim().split('\n').pop()!) as { deviceId: string }).deviceId, deviceId)
    // The re-sealed secret opens under the owner's approval of this boot (the agent measured by the run).
    const tpm = await EsysTpm.open({ tcti: tcti(device) })
    try {
      const value = await openSecret(tpm, await readDeviceState(state), state, 'model-key')
      assert.equal(Buffer.from(value).toString(), 'model-key-bytes')
    } finally {
      await tpm.close()
    }
    // The approval is in the owner's audit trail.
    const tail = run(['ledger', 'tail', '--state', owner, '--json'])
    const rows = tail.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string })
    assert.equal(rows.filter((r) => r.type === 'device.approve_release').length, 1)
  })

  it("refused while the device's agent answers on its control socket (exit 1): the state file and the secrets stay as they were", async () => {
    // A fresh approval of this boot: installed, it would change the state file.
    assert.equal(request().status, 0)
    const approved = approve(['--policy', path.join(dir, 'policy.json')])
    assert.equal(approved.status, 0, approved.stderr)
    const stateFile = path.join(state, 'device.json')
    const secretFile = path.join(state, 'secrets', 'model-key.json')
    const before = { state: readFileSync(stateFile), secret: readFileSync(secretFile) }
    const agent = spawnFleet([
      'run',
      '--state',
      state,
      '--eventlog',
      log(),
      '--listen',
      '/ip4/127.0.0.1/tcp/0',
      '--json'
    ])
    try {
      await printed(agent.child, 'peerId', 60_000)
      const refused = install()
      assert.equal(refused.status, 1, refused.stderr)
      assert.match(refused.stderr, /the agent of .* is running: stop it, install the approval, start it again/)
      assert.deepEqual(readFileSync(stateFile), before.state)
      assert.deepEqual(readFileSync(secretFile), before.secret)
      assert.deepEqual(
        readdirSync(state).filter((entry) => entry.startsWith('secrets')),
        ['secrets']
      )
    } finally {
      agent.child.kill('SIGTERM')
      await agent.done
    }
    // Stopped, the same approval is installed.
    const installed = install()
    assert.equal(installed.status, 0, installed.stderr)
    assert.notDeepEqual(readFileSync(stateFile), before.state)
  })

  it('a kernel update: keys stay sealed naming PCR 4 until the owner approves the new boot; no re-initialisation', () => {
    assert.equal(run(['swtpm', 'boot', '--dir', device, '--variant', 'new-kernel']).status, 0)
    const refused = start()
    assert.equal(refused.status, 1)
    assert.match(refused.stderr, /keys stay sealed: PCR 4 .*fleet release request/)
    assert.equal(request().status, 0)
    // The fleet's policy does not know the new kernel: refused, nothing signed.
    const old = approve(['--policy', path.join(dir, 'policy.json')])
    assert.equal(old.status, 1)
    assert.match(old.stderr, /release request refused: the boot policy does not allow this boot: .*PCR 4/)
    // The owner publishes a policy that allows it, then approves.
    assert.equal(
      run(['policy', 'create', '--from-eventlog', log(), '--out', path.join(dir, 'policy-new.json')]).status,
      0
    )
    const published = run([
      'policy',
      'publish',
      '--state',
      owner,
      '--policy',
      path.join(dir, 'policy-new.json'),
      '--timeout',
      '1',
      '--json'
    ])
    assert.equal(published.status, 0, published.stderr)
    const approved = approve([])
    assert.equal(approved.status, 0, approved.stderr)
    const installed = install()
    assert.equal(installed.status, 0, installed.stderr)
    assert.equal((JSON.parse(installed.stdout) as { resealed: boolean; approvals: number }).resealed, false)
    assert.equal((JSON.parse(installed.stdout) as { approvals: number }).approvals, 2)
    assert.equal(start().status, 0)
    // The previous boot is still approved too (rollback to the old kernel works).
    assert.equal(run(['swtpm', 'boot', '--dir', device]).status, 0)
    assert.equal(start().status, 0)
  })

  it('a tampered boot is not approved; a forged or altered approval is refused (exit 1) and nothing changes', () => {
    assert.equal(run(['swtpm', 'boot', '--dir', device, '--variant', 'tampered-kernel']).status, 0)
    assert.equal(request().status, 0)
    const tampered = approve([])
    assert.equal(tampered.status, 1)
    assert.match(tampered.stderr, /does not allow this boot/)
    assert.equal(run(['swtpm', 'boot', '--dir', device]).status, 0)

    const before = readFileSync(path.join(state, 'device.json'), 'utf8')
    const good = JSON.parse(readFileSync(path.join(dir, 'approval.json'), 'utf8')) as {
      approval: string
      p256: string
      mldsa65: string
    }
    const altered = Buffer.from(good.approval, 'base64')
    altered[altered.length - 1]! ^= 1
    writeFileSync(path.join(dir, 'altered.json'), JSON.stringify({ ...good, approval: altered.toString('base64') }))
    const refused = install(path.join(dir, 'altered.json'))
    assert.equal(refused.status, 1)
    assert.match(refused.stderr, /release approval/)
    const p256 = Buffer.from(good.p256, 'base64')
    p256[5]! ^= 1
    writeFileSync(path.join(dir, 'forged.json'), JSON.stringify({ ...good, p256: p256.toString('base64') }))
    const forged = install(path.join(dir, 'forged.json'))
    assert.equal(forged.status, 1)
    assert.match(forged.stderr, /not signed by this fleet's owner/)
    writeFileSync(path.join(dir, 'garbage.json'), '{"version":1,"kind":"release-approval"')
    assert.equal(install(path.join(dir, 'garbage.json')).status, 2)
    assert.equal(readFileSync(path.join(state, 'device.json'), 'utf8'), before)
    assert.equal(start().status, 0)
  })

  it("an approval withdrawn by the owner's next one releases nothing, even booted into the state it approved with the old state file restored", () => {
    // A request from the old kernel, kept by an attacker to replay later.
    assert.equal(request().status, 0)
    writeFileSync(path.join(dir, 'old-kernel-request.json'), readFileSync(path.join(dir, 'request.json')))
    assert.equal(run(['swtpm', 'boot', '--dir', device, '--variant', 'new-kernel']).status, 0)
    assert.equal(start().status, 0)
    const stateFile = path.join(state, 'device.json')
    const before = readFileSync(stateFile, 'utf8')
    writeFileSync(path.join(dir, 'before-withdrawal.json'), readFileSync(path.join(dir, 'approval.json')))
    assert.equal(request().status, 0)
    const approved = approve(['--withdraw-previous'])
    assert.equal(approved.status, 0, approved.stderr)
    assert.equal((JSON.parse(approved.stdout) as { withdrawsPrevious: boolean }).withdrawsPrevious, true)
    writeFileSync(path.join(dir, 'withdrawing.json'), readFileSync(path.join(dir, 'approval.json')))
    const installed = install(path.join(dir, 'withdrawing.json'))
    assert.equal(installed.status, 0, installed.stderr)
    const result = JSON.parse(installed.stdout) as { withdrawn: boolean; approvals: number }
    assert.equal(result.withdrawn, true)
    assert.equal(result.approvals, 1)
    assert.equal(start().status, 0)

    // The old kernel, which the owner had approved: withdrawn.
    assert.equal(run(['swtpm', 'boot', '--dir', device]).status, 0)
    const old = start()
    assert.equal(old.status, 1)
    assert.match(old.stderr, /keys stay sealed: PCR 4/)
    // An attacker restores the state file that still holds the old approvals: the TPM refuses them.
    const withdrawing = readFileSync(stateFile, 'utf8')
    writeFileSync(stateFile, before)
    const restored = start()
    assert.equal(restored.status, 1)
    assert.match(restored.stderr, /approval is for epoch \d+, withdrawn/)
    writeFileSync(stateFile, withdrawing)
    // Nor can an approval of the withdrawn epoch be installed again.
    const again = install(path.join(dir, 'before-withdrawal.json'))
    assert.equal(again.status, 1)
    assert.match(again.stderr, /release approval: it is for approval epoch \d+, which this device has withdrawn/)
    assert.equal(readFileSync(stateFile, 'utf8'), withdrawing)

    // Replaying the old kernel's request to the owner (whose old policy allows that kernel) to get
    // it approved at the current epoch: refused, the owner has approved a later epoch.
    const replayed = run([
      'release',
      'approve',
      '--state',
      owner,
      '--request',
      path.join(dir, 'old-kernel-request.json'),
      '--out',
      path.join(dir, 'replayed.json'),
      '--policy',
      path.join(dir, 'policy.json'),
      '--withdraw-previous',
      '--timeout',
      '1',
      '--json'
    ])
    assert.equal(replayed.status, 1)
    assert.match(
      replayed.stderr,
      /release request refused: it reports approval epoch \d+, below epoch \d+ this owner already approved for the device: a replayed or stale request/
    )

    // The approved new kernel still works.
    assert.equal(run(['swtpm', 'boot', '--dir', device, '--variant', 'new-kernel']).status, 0)
    assert.equal(start().status, 0)
  })
})
