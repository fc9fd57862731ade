/**
 * fleet exec through the gate socket, as another user (nobody) on swtpm with real processes: the
 * workload's user reaches neither the state directory nor the control socket; without a grant it
 * is refused and nothing starts; with one it gets the secrets granted to it and is refused any
 * other, naming it; a grant withdrawn holds from the next start; start and stop are recorded; a
 * secret-files folder a killed fleet exec left on /dev/shm is swept by the next one.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, chown, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { GATE_LIMITS, sealSecret, startControlServer, startGateSocket, type Agent } from '../../src/agent/index.js'
import { SimFleet, deviceGate, type SimDevice } from '../../simnet/fleet.js'
import { workloadEntries } from '../helpers/actors.js'
import { FLEET, runFleetAsync, type RunAs } from '../helpers/cli.js'
import { haveSwtpm, tempDir } from '../helpers/devices.js'

const NOBODY: RunAs = { uid: 65534, gid: 65534 }

/** Writes what it was given to OUT: its uid, the secret in its environment, the secret file's content. */
const WORKLOAD = `
const fs = require('node:fs')
const file = process.env.MODEL_KEY_FILE
fs.writeFileSync(process.argv[2], JSON.stringify({
  uid: process.getuid(),
  env: process.env.DB_PASSWORD ?? null,
  fileContent: file === undefined ? null : fs.readFileSync(file, 'utf8'),
  fileOwner: file === undefined ? null : fs.statSync(file).uid
}))
`

/** Why these tests cannot run here, or undefined when they can. */
function cannotRun(): string | undefined {
  if (!haveSwtpm()) return 'swtpm is not installed'
  if (process.getuid?.() !== 0) return 'running a workload as another user needs root'
  const probe = spawnSync(FLEET, ['--version'], { ...NOBODY, encoding: 'utf8' })
  if (probe.status !== 0) return `user nobody cannot run ${FLEET} (the checkout is not readable to it)`
  return undefined
}

describe('cli: fleet exec --gate, a workload as its own user with the secrets granted to it (swtpm)', function () {
  this.timeout(120_000)
  let fleet: SimFleet
  let dev: SimDevice
  let agent: Agent
  let closers: Array<() => Promise<void>>
  let socket: string
  let work: string
  let script: string
  const dbPassword = `db-${randomBytes(8).toString('hex')}`
  const modelKey = `model-${randomBytes(8).toString('hex')}`

  /** `fleet exec --gate SOCKET [args] -- node SCRIPT OUT` as nobody. */
  const execAsNobody = async (args: string[], out: string) =>
    await runFleetAsync(['exec', '--gate', socket, ...args, '--', process.execPath, script, out], NOBODY)

  const workloadTypes = async (): Promise<string[]> => (await workloadEntries(agent)).map((e) => e.type)

  before(async function () {
    const reason = cannotRun()
    if (reason !== undefined) {
      this.test!.parent!.title += ` (skipped: ${reason})`
      this.skip()
    }
    fleet = await SimFleet.create()
    ;[dev] = (await fleet.addEnrolled(1)) as [SimDevice]
    agent = await fleet.start(dev)
    const gate = await deviceGate(dev, agent)
    const control = await startControlServer(agent, dev.dir, dev.state.deviceId, { gate })
    const runDir = await tempDir('fleet-run-')
    await chmod(runDir, 0o755)
    socket = path.join(runDir, 'agent', 'gate.sock')
    const gateSocket = await startGateSocket(socket, { gate, dir: dev.dir })
    closers = [gateSocket.close, control.close]
    for (const [name, value] of [
      ['db-password', dbPassword],
      ['model-key', modelKey]
    ] as const)
      await sealSecret(dev.tpm, dev.state, dev.dir, name, new Uint8Array(Buffer.from(value)), { now: new Date() })
    work = await tempDir('fleet-exec-gate-')
    await chmod(work, 0o777)
    script = path.join(work, 'workload.js')
    await writeFile(script, WORKLOAD, { mode: 0o644 })
  })

  after(async () => {
    for (const close of closers ?? []) await close()
    await fleet?.close()
  })

  it('another user reaches neither the control socket nor the gate without a grant; nothing starts, nothing is recorded', async () => {
    const viaControl = path.join(work, 'control.json')
    const control = await runFleetAsync(
      ['exec', '--state', dev.dir, '--', process.execPath, script, viaControl],
      NOBODY
    )
    assert.equal(control.status, 1, control.stderr)
    assert.match(control.stderr, /permission denied/)
    const out = path.join(work, 'ungranted.json')
    const refused = await execAsNobody([], out)
    assert.equal(refused.status, 1, refused.stderr)
    assert.match(refused.stderr, /uid 65534 may not use the gate/)
    assert.equal(existsSync(out) || existsSync(viaControl), false, 'nothing started')
    assert.deepEqual(await workloadTypes(), [])
  })

  it('granted (fleet gate allow), it gets its secret as a file it owns and is refused a secret not granted, naming it', async () => {
    const allow = await runFleetAsync([
      'gate',
      'allow',
      '--state',
      dev.dir,
      '--user',
      'nobody',
      '--secret',
      'model-key',
      '--json'
    ])
    assert.equal(allow.status, 0, allow.stderr)
    assert.deepEqual(JSON.parse(allow.stdout), { uid: 65534, secrets: ['model-key'] })
    const out = path.join(work, 'granted.json')
    const ran = await execAsNobody(['--secret', 'model-key:MODEL_KEY_FILE'], out)
    assert.equal(ran.status, 0, ran.stderr)
    const seen = JSON.parse(await readFile(out, 'utf8')) as Record<string, unknown>
    assert.deepEqual(seen, { uid: 65534, env: null, fileContent: modelKey, fileOwner: 65534 })
    assert.deepEqual(await workloadTypes(), ['workload.start', 'workload.stop'])

    const greedy = path.join(work, 'greedy.json')
    const refused = await execAsNobody(['--secret', 'model-key:MODEL_KEY_FILE', '--secret', 'db-password'], greedy)
    assert.equal(refused.status, 1)
    assert.match(refused.stderr, /uid 65534 is not granted secret db-password/)
    assert.ok(!refused.stderr.includes(dbPassword) && !refused.stderr.includes(modelKey))
    assert.equal(existsSync(greedy), false)
    assert.equal((await workloadTypes()).length, 2, 'a refusal records nothing')
  })

  it('a grant withdrawn (fleet gate deny) holds from the next start', async () => {
    await runFleetAsync(['gate', 'allow', '--state', dev.dir, '--user', '65534', '--secret', 'db-password'])
    const out = path.join(work, 'both.json')
    const ran = await execAsNobody(['--secret', 'db-password=DB_PASSWORD'], out)
    assert.equal(ran.status, 0, ran.stderr)
    assert.equal((JSON.parse(await readFile(out, 'utf8')) as { env: string }).env, dbPassword)
    const deny = await runFleetAsync(['gate', 'deny', '--state', dev.dir, '--user', 'nobody'])
    assert.equal(deny.status, 0, deny.stderr)
    const after = path.join(work, 'denied.json')
    const refused = await execAsNobody([], after)
    assert.equal(refused.status, 1)
    assert.match(refused.stderr, /may not use the gate/)
    assert.equal(existsSync(after), false)
    const list = await runFleetAsync(['gate', 'list', '--state', dev.dir, '--json'])
    assert.deepEqual(JSON.parse(list.stdout), [])
  })

  it("fleet gate allow refuses a secret never sealed, and any user but the state directory's owner", async () => {
    const unknown = await runFleetAsync(['gate', 'allow', '--state', dev.dir, '--user', 'nobody', '--secret', 'nope'])
    assert.equal(unknown.status, 1)
    assert.match(unknown.stderr, /no secret named nope/)
    const owned = await tempDir('fleet-owned-')
    await chown(owned, 65534, 65534)
    const notOwner = await runFleetAsync(['gate', 'allow', '--state', owned, '--user', 'nobody'])
    assert.equal(notOwner.status, 1)
    assert.match(notOwner.stderr, /belongs to uid 65534: change its grants as that user/)
    assert.equal(existsSync(path.join(owned, 'gate-grants.json')), false)
    const badUser = await runFleetAsync(['gate', 'allow', '--state', dev.dir, '--user', 'no-such-user-here'])
    assert.equal(badUser.status, 2)
  })

  it("a secret-files folder a killed fleet exec of this user left is swept by the next; a live one's stays, and no other user can hide it", async () => {
    await runFleetAsync(['gate', 'allow', '--state', dev.dir, '--user', 'nobody', '--secret', 'model-key'])
    // The user's own folder on /dev/shm: only it adds names there.
    const own = '/dev/shm/fleet-exec-65534'
    // A process that has ended: its pid names a fleet exec that is gone.
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' })
    const left = path.join(own, `${gone.stdout}-AbC123`)
    const live = path.join(own, `${process.pid}-AbC123`)
    // Another user's names where the sweep used to look (a flood meant to hide the user's folders).
    const decoys = Array.from(
      { length: GATE_LIMITS.maxSweptEntries + 1 },
      (_, n) => `/dev/shm/fleet-exec-1-Dec${String(n).padStart(3, '0')}`
    )
    try {
      // Made by this user's earlier fleet exec with a file, or here as it would make it.
      await mkdir(own, { mode: 0o700, recursive: true })
      await chown(own, 65534, 65534)
      for (const folder of [left, live]) {
        await mkdir(folder, { mode: 0o700 })
        await writeFile(path.join(folder, 'model-key'), 'left behind')
        await chown(folder, 65534, 65534)
      }
      for (const decoy of decoys) await mkdir(decoy)
      const out = path.join(work, 'sweep.json')
      const ran = await execAsNobody(['--secret', 'model-key:MODEL_KEY_FILE'], out)
      assert.equal(ran.status, 0, ran.stderr)
      assert.equal(existsSync(left), false, "the dead fleet exec's folder is swept")
      assert.ok(existsSync(live), "a live process's folder stays")
      assert.ok(
        decoys.every((decoy) => existsSync(decoy)),
        "another user's folders are not this user's to sweep"
      )
      const seen = JSON.parse(await readFile(out, 'utf8')) as { fileContent: string }
      assert.equal(seen.fileContent, modelKey)
    } finally {
      for (const folder of [own, ...decoys]) await rm(folder, { recursive: true, force: true })
    }
  })

  it("a user folder on /dev/shm taken by another user is not used: the secret file goes in a folder of fleet exec's own", async () => {
    await runFleetAsync(['gate', 'allow', '--state', dev.dir, '--user', 'nobody', '--secret', 'model-key'])
    const taken = '/dev/shm/fleet-exec-65534'
    await rm(taken, { recursive: true, force: true })
    await mkdir(taken, { mode: 0o777 })
    try {
      const out = path.join(work, 'taken.json')
      const script2 = path.join(work, 'where.js')
      await writeFile(
        script2,
        "require('node:fs').writeFileSync(process.argv[2], JSON.stringify({ file: process.env.MODEL_KEY_FILE, content: require('node:fs').readFileSync(process.env.MODEL_KEY_FILE, 'utf8') }))",
        { mode: 0o644 }
      )
      const ran = await runFleetAsync(
        ['exec', '--gate', socket, '--secret', 'model-key:MODEL_KEY_FILE', '--', process.execPath, script2, out],
        NOBODY
      )
      assert.equal(ran.status, 0, ran.stderr)
      const seen = JSON.parse(await readFile(out, 'utf8')) as { file: string; content: string }
      assert.equal(seen.content, modelKey)
      assert.match(seen.file, /^\/dev\/shm\/fleet-exec-\d+-[A-Za-z0-9]{6}\/model-key$/)
      assert.deepEqual(await readdir(taken), [], 'nothing written in the folder another user holds')
    } finally {
      await rm(taken, { recursive: true, force: true })
    }
  })
})
