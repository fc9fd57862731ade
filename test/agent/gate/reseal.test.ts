/**
 * The secrets' re-seal on the owner's first release approval, on swtpm: staged under the new
 * state, committed with the device state, swapped in. Interrupted at every step (the step hook
 * throws, as a crash there would leave the disk), the secrets left on disk open under the device
 * state on disk once settled, with their values unchanged; a secret that does not open aborts
 * the re-seal with nothing written.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, readdir, rename, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { EsysTpm, type SwtpmDevice } from '../../../src/attest/index.js'
import {
  REPLACED_SECRETS_DIR,
  SecretsInUseError,
  lockSecrets,
  STAGED_SECRETS_DIR,
  SECRETS_DIR,
  SecretFileError,
  SecretResealError,
  SecretResealStuckError,
  installReleaseApproval,
  listSecrets,
  openSecret,
  readDeviceState,
  resealSecrets,
  sealSecret,
  secretFile,
  settleSecretReseal,
  unlockDevice,
  writeDeviceState,
  type DeviceState,
  type ResealStep
} from '../../../src/agent/index.js'
import { HybridSigner, softwareP256Signer, nodeMlDsa65 } from '../../../src/identity/index.js'
import { printed } from '../../../simnet/printed.js'
import { runFleetAsync } from '../../helpers/cli.js'
import { haveSwtpm, startDevice, tempDir } from '../../helpers/devices.js'
import { AGENT_MEASUREMENT, approveCurrentBoot, initTestDevice } from '../../helpers/release-approval.js'

/** What a crash at a step leaves: the step hook throws it, so nothing after the step runs. */
class Interrupted extends Error {}

describe('agent/gate: the secrets re-sealed with the keys survive an interruption at any step (swtpm)', function () {
  this.timeout(120_000)
  let device: SwtpmDevice
  let tpm: EsysTpm
  /** The device sealed to its PCR values at init, and the same device once the owner's first approval moved its keys. */
  let from: DeviceState
  let to: DeviceState
  const now = new Date('2026-12-06T12:00:00Z')
  const values: Record<string, Uint8Array> = {
    'api-token': new Uint8Array(randomBytes(40)),
    'db-password': new Uint8Array(Buffer.from(`pw-${randomBytes(8).toString('hex')}`))
  }
  const names = Object.keys(values).sort()

  before(async function () {
    if (!haveSwtpm()) this.skip()
    device = await startDevice()
    tpm = await EsysTpm.open({ tcti: device.tcti })
    from = await initTestDevice(tpm, device.tcti)
    await unlockDevice(tpm, from, AGENT_MEASUREMENT)
    const owner = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32)))
    const fleetId = new Uint8Array(32).fill(4)
    const signed = await approveCurrentBoot(tpm, owner, fleetId, from)
    const installed = await installReleaseApproval(
      tpm,
      from,
      { key: owner.publicKey, fleetId },
      signed,
      AGENT_MEASUREMENT
    )
    assert.equal(installed.resealed, true)
    to = installed.state
  })

  after(async () => {
    await tpm?.close()
  })

  /** A state directory holding `from` and the secrets sealed under it. */
  async function device1(): Promise<string> {
    const dir = await tempDir('fleet-reseal-')
    await writeDeviceState(dir, from)
    for (const name of names) await sealSecret(tpm, from, dir, name, values[name]!, { now })
    return dir
  }

  /** Re-seals the secrets of `dir` as fleet release install does, stopped right after `step`. */
  async function interruptedAt(dir: string, step: ResealStep): Promise<void> {
    await assert.rejects(
      resealSecrets(tpm, from, to, dir, {
        now,
        commit: async () => await writeDeviceState(dir, to),
        onStep: (done) => {
          if (done === step) throw new Interrupted(step)
        }
      }),
      Interrupted
    )
  }

  /** Every secret opens under the device state on disk, with its value unchanged, and nothing of the re-seal is left. */
  async function opensUnderStateOnDisk(dir: string, expected: DeviceState): Promise<void> {
    const state = await readDeviceState(dir)
    // As written to disk (fields left undefined are not written).
    assert.deepEqual(state, JSON.parse(JSON.stringify(expected)))
    assert.deepEqual(
      (await listSecrets(dir, state)).map((s) => s.name),
      names
    )
    for (const name of names) assert.deepEqual(await openSecret(tpm, state, dir, name), values[name], name)
    assert.deepEqual((await readdir(dir)).filter((entry) => entry.startsWith('secrets')).sort(), [SECRETS_DIR])
  }

  it('re-seals every secret to the owner: staged, committed, swapped; a staging an earlier run never finished is dropped', async () => {
    const dir = await device1()
    await mkdir(path.join(dir, `${STAGED_SECRETS_DIR}.tmp-0123456789abcdef`))
    await writeFile(path.join(dir, `${STAGED_SECRETS_DIR}.tmp-0123456789abcdef`, 'api-token.json'), 'half')
    const steps: ResealStep[] = []
    let committed = 0
    const resealed = await resealSecrets(tpm, from, to, dir, {
      now,
      commit: async () => {
        committed++
        // Committed only once every secret is staged whole, and before anything is swapped.
        assert.deepEqual(
          await readdir(path.join(dir, STAGED_SECRETS_DIR)),
          names.map((n) => `${n}.json`)
        )
        assert.deepEqual(
          (await listSecrets(dir, from)).map((s) => s.sealedTo),
          ['boot-pcrs', 'boot-pcrs']
        )
        await writeDeviceState(dir, to)
      },
      onStep: (step) => {
        steps.push(step)
      }
    })
    assert.deepEqual(resealed, names)
    assert.equal(committed, 1)
    assert.deepEqual(steps, ['staged', 'committed', 'set-aside', 'swapped'])
    await opensUnderStateOnDisk(dir, to)
    assert.deepEqual(
      (await listSecrets(dir, to)).map((s) => s.sealedTo),
      ['owner', 'owner']
    )
    assert.equal((await stat(path.join(dir, SECRETS_DIR))).mode & 0o777, 0o700)
    for (const name of names) assert.equal((await stat(secretFile(dir, name))).mode & 0o777, 0o600)
    // Settled already: settling again changes nothing.
    assert.equal(await settleSecretReseal(dir, to), 'clean')
  })

  it('interrupted after staging, before the state is written: rolled back, the secrets open under the old state', async () => {
    const dir = await device1()
    const before = await readFile(path.join(dir, 'device.json'))
    const old = await readFile(secretFile(dir, 'db-password'))
    await interruptedAt(dir, 'staged')
    assert.deepEqual(await readFile(path.join(dir, 'device.json')), before)
    assert.deepEqual(await readFile(secretFile(dir, 'db-password')), old)
    assert.deepEqual(
      (await readdir(path.join(dir, STAGED_SECRETS_DIR))).sort(),
      names.map((n) => `${n}.json`)
    )
    assert.equal(await settleSecretReseal(dir, await readDeviceState(dir)), 'rolled-back')
    await opensUnderStateOnDisk(dir, from)
    assert.equal(await settleSecretReseal(dir, from), 'clean')
  })

  it('interrupted after the state is written, before the swap (where writing the state first stranded them): rolled forward', async () => {
    const dir = await device1()
    await interruptedAt(dir, 'committed')
    // What the state on disk finds in DIR/secrets now is sealed to the old policy …
    await assert.rejects(
      openSecret(tpm, await readDeviceState(dir), dir, 'db-password'),
      (err: unknown) => err instanceof SecretFileError && /seal it again/.test(err.message)
    )
    // … and the staged secrets are the ones it opens.
    assert.equal(await settleSecretReseal(dir, await readDeviceState(dir)), 'rolled-forward')
    await opensUnderStateOnDisk(dir, to)
    assert.equal(await settleSecretReseal(dir, to), 'clean')
  })

  const midSwap: Array<[ResealStep, string, string[]]> = [
    [
      'set-aside',
      'the old secrets set aside and the staged not yet moved in',
      [REPLACED_SECRETS_DIR, STAGED_SECRETS_DIR]
    ],
    ['swapped', 'the staged moved in and the old not yet removed', [SECRETS_DIR, REPLACED_SECRETS_DIR]]
  ]
  for (const [step, what, left] of midSwap)
    it(`interrupted mid-swap, ${what}: rolled forward`, async () => {
      const dir = await device1()
      await interruptedAt(dir, step)
      assert.deepEqual((await readdir(dir)).filter((entry) => entry.startsWith('secrets')).sort(), left.sort())
      assert.equal(await settleSecretReseal(dir, await readDeviceState(dir)), 'rolled-forward')
      await opensUnderStateOnDisk(dir, to)
    })

  it('two settles at once (the agent starting while fleet secret list runs) both finish the swap', async () => {
    const dir = await device1()
    await interruptedAt(dir, 'committed')
    const outcomes = await Promise.all([settleSecretReseal(dir, to), settleSecretReseal(dir, to)])
    assert.ok(outcomes.includes('rolled-forward'), outcomes.join())
    await opensUnderStateOnDisk(dir, to)
  })

  it('while a re-seal holds the secrets no fleet secret command touches them, nor a re-seal starts beside one; a holder killed holds nothing', async () => {
    const dir = await device1()
    let listed: Awaited<ReturnType<typeof runFleetAsync>> | undefined
    const lock = await lockSecrets(dir, 'exclusive')
    try {
      await resealSecrets(tpm, from, to, dir, {
        now,
        commit: async () => await writeDeviceState(dir, to),
        onStep: async (done) => {
          // Staged, the new state not yet written: another process's settle would roll it back.
          if (done === 'staged') listed = await runFleetAsync(['secret', 'list', '--state', dir])
        }
      })
    } finally {
      await lock.release()
    }
    assert.equal(listed!.status, 1, listed!.stderr)
    assert.match(listed!.stderr, /are being re-sealed \(fleet release install\)/)
    await opensUnderStateOnDisk(dir, to)
    // A process holding the secrets (as a running agent or a fleet secret command does) keeps a re-seal out …
    const holder = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { lockSecrets } = await import(${JSON.stringify(path.resolve('dist/src/agent/index.js'))}); await lockSecrets(${JSON.stringify(dir)}, 'shared'); process.stdout.write('held'); setInterval(() => {}, 1000)`
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] }
    )
    try {
      await printed(holder, (out) => out.includes('held'), 20_000)
      await assert.rejects(lockSecrets(dir, 'exclusive'), SecretsInUseError)
      // … and, killed (no chance to release it), holds nothing: the kernel dropped its lock.
      holder.kill('SIGKILL')
      await new Promise((resolve) => holder.once('exit', resolve))
      await (await lockSecrets(dir, 'exclusive')).release()
    } finally {
      holder.kill('SIGKILL')
    }
  })

  it('a secret folder holding files beyond the secrets kept refuses the re-seal: the swap would drop them', async () => {
    const dir = await device1()
    const stray = path.join(dir, SECRETS_DIR, '-not-a-secret-name.json')
    await writeFile(stray, 'kept by someone')
    const before = await readdir(path.join(dir, SECRETS_DIR))
    await assert.rejects(
      resealSecrets(tpm, from, to, dir, { now, commit: async () => await writeDeviceState(dir, to) }),
      SecretResealError
    )
    assert.deepEqual(await readdir(path.join(dir, SECRETS_DIR)), before)
    assert.deepEqual(await readDeviceState(dir), JSON.parse(JSON.stringify(from)))
    assert.deepEqual((await readdir(dir)).filter((entry) => entry.startsWith('secrets')).sort(), [SECRETS_DIR])
  })

  it('a secret that does not open aborts the re-seal: not committed, nothing written, no staging left', async () => {
    const dir = await device1()
    // db-password sorts after api-token: one secret is staged already when it fails.
    const file = secretFile(dir, 'db-password')
    const json = JSON.parse(await readFile(file, 'utf8')) as { ciphertext: string }
    const bytes = Buffer.from(json.ciphertext, 'base64')
    bytes[0]! ^= 1
    await writeFile(file, JSON.stringify({ ...json, ciphertext: bytes.toString('base64') }))
    const before = await readFile(path.join(dir, 'device.json'))
    const held = await Promise.all(names.map(async (name) => await readFile(secretFile(dir, name))))
    let committed = false
    await assert.rejects(
      resealSecrets(tpm, from, to, dir, {
        now,
        commit: async () => {
          committed = true
          await writeDeviceState(dir, to)
        }
      }),
      (err: unknown) =>
        err instanceof SecretResealError &&
        err.code === 'ERR_SECRET_RESEAL' &&
        err.secret === 'db-password' &&
        /does not decrypt/.test(err.message)
    )
    assert.equal(committed, false)
    assert.deepEqual(await readFile(path.join(dir, 'device.json')), before)
    assert.deepEqual(await Promise.all(names.map(async (name) => await readFile(secretFile(dir, name)))), held)
    assert.deepEqual(
      (await readdir(dir)).filter((entry) => entry.startsWith('secrets')),
      [SECRETS_DIR]
    )
  })

  it('never drops the folder that opens under the state on disk; three folders at once are left to an operator', async () => {
    // The old secrets set aside match the state on disk and those moved in do not (the state
    // was put back by hand): the set-aside ones are kept.
    const dir = await device1()
    await interruptedAt(dir, 'swapped')
    await writeDeviceState(dir, from)
    assert.equal(await settleSecretReseal(dir, from), 'rolled-back')
    await opensUnderStateOnDisk(dir, from)
    // secrets, secrets.next and secrets.old together: no interruption leaves that, nothing is touched.
    const odd = await device1()
    await interruptedAt(odd, 'staged')
    await mkdir(path.join(odd, REPLACED_SECRETS_DIR))
    await assert.rejects(settleSecretReseal(odd, from), SecretResealStuckError)
    assert.deepEqual(
      (await readdir(odd)).filter((entry) => entry.startsWith('secrets')).sort(),
      [SECRETS_DIR, STAGED_SECRETS_DIR, REPLACED_SECRETS_DIR].sort()
    )
    // The old secrets alone, set aside: put back.
    const aside = await device1()
    await rename(path.join(aside, SECRETS_DIR), path.join(aside, REPLACED_SECRETS_DIR))
    assert.equal(await settleSecretReseal(aside, from), 'rolled-back')
    await opensUnderStateOnDisk(aside, from)
  })
})
