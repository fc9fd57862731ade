/**
 * A fleet owner whose keys are on a PKCS#11 token (SoftHSM2), through the CLI as separate
 * processes, with swtpm for the owner machine's TPM and the device: init, enrol (fleet join on
 * the device), policy and ontology publish, a release approval that the device's TPM accepts
 * (TPM2_PolicyAuthorize under the token's P-256 key), revoke, and the owner's feed verified
 * offline as a TPM-held owner's is. Then every refusal: a wrong PIN (nothing written), a PIN on
 * the command line (no such option), no PIN source and no terminal, PIN options for a TPM owner,
 * owner.json naming another module or key, an imported key, the token gone.
 *
 * Owner commands run under `setsid` (no controlling terminal), so that a PIN prompt can never
 * wait for a person; the PIN comes from an fd (--pin-fd 3) or a systemd credential. One test
 * types it at the prompt of a real pty made by `script`.
 */
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  realpathSync,
  writeFileSync
} from 'node:fs'
import crypto from 'node:crypto'
import path from 'node:path'
import { haveSwtpm, tempDir } from '../helpers/devices.js'
import { runFleet as run, FLEET, joinAndEnrol, startSwtpm as startSoftwareTpm } from '../helpers/cli.js'
import { skipWithoutSoftHsm, SOFTHSM_MODULE, SoftHsm } from '../helpers/softhsm.js'
import { printed } from '../../simnet/printed.js'

const PIN = '51627384'

type Result = ReturnType<typeof run>

describe('cli: a fleet owner whose keys are on a PKCS#11 token', function () {
  this.timeout(240_000)
  let hsm: SoftHsm
  let dir: string
  let owner: string
  let ownerTpm: string
  let state: string
  let device: string
  let deviceId: string
  let fleetId: string
  const swtpms: string[] = []
  const children: ChildProcess[] = []
  const tcti = (at: string): string => `swtpm:path=${path.join(at, 'tpm.sock')}`

  /** `fleet ARGS` with no controlling terminal; `pin` is put on fd 3 (give --pin-fd 3). */
  function fleet(args: string[], options: { pin?: string; env?: NodeJS.ProcessEnv } = {}): Result {
    let fd: number | undefined
    if (options.pin !== undefined) {
      const file = path.join(dir, `pin-${crypto.randomUUID()}`)
      writeFileSync(file, `${options.pin}\n`, { mode: 0o600 })
      fd = openSync(file, 'r')
    }
    try {
      const result = spawnSync('setsid', ['-w', FLEET, ...args], {
        encoding: 'utf8',
        timeout: 60_000,
        env: options.env ?? process.env,
        stdio: ['ignore', 'pipe', 'pipe', fd ?? 'ignore']
      })
      return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr }
    } finally {
      if (fd !== undefined) closeSync(fd)
    }
  }

  const withPin = (args: string[], pin = PIN): Result => fleet([...args, '--pin-fd', '3'], { pin })
  const entries = (): Array<{ type: string }> =>
    run(['ledger', 'tail', '--state', owner, '-n', '100', '--json'])
      .stdout.trim()
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as { type: string })
  /** `fleet policy publish` by the owner in `state` (default: the token's), the PIN on fd 3 when given. */
  const publishPolicy = (
    options: { pin?: string; env?: NodeJS.ProcessEnv; state?: string; extra?: string[] } = {}
  ): Result => {
    const policy = path.join(dir, 'policy.json')
    const args = ['policy', 'publish', '--state', options.state ?? owner, '--policy', policy, '--timeout', '1']
    const pinned = options.pin === undefined ? [] : ['--pin-fd', '3']
    return fleet(args.concat(options.extra ?? [], pinned), { pin: options.pin, env: options.env })
  }
  const ownerFile = (): string => path.join(owner, 'owner.json')

  const startSwtpm = (name: string): string => startSoftwareTpm(dir, name, swtpms)

  before(async function () {
    skipWithoutSoftHsm(this)
    if (!haveSwtpm()) this.skip()
    hsm = await SoftHsm.create([{ label: 'owner', pin: PIN }])
    // Every fleet process started from here on finds this token store.
    hsm.use()
    dir = await tempDir('fleet-cli-owner-token-')
    ownerTpm = startSwtpm('owner-tpm')
    owner = path.join(dir, 'owner')
    device = startSwtpm('dev1')
    state = path.join(dir, 'state1')
    const init = run(['init', '--state', state, '--tcti', tcti(device), '--json'])
    assert.equal(init.status, 0, init.stderr)
    deviceId = (JSON.parse(init.stdout) as { deviceId: string }).deviceId
    const policy = run([
      'policy',
      'create',
      '--from-eventlog',
      path.join(ownerTpm, 'binary_bios_measurements'),
      '--out',
      path.join(dir, 'policy.json')
    ])
    assert.equal(policy.status, 0, policy.stderr)
  })

  after(() => {
    for (const child of children) child.kill('SIGKILL')
    for (const at of swtpms) run(['swtpm', 'stop', '--dir', at])
  })

  const initArgs = (at: string, extra: string[] = []): string[] => [
    'owner',
    'init',
    '--state',
    at,
    '--tcti',
    tcti(ownerTpm),
    '--name',
    'clinic',
    '--pkcs11',
    SOFTHSM_MODULE,
    '--token',
    'owner',
    '--json',
    ...extra
  ]

  it('init: a wrong PIN, or a key label taken by an imported key, is refused (exit 1) and writes nothing', () => {
    const wrong = withPin(initArgs(owner), '00000000')
    assert.equal(wrong.status, 1)
    assert.match(wrong.stderr, /PKCS#11 token "owner" refused the PIN/)
    assert.equal(existsSync(ownerFile()), false)
    const pem = crypto
      .generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .privateKey.export({ format: 'pem', type: 'pkcs8' })
    hsm.importKey('owner', PIN, 'imported', pem.toString())
    const taken = withPin(initArgs(owner, ['--key-label', 'imported']))
    assert.equal(taken.status, 1)
    assert.match(taken.stderr, /already holds a key labelled "imported"/)
    assert.equal(existsSync(ownerFile()), false)
  })

  it('init: no reachable TPM is refused (exit 1) before the PIN is asked: the owner feed needs one', () => {
    const args = initArgs(owner).map((arg) => (arg === tcti(ownerTpm) ? 'swtpm:path=/nonexistent/tpm.sock' : arg))
    const refused = fleet(args)
    assert.equal(refused.status, 1)
    assert.match(refused.stderr, /no TPM reachable at swtpm:path=\/nonexistent\/tpm.sock/)
    assert.equal(existsSync(ownerFile()), false)
  })

  it("init: the owner's keys made on the token; owner.json records the token, the labels and the sealed seed", () => {
    const made = withPin(initArgs(owner))
    assert.equal(made.status, 0, made.stderr)
    const result = JSON.parse(made.stdout) as {
      fleetId: string
      keys: string
      token: { label: string; serial: string }
    }
    fleetId = result.fleetId
    assert.equal(result.keys, 'pkcs11')
    assert.equal(result.token.label, 'owner')
    const saved = JSON.parse(readFileSync(ownerFile(), 'utf8')) as {
      version: number
      kind: string
      tcti: string
      pkcs11: { module: string; token: { serial: string }; p256: { label: string }; wrapKey: { label: string } }
    }
    assert.deepEqual([saved.version, saved.kind, saved.tcti], [2, 'pkcs11', tcti(ownerTpm)])
    assert.equal(saved.pkcs11.module, SOFTHSM_MODULE)
    assert.equal(saved.pkcs11.token.serial, result.token.serial)
    assert.deepEqual([saved.pkcs11.p256.label, saved.pkcs11.wrapKey.label], ['fleet-owner', 'fleet-owner-seal'])
    // The PIN is nowhere in what init wrote.
    assert.equal(readFileSync(ownerFile(), 'utf8').includes(PIN), false)
  })

  it('enrols a device that runs fleet join', async () => {
    const { enrolled, joined } = await joinAndEnrol(
      {
        state,
        eventLog: path.join(device, 'binary_bios_measurements'),
        fleetId,
        owner,
        policy: path.join(dir, 'policy.json'),
        ca: path.join(dir, 'ca'),
        deviceId
      },
      withPin
    )
    assert.equal(enrolled.status, 0, enrolled.stderr)
    assert.equal(joined.code, 0, joined.stderr)
    assert.deepEqual(
      entries().map((entry) => entry.type),
      // The enrolment, and what its EK certificate showed of its TPM (defined by an update, the first time).
      ['device.enrol', 'ontology.update', 'device.tpm']
    )
  })

  it('publishes a boot policy (PIN from a systemd credential) and an ontology update', () => {
    const credentials = path.join(dir, 'credentials')
    mkdirSync(credentials)
    writeFileSync(path.join(credentials, 'owner-pin'), `${PIN}\n`, { mode: 0o600 })
    const published = publishPolicy({
      extra: ['--pin-credential', 'owner-pin'],
      env: { ...process.env, CREDENTIALS_DIRECTORY: credentials }
    })
    assert.equal(published.status, 0, published.stderr)
    const update = path.join(dir, 'ontology.json')
    writeFileSync(
      update,
      JSON.stringify({
        version: 5,
        actions: { 'clinic.handover': { roles: ['operator'], body: { ward: { kind: 'string', max: 32 } } } }
      })
    )
    const ontology = withPin(['ontology', 'publish', '--state', owner, '--file', update, '--timeout', '1'])
    assert.equal(ontology.status, 0, ontology.stderr)
    assert.deepEqual(
      entries().map((entry) => entry.type),
      ['device.enrol', 'ontology.update', 'device.tpm', 'policy.set', 'ontology.update']
    )
  })

  it("approves a release that the device's TPM accepts: the approval is signed by the token's key", () => {
    const requestFile = path.join(dir, 'request.json')
    const asked = run([
      'release',
      'request',
      '--state',
      state,
      '--eventlog',
      path.join(device, 'binary_bios_measurements'),
      '--out',
      requestFile,
      '--json'
    ])
    assert.equal(asked.status, 0, asked.stderr)
    const agent = (JSON.parse(asked.stdout) as { agentMeasurement: string }).agentMeasurement
    const approvalFile = path.join(dir, 'approval.json')
    const approved = withPin([
      'release',
      'approve',
      '--state',
      owner,
      '--request',
      requestFile,
      '--out',
      approvalFile,
      '--agent',
      agent,
      '--timeout',
      '1',
      '--json'
    ])
    assert.equal(approved.status, 0, approved.stderr)
    const installed = run(['release', 'install', '--state', state, '--approval', approvalFile, '--json'])
    assert.equal(installed.status, 0, installed.stderr)
    assert.equal((JSON.parse(installed.stdout) as { resealed: boolean }).resealed, true)
    // The device's keys are now sealed to the owner's token key: its TPM releases them only after
    // checking the approval's signature (TPM2_VerifySignature, TPM2_PolicyAuthorize).
    const saved = JSON.parse(readFileSync(path.join(state, 'device.json'), 'utf8')) as {
      mldsa: { sealed: { authority?: { point: string } } }
    }
    const ownerPoint = (JSON.parse(readFileSync(ownerFile(), 'utf8')) as { pkcs11: { p256: { publicKey: string } } })
      .pkcs11.p256.publicKey
    assert.equal(saved.mldsa.sealed.authority?.point, Buffer.from(ownerPoint, 'base64').toString('hex'))
    const started = run(['run', '--state', state, '--once', '--listen', '/ip4/127.0.0.1/tcp/0', '--json'])
    assert.equal(started.status, 0, started.stderr)
    assert.equal(entries().at(-1)?.type, 'device.approve_release')
  })

  it('revokes the device', () => {
    const revoked = withPin(['revoke', '--state', owner, deviceId, '--reason', 'decommissioned', '--timeout', '1'])
    assert.equal(revoked.status, 0, revoked.stderr)
    assert.equal(entries().at(-1)?.type, 'device.revoke')
  })

  it("the owner's feed verifies offline, from its state and from an export pinned to the fleet", () => {
    const verified = run(['ledger', 'verify', '--state', owner, '--json'])
    assert.equal(verified.status, 0, verified.stderr)
    const report = JSON.parse(verified.stdout) as { verified: boolean; entries: number; fleetId: string }
    assert.deepEqual([report.verified, report.entries, report.fleetId], [true, 7, fleetId])
    const file = path.join(dir, 'owner-feed.jsonl')
    assert.equal(run(['ledger', 'export', '--state', owner, '--out', file]).status, 0)
    const offline = run(['ledger', 'verify', '--export', file, '--fleet', fleetId, '--json'])
    assert.equal(offline.status, 0, offline.stderr)
    const audited = JSON.parse(offline.stdout) as { entries: number; pinned: boolean }
    assert.deepEqual([audited.entries, audited.pinned], [7, true])
  })

  it('a wrong PIN is refused (exit 1) and nothing is written to the feed; so is a command without a TPM', () => {
    const before = entries().length
    const wrong = publishPolicy({ pin: '00000000' })
    assert.equal(wrong.status, 1)
    assert.match(wrong.stderr, /refused the PIN/)
    const noTpm = publishPolicy({ extra: ['--tcti', 'swtpm:path=/nonexistent/tpm.sock'] })
    assert.equal(noTpm.status, 1)
    assert.match(noTpm.stderr, /no TPM reachable/)
    assert.equal(entries().length, before)
  })

  it('takes no PIN on the command line: --pin is an unknown option (exit 2) for every owner command', () => {
    for (const args of [
      ['owner', 'init', '--state', path.join(dir, 'x'), '--tcti', 'x', '--pkcs11', SOFTHSM_MODULE, '--token', 'owner'],
      ['enrol', '--state', owner, '--policy', 'p', '--trust-store', 't'],
      ['revoke', '--state', owner, deviceId, '--reason', 'r'],
      ['policy', 'publish', '--state', owner, '--policy', 'p'],
      ['ontology', 'publish', '--state', owner, '--file', 'f'],
      ['release', 'approve', '--state', owner, '--request', 'r', '--out', 'o'],
      ['ledger', 'append', '--state', owner, '--type', 't', '--actor', 'a', '--body', '{}']
    ]) {
      const result = fleet([...args, '--pin', PIN])
      assert.equal(result.status, 2, args.join(' '))
      assert.match(result.stderr, /unknown option '--pin'/)
    }
  })

  it('with no PIN source and no terminal: exit 2, saying how to give the PIN', () => {
    const result = publishPolicy()
    assert.equal(result.status, 2)
    assert.match(
      result.stderr,
      /no PIN from the terminal: no controlling terminal .*give --pin-fd N or --pin-credential NAME/
    )
    const both = publishPolicy({ extra: ['--pin-fd', '3', '--pin-credential', 'owner-pin'] })
    assert.equal(both.status, 2)
    assert.match(both.stderr, /give --pin-fd or --pin-credential, not both/)
    assert.match(both.stderr, /give --pin-fd or --pin-credential, not both/)
  })

  it('asks for the PIN on the terminal, with echo off, when there is one', async () => {
    const args = ['policy', 'publish', '--state', owner, '--policy', path.join(dir, 'policy.json'), '--timeout', '1']
    const child = spawn('script', ['-qfec', [FLEET, ...args].join(' '), '/dev/null'], {
      stdio: ['pipe', 'pipe', 'inherit']
    })
    children.push(child)
    let screen = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      screen += chunk.toString()
    })
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
    await printed(child, 'PIN of token "owner"', 30_000)
    child.stdin!.write(`${PIN}\r`)
    assert.equal(await exited, 0)
    assert.match(screen, /for the owner of fleet "clinic": /)
    assert.equal(screen.includes(PIN), false, 'the PIN was echoed')
  })

  it('PIN options for an owner whose keys are in a TPM are a usage error', () => {
    const tpmOwner = path.join(dir, 'tpm-owner')
    assert.equal(run(['owner', 'init', '--state', tpmOwner, '--tcti', tcti(ownerTpm)]).status, 0)
    const result = publishPolicy({ state: tpmOwner, extra: ['--pin-fd', '3'] })
    assert.equal(result.status, 2)
    assert.match(result.stderr, /holds its keys in a TPM/)
  })

  it('owner.json edited to name a module elsewhere is refused before the PIN is asked (exit 1)', () => {
    const original = readFileSync(ownerFile(), 'utf8')
    const elsewhere = path.join(dir, 'lib')
    mkdirSync(elsewhere)
    copyFileSync(realpathSync(SOFTHSM_MODULE), path.join(elsewhere, 'libsofthsm2.so'))
    try {
      writeFileSync(ownerFile(), original.replace(SOFTHSM_MODULE, path.join(elsewhere, 'libsofthsm2.so')))
      const refused = publishPolicy()
      assert.equal(refused.status, 1)
      assert.match(refused.stderr, /refused for the fleet owner: .* is not in an allowed location/)
      // The operator, not owner.json, decides where owner modules may be.
      const allowed = publishPolicy({ pin: PIN, env: { ...process.env, FLEET_PKCS11_PROVIDERS: `${elsewhere}/*` } })
      assert.equal(allowed.status, 0, allowed.stderr)
    } finally {
      writeFileSync(ownerFile(), original)
    }
  })

  it('owner.json naming another key on the token, made there or imported, is refused (exit 1)', () => {
    const original = readFileSync(ownerFile(), 'utf8')
    const other = withPin(initArgs(path.join(dir, 'other-owner'), ['--key-label', 'other']))
    assert.equal(other.status, 0, other.stderr)
    try {
      writeFileSync(ownerFile(), original.replaceAll('"fleet-owner"', '"other"'))
      const swapped = publishPolicy({ pin: PIN })
      assert.equal(swapped.status, 1)
      assert.match(swapped.stderr, /the P-256 key "other" on token "owner" is not the fleet owner's/)
      writeFileSync(ownerFile(), original.replaceAll('"fleet-owner"', '"imported"'))
      const imported = publishPolicy({ pin: PIN })
      assert.equal(imported.status, 1)
      assert.match(imported.stderr, /key "imported" on token "owner" is not hardware-bound: .*CKA_LOCAL is false/)
    } finally {
      writeFileSync(ownerFile(), original)
    }
    assert.equal(publishPolicy({ pin: PIN }).status, 0)
  })

  it('with the token gone: refused (exit 1) before any PIN is asked', () => {
    hsm.removeToken('owner')
    const gone = publishPolicy()
    assert.equal(gone.status, 1)
    assert.match(gone.stderr, /no PKCS#11 token labelled "owner"/)
  })
})
