/**
 * fleet owner init / fleet init / fleet join / fleet enrol as separate processes, each device on
 * its own swtpm: the scripted ceremony (--yes with the expected identities), and its refusals.
 */
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { haveSwtpm, tempDir } from '../helpers/devices.js'
import {
  runFleet as run,
  FLEET,
  openJoinWindow,
  startSwtpm as startSoftwareTpm,
  type JoinWindow
} from '../helpers/cli.js'
import { until } from '../helpers/wait.js'
import { printed } from '../../simnet/printed.js'
import { EXPORT_LIMITS } from '../../src/ledger/index.js'

describe('cli: fleet join / fleet enrol', function () {
  this.timeout(180_000)
  let dir: string
  const swtpms: string[] = []
  const children: ChildProcess[] = []
  const tcti = (device: string): string => `swtpm:path=${path.join(device, 'tpm.sock')}`
  let fleetId: string

  const startSwtpm = (name: string, variant = 'good'): string => startSoftwareTpm(dir, name, swtpms, variant)

  /** Starts fleet join; resolves with its listen address once the window is open. */
  async function join(state: string, device: string, extra: string[] = []): Promise<JoinWindow> {
    const window = await openJoinWindow(state, path.join(device, 'binary_bios_measurements'), extra)
    children.push(window.child)
    return window
  }

  before(async function () {
    if (!haveSwtpm()) this.skip()
    dir = await tempDir('fleet-cli-enrol-')
    const ownerTpm = startSwtpm('owner-tpm')
    const owner = run([
      'owner',
      'init',
      '--state',
      path.join(dir, 'owner'),
      '--tcti',
      tcti(ownerTpm),
      '--name',
      'clinic',
      '--json'
    ])
    assert.equal(owner.status, 0, owner.stderr)
    fleetId = (JSON.parse(owner.stdout) as { fleetId: string }).fleetId
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
  })

  after(() => {
    for (const child of children) child.kill('SIGKILL')
    for (const device of swtpms) run(['swtpm', 'stop', '--dir', device])
  })

  const enrolArgs = (extra: string[], options: { json?: boolean; timeout?: number } = {}): string[] => [
    'enrol',
    '--state',
    path.join(dir, 'owner'),
    '--policy',
    path.join(dir, 'policy.json'),
    '--trust-store',
    path.join(dir, 'ca'),
    '--allow-software-tpm',
    ...(options.json === false ? [] : ['--json']),
    '--timeout',
    String(options.timeout ?? 30),
    ...extra
  ]

  it('enrols a device: both sides finish, the device stores the owner-signed record', async () => {
    const device = startSwtpm('dev1')
    const state = path.join(dir, 'state1')
    const init = run(['init', '--state', state, '--tcti', tcti(device), '--json'])
    assert.equal(init.status, 0, init.stderr)
    const deviceId = (JSON.parse(init.stdout) as { deviceId: string }).deviceId
    const joining = await join(state, device, ['--yes', '--expect-fleet', fleetId])
    const enrol = run(enrolArgs(['--peer', joining.address, '--yes', '--expect', deviceId]))
    assert.equal(enrol.status, 0, enrol.stderr)
    const result = JSON.parse(enrol.stdout) as { deviceId: string; fleetId: string; sas: string }
    assert.equal(result.deviceId, deviceId)
    assert.equal(result.fleetId, fleetId)
    // --allow-software-tpm alone tells no TPM from software: it is recorded as software.
    assert.equal((JSON.parse(enrol.stdout) as { tpm: string }).tpm, 'software')
    // Both sides showed the same digits.
    const ended = await joining.done
    assert.equal(ended.code, 0, ended.stderr)
    const joined = JSON.parse(ended.stdout.trim().split('\n').pop()!) as { event: string; sas: string }
    assert.equal(joined.event, 'enrolled')
    assert.match(result.sas, /^\d{6}$/)
    assert.equal(joined.sas, result.sas)
    const enrolment = JSON.parse(readFileSync(path.join(state, 'enrolment.json'), 'utf8')) as {
      fleetId: string
      deviceId: string
    }
    assert.equal(enrolment.fleetId, fleetId)
    assert.equal(enrolment.deviceId, deviceId)
    // Enrolled once: a second join is refused.
    const again = run([
      'join',
      '--state',
      state,
      '--eventlog',
      path.join(device, 'binary_bios_measurements'),
      '--timeout',
      '1'
    ])
    assert.equal(again.status, 2)
    assert.match(again.stderr, /already enrolled/)
  })

  it('the enrolled device appends typed actions to its TPM-signed feed; tail, verify, export and proofs check out', () => {
    const state = path.join(dir, 'state1')
    const { deviceId } = JSON.parse(readFileSync(path.join(state, 'enrolment.json'), 'utf8')) as { deviceId: string }
    for (const detail of ['patient/1', 'patient/2', 'patient/3']) {
      const appended = run([
        'ledger',
        'append',
        '--state',
        state,
        '--type',
        'alert.tamper',
        '--actor',
        'agent/cli',
        '--role',
        'agent',
        '--body',
        JSON.stringify({ subject: deviceId, pcr: 7, detail }),
        '--json'
      ])
      assert.equal(appended.status, 0, appended.stderr)
      assert.equal((JSON.parse(appended.stdout) as { sealed: boolean }).sealed, true)
    }
    // The ontology refuses what it does not know, and nothing is stored for it.
    const unknown = run([
      'ledger',
      'append',
      '--state',
      state,
      '--type',
      'operator.teleport',
      '--actor',
      'x',
      '--body',
      '{}'
    ])
    assert.equal(unknown.status, 1)
    assert.match(unknown.stderr, /operator\.teleport/)
    const wrongRole = run([
      'ledger',
      'append',
      '--state',
      state,
      '--type',
      'device.revoke',
      '--actor',
      'x',
      '--body',
      JSON.stringify({ deviceId: 'a'.repeat(52), reason: 'r' })
    ])
    assert.equal(wrongRole.status, 1)
    const tail = run(['ledger', 'tail', '--state', state, '--json'])
    assert.equal(tail.status, 0, tail.stderr)
    const rows = tail.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { seq: number; type: string; sealed: boolean; body: { detail: string } })
    assert.deepEqual(
      rows.map((r) => [r.seq, r.body.detail, r.sealed]),
      [
        [0, 'patient/1', true],
        [1, 'patient/2', true],
        [2, 'patient/3', true]
      ]
    )
    const verified = run(['ledger', 'verify', '--state', state, '--fleet', fleetId, '--json'])
    assert.equal(verified.status, 0, verified.stderr)
    assert.equal((JSON.parse(verified.stdout) as { entries: number }).entries, 3)
    // The owner's feed holds the enrolment.
    const ownerFeed = run(['ledger', 'tail', '--state', path.join(dir, 'owner'), '--json'])
    const ownerEntries = ownerFeed.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; body?: Record<string, unknown> })
    // The enrolment, then what its EK certificate showed of its TPM (defined by an update the first time).
    assert.deepEqual(
      ownerEntries.slice(0, 3).map((entry) => entry.type),
      ['device.enrol', 'ontology.update', 'device.tpm']
    )
    assert.equal(ownerEntries[2]!.body?.tier, 'software')
    assert.equal(run(['ledger', 'verify', '--state', path.join(dir, 'owner')]).status, 0)

    // Offline: an export verifies from the pinned fleetId alone; any change is caught.
    const exported = path.join(dir, 'feed.jsonl')
    assert.equal(run(['ledger', 'export', '--state', state, '--out', exported]).status, 0)
    assert.equal(run(['ledger', 'verify', '--export', exported, '--fleet', fleetId]).status, 0)
    assert.equal(run(['ledger', 'verify', '--export', exported, '--fleet', 'f'.repeat(64)]).status, 1)
    const lines = readFileSync(exported, 'utf8').split('\n')
    const doctored = path.join(dir, 'doctored.jsonl')
    writeFileSync(doctored, [lines[0], lines[1]!.replace('"seq":0', '"seq":1'), ...lines.slice(2)].join('\n'))
    assert.equal(run(['ledger', 'verify', '--export', doctored, '--fleet', fleetId]).status, 1)
    writeFileSync(doctored, lines.filter((_, i) => i !== 2).join('\n'))
    assert.equal(run(['ledger', 'verify', '--export', doctored, '--fleet', fleetId]).status, 1)
    writeFileSync(doctored, `${'x'.repeat(EXPORT_LIMITS.maxHeaderLength + 1)}\n`)
    const oversized = run(['ledger', 'verify', '--export', doctored])
    assert.equal(oversized.status, 2)
    assert.match(oversized.stderr, /header line is longer/)

    // What an auditor pastes into a report, and the same as fields.
    const summary = run(['ledger', 'verify', '--export', exported, '--fleet', fleetId])
    assert.equal(summary.status, 0, summary.stderr)
    const iso = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z'
    for (const row of [
      `^verified export of feed ${deviceId} \\(fleet-export/2\\)$`,
      `^  fleet +${fleetId} \\(pinned with --fleet\\)$`,
      '^  entries +3$',
      `^  time span +${iso} to ${iso}$`,
      '^  checkpoints +\\d+, sealing entries 0–2$',
      '^  witnesses +no witness cosignatures$',
      '^  root +[0-9a-f]{64}$',
      `^  first entry +0 alert\\.tamper by agent/cli \\(agent\\) at ${iso}$`,
      `^  last entry +2 alert\\.tamper by agent/cli \\(agent\\) at ${iso}$`
    ])
      assert.match(summary.stdout, new RegExp(row, 'm'))
    const fields = JSON.parse(run(['ledger', 'verify', '--export', exported, '--fleet', fleetId, '--json']).stdout) as {
      format: string
      entries: number
      timeSpan: { from: string; to: string; fromMs: number; toMs: number }
      first: { seq: number; type: string; actor: { id: string }; time: string; timeMs: number }
      last: { seq: number; time: string }
    }
    assert.deepEqual(
      [fields.format, fields.entries, fields.first.seq, fields.first.type, fields.first.actor.id, fields.last.seq],
      ['fleet-export/2', 3, 0, 'alert.tamper', 'agent/cli', 2]
    )
    assert.equal(fields.first.time, new Date(fields.first.timeMs).toISOString())
    assert.ok(fields.timeSpan.fromMs <= fields.first.timeMs && fields.timeSpan.toMs >= fields.first.timeMs)
    // A derived view edited to say something else: the signed bytes are intact, the export is refused.
    const entryLine = JSON.parse(lines[2]!) as { derived: { body: { detail: string } } }
    const body = { ...entryLine.derived.body, detail: 'patient/9' }
    const edited = { ...entryLine, derived: { ...entryLine.derived, body } }
    writeFileSync(doctored, lines.map((line, i) => (i === 2 ? JSON.stringify(edited) : line)).join('\n'))
    const misleading = run(['ledger', 'verify', '--export', doctored, '--fleet', fleetId])
    assert.equal(misleading.status, 1)
    assert.match(
      misleading.stderr,
      /entry 1: its derived view differs from what its bytes decode to, at derived\.body\.detail/
    )
    // An export of the older format (no views) still verifies.
    const older = lines.map((line, i) =>
      i === 0
        ? JSON.stringify({ ...(JSON.parse(line) as object), format: 'fleet-export/1' })
        : line === ''
          ? line
          : JSON.stringify({ ...(JSON.parse(line) as object), derived: undefined })
    )
    writeFileSync(doctored, older.join('\n'))
    const fromOlder = run(['ledger', 'verify', '--export', doctored, '--fleet', fleetId, '--json'])
    assert.equal(fromOlder.status, 0, fromOlder.stderr)
    const olderFields = JSON.parse(fromOlder.stdout) as { format: string; last: unknown }
    assert.deepEqual([olderFields.format, olderFields.last], ['fleet-export/1', fields.last])

    const proofFile = path.join(dir, 'proof.json')
    assert.equal(run(['ledger', 'proof', '--state', state, '--seq', '1', '--out', proofFile]).status, 0)
    const checked = run(['ledger', 'verify-proof', proofFile, '--fleet', fleetId, '--json'])
    assert.equal(checked.status, 0, checked.stderr)
    assert.equal((JSON.parse(checked.stdout) as { seq: number }).seq, 1)
    const proof = JSON.parse(readFileSync(proofFile, 'utf8')) as { bundle: { seq: number } }
    proof.bundle.seq = 2
    writeFileSync(proofFile, JSON.stringify(proof))
    assert.notEqual(run(['ledger', 'verify-proof', proofFile, '--fleet', fleetId]).status, 0)
    writeFileSync(proofFile, '{not json')
    assert.equal(run(['ledger', 'verify-proof', proofFile]).status, 2)
  })

  it('with "approvals" and "console" in its config, fleet run serves the approval page and the console while it runs; fleet status and fleet console name them', async () => {
    const state = path.join(dir, 'state1')
    const config = path.join(dir, 'approvals.json')
    assert.equal(run(['console', '--state', state]).status, 1, 'no console before the agent runs')
    writeFileSync(config, JSON.stringify({ approvals: { port: 0 }, console: { port: 0 } }))
    const child = spawn(
      FLEET,
      [
        'run',
        '--state',
        state,
        '--config',
        config,
        '--eventlog',
        path.join(dir, 'dev1', 'binary_bios_measurements'),
        '--listen',
        '/ip4/127.0.0.1/tcp/0',
        '--json'
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] }
    )
    children.push(child)
    await printed(child, 'peerId', 30_000)
    const status = run(['status', '--state', state, '--json'])
    assert.equal(status.status, 0, status.stderr)
    const tpmHealth = (JSON.parse(status.stdout) as { tpm: { answering: boolean; tcti: string } }).tpm
    assert.equal(tpmHealth.answering, true)
    assert.match(tpmHealth.tcti, /^swtpm:/)
    const page = (JSON.parse(status.stdout) as { approvalPage?: string }).approvalPage
    assert.match(String(page), /^http:\/\/localhost:\d+\/$/)
    // The page listens on 127.0.0.1 only (and answers for that name too).
    const loopback = String(page).replace('localhost', '127.0.0.1')
    const served = await fetch(loopback)
    assert.equal(served.status, 200)
    assert.match(await served.text(), /No action is waiting for approval/)
    const printedConsole = run(['console', '--state', state])
    assert.equal(printedConsole.status, 0, printedConsole.stderr)
    const consoleUrl = new URL(printedConsole.stdout.trim())
    assert.equal(consoleUrl.hostname, '127.0.0.1')
    assert.equal(
      consoleUrl.hash.slice('#token='.length),
      readFileSync(path.join(state, 'console.token'), 'utf8').trim()
    )
    assert.equal((await fetch(new URL('/api/overview', consoleUrl))).status, 401)
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    assert.equal(await exited, 0)
    await assert.rejects(fetch(loopback), TypeError)
    assert.equal(run(['console', '--state', state]).status, 1, 'no console once the agent stopped')
  })

  it('two enrolled agents find each other over mDNS, attest both ways, and fleet peers shows the verdicts', async () => {
    const device = startSwtpm('dev3')
    const state3 = path.join(dir, 'state3')
    const init = run(['init', '--state', state3, '--tcti', tcti(device), '--json'])
    const deviceId3 = (JSON.parse(init.stdout) as { deviceId: string }).deviceId
    const joining = await join(state3, device, ['--yes', '--expect-fleet', fleetId])
    assert.equal(run(enrolArgs(['--peer', joining.address, '--yes', '--expect', deviceId3])).status, 0)
    assert.equal((await joining.done).code, 0)
    const logs: Array<() => string> = []
    // Verdicts sealed within 2 s, not the default 30 s: the cosignature waited for comes sooner.
    const quick = path.join(dir, 'quick-seal.json')
    writeFileSync(quick, JSON.stringify({ routineBatchSec: 2 }))
    const agents = [
      ['state1', 'dev1'],
      ['state3', 'dev3']
    ].map(([state, dev]) => {
      const child = spawn(
        FLEET,
        [
          'run',
          '--state',
          path.join(dir, state!),
          '--config',
          quick,
          '--eventlog',
          path.join(dir, dev!, 'binary_bios_measurements'),
          '--listen',
          '/ip4/127.0.0.1/tcp/0',
          '--json'
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] }
      )
      // Keep the logs' tail (a full pipe would block the agent).
      let log = ''
      child.stderr!.on('data', (chunk: Buffer) => {
        log = (log + chunk.toString()).slice(-4000)
      })
      logs.push(() => log)
      children.push(child)
      return child
    })
    // The agents run in their own processes: their state is asked for with the CLI, every half second.
    const withLogs = (err: Error): never => assert.fail(`${err.message}: ${logs.map((l) => l()).join('\n----\n')}`)
    const trustedPeers = (state: string): Array<{ deviceId: string; trusted: boolean }> => {
      const peers = run(['peers', '--state', path.join(dir, state), '--json'])
      // Exit 1 until the agent answers on its control socket.
      if (peers.status !== 0) return []
      return (JSON.parse(peers.stdout) as { peers: Array<{ deviceId: string; trusted: boolean }> }).peers.filter(
        (p) => p.trusted
      )
    }
    const attested = (): boolean => trustedPeers('state1').length > 0 && trustedPeers('state3').length > 0
    await until(attested, 'the agents to attest each other', 90_000, 500).catch((err: Error) => {
      withLogs(new Error(`${err.message} ${run(['peers', '--state', path.join(dir, 'state1'), '--json']).stdout}`))
    })
    assert.equal(trustedPeers('state1')[0]!.deviceId, deviceId3)
    // Each witnesses the other: its cosignature reaches the writer's own newest checkpoint.
    const witnessedBy = (state: string): string[] => {
      const status = run(['status', '--state', path.join(dir, state), '--json'])
      return status.status === 0
        ? (JSON.parse(status.stdout) as { feed: { witnessedBy: string[] } }).feed.witnessedBy
        : []
    }
    await until(() => witnessedBy('state3').length > 0, 'a cosignature to reach state3', 90_000, 500).catch(withLogs)
    const deviceId1 = (
      JSON.parse(run(['status', '--state', path.join(dir, 'state1'), '--json']).stdout) as { deviceId: string }
    ).deviceId
    assert.deepEqual(witnessedBy('state3'), [deviceId1])
    for (const child of agents) child.kill('SIGTERM')
    await Promise.all(agents.map(async (child) => await new Promise((resolve) => child.once('exit', resolve))))
    // The verdicts are in the agents' feeds.
    const tail = run(['ledger', 'tail', '--state', path.join(dir, 'state3'), '--json'])
    assert.ok(tail.stdout.includes('"attest.verdict"'), tail.stdout + tail.stderr)
    // The cosignature is counted offline, from the store and from an export, and shown per entry.
    const rows = tail.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { cosigned: number })
    assert.equal(rows[0]!.cosigned, 1)
    const verified = JSON.parse(run(['ledger', 'verify', '--state', path.join(dir, 'state3'), '--json']).stdout) as {
      cosigners: number
    }
    assert.equal(verified.cosigners, 1)
    const file = path.join(dir, 'state3.jsonl')
    assert.equal(run(['ledger', 'export', '--state', path.join(dir, 'state3'), '--out', file]).status, 0)
    const fromExport = JSON.parse(run(['ledger', 'verify', '--export', file, '--fleet', fleetId, '--json']).stdout) as {
      cosigners: number
      cosignedUpTo: number
    }
    assert.equal(fromExport.cosigners, 1)
    assert.ok(fromExport.cosignedUpTo > 0)
    // A replica held there can be listed too.
    const replica = run(['ledger', 'tail', '--state', path.join(dir, 'state3'), '--feed', deviceId1, '--json'])
    assert.equal(replica.status, 0, replica.stderr)
    assert.ok(replica.stdout.includes('"attest.verdict"'))
    assert.equal(run(['ledger', 'tail', '--state', path.join(dir, 'state3'), '--feed', 'a'.repeat(52)]).status, 1)
  })

  it('refuses a tampered boot at enrolment: exit 1 on both sides, nothing stored', async () => {
    const device = startSwtpm('dev2', 'tampered-kernel')
    const state = path.join(dir, 'state2')
    assert.equal(run(['init', '--state', state, '--tcti', tcti(device)]).status, 0)
    const joining = await join(state, device, ['--yes', '--expect-fleet', fleetId, '--timeout', '3'])
    const enrol = run(enrolArgs(['--peer', joining.address]))
    assert.equal(enrol.status, 1)
    assert.match(enrol.stderr, /enrolment refused: its boot does not satisfy the policy/)
    const ended = await joining.done
    assert.equal(ended.code, 1)
    assert.equal(existsSync(path.join(state, 'enrolment.json')), false)
  })

  it('on a terminal, enrol says what it waits for and ledger verify counts what it verified; piped, neither does', () => {
    // script(1) runs the command on a terminal of its own and passes on its exit code.
    const onTerminal = (args: string[]): { status: number | null; stdout: string } =>
      spawnSync('script', ['-qec', [FLEET, ...args].map((a) => `'${a}'`).join(' '), '/dev/null'], {
        encoding: 'utf8',
        timeout: 60_000
      })
    const noDevice = enrolArgs([], { json: false, timeout: 2 })
    const shown = onTerminal(noDevice)
    assert.equal(shown.status, 1, shown.stdout)
    const clearLine = '\r\x1b[K'
    assert.ok(
      shown.stdout.includes('\rlooking for a device waiting to be enrolled (fleet join) (0 s)\x1b[K'),
      shown.stdout
    )
    assert.ok(
      shown.stdout.includes(`${clearLine}fleet: no device waiting to be enrolled was found within 2 s`),
      'cleared first'
    )
    const piped = run(noDevice)
    assert.equal(piped.status, 1)
    assert.equal(
      piped.stderr,
      'fleet: no device waiting to be enrolled was found within 2 s (is fleet join running on it?)\n'
    )

    const verify = ['ledger', 'verify', '--state', path.join(dir, 'state1')]
    const counted = onTerminal(verify)
    assert.equal(counted.status, 0, counted.stdout)
    assert.match(
      counted.stdout,
      new RegExp(`\\rverifying feed [0-9a-z]{12}…: [1-9]\\d*${clearLine.slice(1).replace('[', '\\[')}`)
    )
    assert.ok(counted.stdout.includes(`${clearLine}verified feed `), counted.stdout)
    const quiet = run(verify)
    assert.equal(quiet.status, 0)
    assert.doesNotMatch(quiet.stderr + quiet.stdout, /verifying feed|\r/)
  })

  it('a device whose EK chains to a --software-tpm-ca CA is refused without --allow-software-tpm: exit 1, nothing stored', async () => {
    const device = startSwtpm('dev-software')
    const state = path.join(dir, 'state-software')
    assert.equal(run(['init', '--state', state, '--tcti', tcti(device)]).status, 0)
    const joining = await join(state, device, ['--yes', '--expect-fleet', fleetId, '--timeout', '3'])
    const hardware = path.join(dir, 'no-hardware-cas')
    mkdirSync(hardware)
    const enrol = run([
      'enrol',
      '--state',
      path.join(dir, 'owner'),
      '--policy',
      path.join(dir, 'policy.json'),
      '--trust-store',
      hardware,
      '--software-tpm-ca',
      path.join(dir, 'ca'),
      '--json',
      '--timeout',
      '30',
      '--peer',
      joining.address
    ])
    assert.equal(enrol.status, 1, enrol.stderr)
    assert.match(enrol.stderr, /enrolment refused: its EK certificate chains to a software TPM's CA/)
    assert.equal((await joining.done).code, 1)
    assert.equal(existsSync(path.join(state, 'enrolment.json')), false)
  })

  it('the owner publishes a boot policy and an ontology update once each; bad updates are refused; its feed still verifies', () => {
    const owner = path.join(dir, 'owner')
    const nobody = [
      '--peer',
      '/ip4/127.0.0.1/tcp/9/p2p/12D3KooWSUrN2qxQShDdsyEbWSBPAvbgR7BroUpatJ4Wxay7AFXq',
      '--timeout',
      '2',
      '--json'
    ]
    const file = path.join(dir, 'ontology.json')
    writeFileSync(
      file,
      JSON.stringify({
        version: 5,
        actions: { 'fleet.model_training': { roles: ['owner'], body: { dataset: { kind: 'string', max: 128 } } } }
      })
    )
    for (let round = 0; round < 2; round++) {
      const policy = run(['policy', 'publish', '--state', owner, '--policy', path.join(dir, 'policy.json'), ...nobody])
      assert.equal(policy.status, 0, policy.stderr)
      assert.deepEqual((JSON.parse(policy.stdout) as { reached: string[] }).reached, [])
      const ontology = run(['ontology', 'publish', '--state', owner, '--file', file, ...nobody])
      assert.equal(ontology.status, 0, ontology.stderr)
    }
    const rows = run(['ledger', 'tail', '--state', owner, '-n', '1000', '--json'])
      .stdout.trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string })
    assert.equal(rows.filter((r) => r.type === 'policy.set').length, 1)
    // Enrolment defined device.tpm in version 4; the owner's own update is version 5, taken once.
    assert.equal(rows.filter((r) => r.type === 'ontology.update').length, 2)
    assert.equal(run(['ledger', 'verify', '--state', owner]).status, 0)
    const bad = path.join(dir, 'bad-ontology.json')
    writeFileSync(
      bad,
      JSON.stringify({ version: 5, actions: { 'operator.coronation': { roles: ['king'], body: {} } } })
    )
    const refused = run(['ontology', 'publish', '--state', owner, '--file', bad, ...nobody])
    assert.notEqual(refused.status, 0)
    assert.match(refused.stderr, /roles/)
    // Another update at a version already taken is refused, not quietly skipped.
    writeFileSync(
      bad,
      JSON.stringify({ version: 5, actions: { 'operator.export': { roles: ['operator'], body: {} } } })
    )
    const taken = run(['ontology', 'publish', '--state', owner, '--file', bad, ...nobody])
    assert.equal(taken.status, 2, taken.stderr)
    assert.match(taken.stderr, /ontology version 5 is taken .*publish version 6/)
    writeFileSync(bad, '{not json')
    assert.equal(run(['ontology', 'publish', '--state', owner, '--file', bad, ...nobody]).status, 2)
    assert.match(run(['ontology', 'show']).stdout, /operator\.data_access/)

    // An action added by the update is appended, and an export alone verifies it: its header
    // carries the update's inclusion proof under an owner-signed checkpoint. (The owner's own
    // action: an operator's would need their enrolled key's signature.)
    const added = run([
      'ledger',
      'append',
      '--state',
      owner,
      '--type',
      'fleet.model_training',
      '--actor',
      'owner/ml-team',
      '--role',
      'owner',
      '--body',
      JSON.stringify({ dataset: 'scans-2026' })
    ])
    assert.equal(added.status, 0, added.stderr)
    const exported = path.join(dir, 'owner-feed.jsonl')
    assert.equal(run(['ledger', 'export', '--state', owner, '--out', exported]).status, 0)
    const verified = run(['ledger', 'verify', '--export', exported, '--fleet', fleetId, '--json'])
    assert.equal(verified.status, 0, verified.stderr)
    const lines = readFileSync(exported, 'utf8').split('\n')
    const header = JSON.parse(lines[0]!) as { ontology?: Array<{ seq: number }> }
    // Two updates: enrolment's (device.tpm) and the owner's own.
    assert.equal(header.ontology?.length, 2)
    // Without the update, or with a doctored one, the new action's entry is refused.
    const stripped = path.join(dir, 'stripped.jsonl')
    writeFileSync(
      stripped,
      [JSON.stringify({ ...header, ontology: [header.ontology![0]] }), ...lines.slice(1)].join('\n')
    )
    const unknown = run(['ledger', 'verify', '--export', stripped, '--fleet', fleetId])
    assert.equal(unknown.status, 1)
    assert.match(unknown.stderr, /fleet\.model_training/)
    writeFileSync(
      stripped,
      [
        JSON.stringify({
          ...header,
          ontology: [header.ontology![0], { ...header.ontology![1], seq: header.ontology![1]!.seq + 1 }]
        }),
        ...lines.slice(1)
      ].join('\n')
    )
    const doctored = run(['ledger', 'verify', '--export', stripped, '--fleet', fleetId])
    assert.notEqual(doctored.status, 0)
    assert.match(doctored.stderr, /ontology update/)
  })

  it('refuses bad usage with exit 2', () => {
    assert.equal(run(enrolArgs(['--yes'])).status, 2)
    assert.equal(run(enrolArgs(['--peer', '/ip4/127.0.0.1/tcp/1'])).status, 2)
    assert.equal(run(['join', '--state', path.join(dir, 'state1'), '--yes']).status, 2)
  })
})
