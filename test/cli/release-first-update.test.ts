/**
 * A kernel update before the owner's first approval, on swtpm, as separate processes: the device's
 * keys are still sealed to its PCR values at fleet init, which are gone, yet the owner's approval
 * of the new boot installs (from the owner copy made at fleet join) and moves the keys and the
 * workload secrets to the owner, without booting the old kernel again. A replaced owner copy, one
 * sealed to another authority, none at all, a secret without one, or an approval of another boot
 * are refused, with the state unchanged.
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { EsysTpm, sealToAuthority } from '../../src/attest/index.js'
import {
  OWNER_COPY_FILE,
  openSecret,
  readDeviceEnrolment,
  readDeviceState,
  releasePolicyRef
} from '../../src/agent/index.js'
import { toBase64 } from '../../src/common/index.js'
import { haveSwtpm, tempDir } from '../helpers/devices.js'
import { runFleet as run, joinAndEnrol, startSwtpm as startSoftwareTpm } from '../helpers/cli.js'

describe('cli: fleet release after a kernel update that came before any approval', function () {
  this.timeout(240_000)
  let dir: string
  const swtpms: string[] = []
  const tcti = (device: string): string => `swtpm:path=${path.join(device, 'tpm.sock')}`
  let owner: string
  let state: string
  let device: string
  let ownerPoint: Uint8Array

  const log = (): string => path.join(device, 'binary_bios_measurements')
  const start = (): ReturnType<typeof run> =>
    run(['run', '--state', state, '--once', '--listen', '/ip4/127.0.0.1/tcp/0', '--json'])
  const install = (): ReturnType<typeof run> =>
    run(['release', 'install', '--state', state, '--approval', path.join(dir, 'approval.json'), '--json'])
  const seal = (name: string, value: string): void => {
    writeFileSync(path.join(dir, name), value)
    const sealed = run(['secret', 'seal', '--state', state, name, '--from', path.join(dir, name)])
    assert.equal(sealed.status, 0, sealed.stderr)
  }
  const secretFile = (name: string): { version: number; ownerAuthority?: string } =>
    JSON.parse(readFileSync(path.join(state, 'secrets', `${name}.json`), 'utf8')) as {
      version: number
      ownerAuthority?: string
    }

  /** Makes a secret file as an older agent wrote it: version 1, no copy sealed to the owner. */
  const strip = (name: string): void => {
    const file = path.join(state, 'secrets', `${name}.json`)
    const {
      ownerKey: _key,
      ownerAuthority: _authority,
      ...rest
    } = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
    writeFileSync(file, JSON.stringify({ ...rest, version: 1 }))
  }

  before(async function () {
    if (!haveSwtpm()) this.skip()
    dir = await tempDir('fleet-cli-first-update-')
    const ownerTpm = startSoftwareTpm(dir, 'owner-tpm', swtpms)
    owner = path.join(dir, 'owner')
    const made = run(['owner', 'init', '--state', owner, '--tcti', tcti(ownerTpm), '--name', 'clinic', '--json'])
    assert.equal(made.status, 0, made.stderr)
    const fleetId = (JSON.parse(made.stdout) as { fleetId: string }).fleetId
    const policy = path.join(dir, 'policy.json')
    assert.equal(
      run(['policy', 'create', '--from-eventlog', path.join(ownerTpm, 'binary_bios_measurements'), '--out', policy])
        .status,
      0
    )
    device = startSoftwareTpm(dir, 'dev1', swtpms)
    state = path.join(dir, 'state1')
    const init = run(['init', '--state', state, '--tcti', tcti(device), '--json'])
    assert.equal(init.status, 0, init.stderr)
    const deviceId = (JSON.parse(init.stdout) as { deviceId: string }).deviceId
    // A workload secret sealed before the device was enrolled.
    seal('early', 'sealed-before-join')
    const { enrolled, joined } = await joinAndEnrol(
      { state, eventLog: log(), fleetId, owner, policy, ca: path.join(dir, 'ca'), deviceId },
      run
    )
    assert.equal(enrolled.status, 0, enrolled.stderr)
    assert.equal(joined.code, 0, joined.stderr)
    ownerPoint = (await readDeviceEnrolment(state, deviceId))!.ownerKey.p256
  })

  after(() => {
    for (const at of swtpms) run(['swtpm', 'stop', '--dir', at])
  })

  it("fleet join keeps a copy of the keys and of every workload secret sealed to the owner; later seals make theirs, and the agent's start what is missing", () => {
    const copy = JSON.parse(readFileSync(path.join(state, OWNER_COPY_FILE), 'utf8')) as {
      authority: { point: string }
    }
    assert.equal(copy.authority.point, Buffer.from(ownerPoint).toString('hex'))
    assert.equal(secretFile('early').version, 2)
    assert.equal(secretFile('early').ownerAuthority, Buffer.from(ownerPoint).toString('hex'))
    seal('late', 'sealed-after-join')
    assert.equal(secretFile('late').ownerAuthority, Buffer.from(ownerPoint).toString('hex'))
    // The keys themselves are still sealed to the boot at fleet init.
    assert.equal((JSON.parse(readFileSync(path.join(state, 'device.json'), 'utf8')) as { version: number }).version, 1)
    // What a device enrolled by an older agent has: no copy at all. The agent's start makes them.
    rmSync(path.join(state, OWNER_COPY_FILE))
    strip('early')
    assert.equal(start().status, 0)
    assert.ok(existsSync(path.join(state, OWNER_COPY_FILE)))
    assert.equal(secretFile('early').ownerAuthority, Buffer.from(ownerPoint).toString('hex'))
    // A secret without a copy (as an older agent sealed it), for the next test.
    seal('old', 'sealed-by-an-older-agent')
    strip('old')
  })

  it("the owner's first approval, of the new kernel, installs without the old kernel; replaced or missing copies and other boots are refused", async () => {
    assert.equal(run(['swtpm', 'boot', '--dir', device, '--variant', 'new-kernel']).status, 0)
    const refused = start()
    assert.equal(refused.status, 1)
    assert.match(refused.stderr, /keys stay sealed: PCR 4 /)
    // The owner allows the new kernel and this agent build, and approves the boot the device runs.
    const newPolicy = path.join(dir, 'policy-new.json')
    assert.equal(run(['policy', 'create', '--from-eventlog', log(), '--out', newPolicy]).status, 0)
    const published = run(['policy', 'publish', '--state', owner, '--policy', newPolicy, '--timeout', '1'])
    assert.equal(published.status, 0, published.stderr)
    const request = path.join(dir, 'request.json')
    const asked = run(['release', 'request', '--state', state, '--eventlog', log(), '--out', request, '--json'])
    assert.equal(asked.status, 0, asked.stderr)
    const agent = (JSON.parse(asked.stdout) as { agentMeasurement: string }).agentMeasurement
    writeFileSync(path.join(owner, 'agent-allowlist'), `${agent}\n`)
    const approved = run([
      'release',
      'approve',
      '--state',
      owner,
      '--request',
      request,
      '--out',
      path.join(dir, 'approval.json'),
      '--timeout',
      '1'
    ])
    assert.equal(approved.status, 0, approved.stderr)

    const stateBefore = readFileSync(path.join(state, 'device.json'), 'utf8')
    const copyFile = path.join(state, OWNER_COPY_FILE)
    const realCopy = readFileSync(copyFile, 'utf8')
    const unchanged = (): void => {
      assert.equal(readFileSync(path.join(state, 'device.json'), 'utf8'), stateBefore)
      assert.equal(secretFile('early').version, 2)
    }

    // An attacker's copy: other seeds sealed to the owner's public key (anyone can seal to it).
    const tpm = await EsysTpm.open({ tcti: tcti(device) })
    try {
      const deviceState = await readDeviceState(state)
      const forge = async (): Promise<{ public: string; private: string }> => {
        const sealed = await sealToAuthority(
          tpm,
          crypto.getRandomValues(new Uint8Array(32)),
          deviceState.sealing.selection,
          ownerPoint,
          releasePolicyRef(deviceState.deviceId)
        )
        return { public: toBase64(sealed.blob.public), private: toBase64(sealed.blob.private) }
      }
      const forged = { ...(JSON.parse(realCopy) as object), mldsa: await forge(), peer: await forge() }
      writeFileSync(copyFile, JSON.stringify(forged))
    } finally {
      await tpm.close()
    }
    const replaced = install()
    assert.equal(replaced.status, 1)
    assert.match(replaced.stderr, /does not hold this device's keys/)
    unchanged()

    // A copy that names another authority than the owner's.
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .publicKey.export({ format: 'der', type: 'spki' })
      .subarray(-65)
    const parsed = JSON.parse(realCopy) as { authority: { point: string; policyRef: string } }
    writeFileSync(
      copyFile,
      JSON.stringify({ ...parsed, authority: { ...parsed.authority, point: Buffer.from(other).toString('hex') } })
    )
    const foreign = install()
    assert.equal(foreign.status, 1)
    assert.match(foreign.stderr, /sealed to another authority/)
    unchanged()

    // A garbled copy is bad input (exit 2), not a crash.
    writeFileSync(copyFile, '{"version":1,"kind":"owner-sealed"')
    assert.equal(install().status, 2)
    unchanged()

    // No copy: what a device enrolled by an older agent, never started since, meets.
    rmSync(copyFile)
    const none = install()
    assert.equal(none.status, 1)
    assert.match(none.stderr, /no owner copy/)
    unchanged()

    // The real copy, but booted into a tampered kernel: the approval is of another boot.
    writeFileSync(copyFile, realCopy)
    assert.equal(run(['swtpm', 'boot', '--dir', device, '--variant', 'tampered-kernel']).status, 0)
    const tampered = install()
    assert.equal(tampered.status, 1)
    assert.match(tampered.stderr, /approves another boot state/)
    unchanged()

    // The boot the owner approved, but a secret without a copy: nothing moves, and the way out is named.
    assert.equal(run(['swtpm', 'boot', '--dir', device, '--variant', 'new-kernel']).status, 0)
    const stranded = install()
    assert.equal(stranded.status, 1)
    assert.match(stranded.stderr, /old.*no copy sealed to the owner.*fleet secret remove/s)
    assert.equal(readFileSync(path.join(state, 'device.json'), 'utf8'), stateBefore)
    assert.equal(run(['secret', 'remove', '--state', state, 'old']).status, 0)
    // The keys and both other secrets move to the owner.
    const installed = install()
    assert.equal(installed.status, 0, installed.stderr)
    const outcome = JSON.parse(installed.stdout) as {
      resealed: boolean
      fromOwnerCopy: boolean
      secretsResealed: string[]
    }
    assert.equal(outcome.resealed, true)
    assert.equal(outcome.fromOwnerCopy, true)
    assert.deepEqual(outcome.secretsResealed, ['early', 'late'])
    assert.equal(existsSync(copyFile), false)
    assert.equal((JSON.parse(readFileSync(path.join(state, 'device.json'), 'utf8')) as { version: number }).version, 3)
    const started = start()
    assert.equal(started.status, 0, started.stderr)
    const opened = await EsysTpm.open({ tcti: tcti(device) })
    try {
      const now = await readDeviceState(state)
      assert.equal(Buffer.from(await openSecret(opened, now, state, 'early')).toString(), 'sealed-before-join')
      assert.equal(Buffer.from(await openSecret(opened, now, state, 'late')).toString(), 'sealed-after-join')
    } finally {
      await opened.close()
    }

    // The old kernel was never approved: booting it releases nothing now.
    assert.equal(run(['swtpm', 'boot', '--dir', device]).status, 0)
    const old = start()
    assert.equal(old.status, 1)
    assert.match(old.stderr, /keys stay sealed/)
  })
})
