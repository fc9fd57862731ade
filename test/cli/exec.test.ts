/**
 * fleet exec on swtpm with real child processes: a device in good standing runs the command with
 * its secrets (environment and a 0600 file on a memory-backed filesystem); losing the standing —
 * a PCR extended, the owner's revocation received — stops it within the documented bound; a
 * quorum of peers' verdicts is counted; refusals exit 1 naming the reason and the command never
 * starts; the secret is never in argv, the output, the agent's log or the state directory; start
 * and stop are entries of the device's feed.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, readFileSync, realpathSync } from 'node:fs'
import { readFile, readdir, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import {
  GATE_LIMITS,
  controlRequest,
  ownerFeedId,
  publishOwnerFeed,
  sealSecret,
  startControlServer,
  type Agent
} from '../../src/agent/index.js'
import { FleetError } from '../../src/common/index.js'
import { SimFleet, deviceGate, type SimDevice } from '../../simnet/fleet.js'
import { workloadEntries } from '../helpers/actors.js'
import { runFleetAsync, spawnFleet } from '../helpers/cli.js'
import { haveSwtpm, tempDir } from '../helpers/devices.js'
import { capturingLogger } from '../helpers/log-lines.js'
import { until } from '../helpers/wait.js'

/**
 * The workload: writes what it was given to OUT (its environment's secret, the secret file's path,
 * mode and content, its own command line) and, with "wait", runs until SIGTERM, noting when it got it.
 */
const WORKLOAD = `
const fs = require('node:fs')
const [out, mode] = process.argv.slice(2)
const file = process.env.DB_PASSWORD_FILE
const seen = {
  env: process.env.DB_PASSWORD,
  file,
  fileMode: file === undefined ? null : fs.statSync(file).mode & 0o777,
  fileContent: file === undefined ? null : fs.readFileSync(file, 'utf8'),
  cmdline: fs.readFileSync('/proc/self/cmdline', 'utf8'),
  pid: process.pid
}
process.on('SIGTERM', () => { fs.writeFileSync(out + '.term', String(Date.now())); process.exit(0) })
fs.writeFileSync(out, JSON.stringify(seen))
if (mode === 'wait') setInterval(() => {}, 1000)
`

/** The documented bound from a trust-losing event to SIGTERM: one watch interval, one PCR recheck, and a control round trip. */
const STOP_BOUND_MS = GATE_LIMITS.watchIntervalMs + GATE_LIMITS.pcrRecheckMs + 500

interface Served {
  close(): Promise<void>
  lines: Array<Record<string, unknown>>
}

/** The control socket of `agent` in `device`'s directory with its workload gate, as fleet run serves it. */
async function serveGate(device: SimDevice, agent: Agent): Promise<Served> {
  const { logger, lines } = capturingLogger('debug')
  const gate = await deviceGate(device, agent)
  const control = await startControlServer(agent, device.dir, device.state.deviceId, { logger, gate })
  return { close: control.close, lines }
}

/** The workload file in a fresh folder: where a test's outputs go, and the script `fleet exec` runs. */
async function workloadFolder(): Promise<{ work: string; script: string }> {
  const work = await tempDir('fleet-exec-')
  const script = path.join(work, 'workload.js')
  await writeFile(script, WORKLOAD)
  return { work, script }
}

/** `fleet exec --state DIR [options] -- node SCRIPT OUT [args]`, resolved once the workload wrote OUT (it started). */
async function startGated(
  dir: string,
  options: string[],
  script: string,
  out: string,
  args: string[] = []
): Promise<ReturnType<typeof spawnFleet>> {
  const running = spawnFleet(['exec', '--state', dir, ...options, '--', process.execPath, script, out, ...args])
  await until(() => existsSync(out), 'the workload to start')
  return running
}

/** `fleet exec --state DIR [--secret S]… -- node SCRIPT OUT`, run to its end. */
async function execOnce(
  dir: string,
  secrets: string[],
  script: string,
  out: string
): Promise<Awaited<ReturnType<typeof runFleetAsync>>> {
  return await runFleetAsync([
    'exec',
    '--state',
    dir,
    ...secrets.flatMap((spec) => ['--secret', spec]),
    '--',
    process.execPath,
    script,
    out
  ])
}

/** `fleet secret seal --state DIR NAME --from FILE`. */
async function sealByCli(dir: string, name: string, from: string): Promise<Awaited<ReturnType<typeof runFleetAsync>>> {
  return await runFleetAsync(['secret', 'seal', '--state', dir, name, '--from', from])
}

describe('cli: fleet exec runs a workload only on a device in good standing (swtpm, real processes)', function () {
  this.timeout(180_000)
  let fleet: SimFleet
  let dev1: SimDevice
  let dev2: SimDevice
  let agent1: Agent
  let agent2: Agent
  let served: Served
  let work: string
  let script: string
  const secret = `s3cret-${randomBytes(12).toString('hex')}`

  before(async function () {
    if (!haveSwtpm()) this.skip()
    fleet = await SimFleet.create()
    ;[dev1, dev2] = (await fleet.addEnrolled(2)) as [SimDevice, SimDevice]
    agent1 = await fleet.start(dev1)
    agent2 = await fleet.start(dev2)
    served = await serveGate(dev1, agent1)
    await sealSecret(dev1.tpm, dev1.state, dev1.dir, 'db-password', new Uint8Array(Buffer.from(secret)), {
      now: new Date()
    })
    ;({ work, script } = await workloadFolder())
  })

  after(async () => {
    await served?.close()
    await fleet?.close()
  })

  it('a device in good standing runs the command with its secret in the environment and a 0600 memory-backed file, removed on exit', async () => {
    const out = path.join(work, 'good.json')
    const result = await runFleetAsync([
      'exec',
      '--state',
      dev1.dir,
      '--secret',
      'db-password=DB_PASSWORD',
      '--secret',
      'db-password:DB_PASSWORD_FILE',
      '--',
      process.execPath,
      script,
      out
    ])
    assert.equal(result.status, 0, result.stderr)
    const seen = JSON.parse(await readFile(out, 'utf8')) as Record<string, unknown>
    assert.equal(seen.env, secret)
    assert.equal(seen.fileContent, secret)
    assert.equal(seen.fileMode, 0o600)
    // In the user's own folder on /dev/shm, in a folder named with fleet exec's pid.
    assert.match(seen.file as string, /^\/dev\/shm\/fleet-exec-\d+\/\d+-[A-Za-z0-9]{6}\/db-password$/)
    assert.equal(existsSync(path.dirname(seen.file as string)), false, 'the secret file is removed on exit')
    // Never on a command line, in the output, in the agent's log or in the state directory.
    assert.ok(!(seen.cmdline as string).includes(secret))
    assert.ok(!result.stdout.includes(secret) && !result.stderr.includes(secret))
    assert.ok(!JSON.stringify(served.lines).includes(secret))
    assert.ok(served.lines.some((line) => line.msg === 'a workload admitted by the gate'))
    const files = await readdir(dev1.dir, { recursive: true })
    for (const f of files) {
      const full = path.join(dev1.dir, f)
      if ((await stat(full)).isFile()) assert.ok(!readFileSync(full).includes(Buffer.from(secret)), `${f} holds it`)
    }
    // Start and stop are on the record, with the program's digest and the secret by name.
    const recorded = await workloadEntries(agent1)
    assert.deepEqual(
      recorded.map((e) => e.type),
      ['workload.start', 'workload.stop']
    )
    const exe = realpathSync(process.execPath)
    assert.equal(recorded[0]!.body.exe, exe)
    assert.deepEqual(
      recorded[0]!.body.exeDigest,
      new Uint8Array(createHash('sha256').update(readFileSync(exe)).digest())
    )
    assert.deepEqual(recorded[0]!.body.secrets, ['db-password'])
    assert.equal(recorded[0]!.body.quorum, 0)
    assert.equal(recorded[1]!.body.reason, 'exited')
    assert.equal(recorded[1]!.body.exitCode, 0)
    assert.equal(result.pid, recorded[0]!.body.pid, "the pid is the caller's, as the kernel names it")
  })

  it("the secret is on no command line while the command runs (ps), neither the workload's nor fleet exec's", async () => {
    const out = path.join(work, 'ps.json')
    const running = await startGated(dev1.dir, ['--secret', 'db-password=DB_PASSWORD'], script, out, ['wait'])
    const seen = JSON.parse(await readFile(out, 'utf8')) as { pid: number }
    for (const pid of [seen.pid, running.child.pid!]) {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8')
      assert.ok(cmdline.length > 0 && !cmdline.includes(secret), `pid ${pid}'s command line`)
    }
    // A stop asked of fleet exec (systemd's SIGTERM) goes on to the workload, which then ends normally.
    running.child.kill('SIGTERM')
    const done = await running.done
    assert.equal(done.code, 0, done.stderr)
    assert.ok(existsSync(`${out}.term`))
  })

  it('counts a quorum of peers holding a fresh trusted verdict: one met, two short by one (the command never starts)', async () => {
    await agent2.node.dial(agent1.node.getMultiaddrs()[0]!)
    // dev2 attests dev1 on connecting; its trusted verdict is routine (sealed with the next routine
    // batch, 30 s by default): sealing dev2's feed now stands in for that wait.
    await until(
      async () => {
        await agent2.feed.ledger.checkpoint()
        return agent1.verdictsOnSelf.trustedBy(Date.now(), GATE_LIMITS.verdictFreshMs).length === 1
      },
      "dev2's verdict on dev1 to reach dev1",
      20_000,
      250
    )
    const met = path.join(work, 'quorum-met.json')
    const ok = await runFleetAsync(['exec', '--state', dev1.dir, '--quorum', '1', '--', process.execPath, script, met])
    assert.equal(ok.status, 0, ok.stderr)
    assert.ok(existsSync(met))

    const short = path.join(work, 'quorum-short.json')
    const refused = await runFleetAsync([
      'exec',
      '--state',
      dev1.dir,
      '--quorum',
      '2',
      '--',
      process.execPath,
      script,
      short
    ])
    assert.equal(refused.status, 1)
    assert.match(refused.stderr, /quorum short by 1: 1 of the 2 peers/)
    assert.equal(existsSync(short), false, 'the command never started')
    const recorded = await workloadEntries(agent1)
    assert.equal(recorded.at(-2)!.body.quorum, 1)
    assert.equal(recorded.at(-1)!.type, 'workload.stop', 'a refusal records no start')
  })

  it('fleet secret seal goes through the running agent (it holds the TPM), and the workload gets the new secret', async () => {
    const token = `tok-${randomBytes(8).toString('hex')}`
    await writeFile(path.join(work, 'token'), token)
    const sealed = await sealByCli(dev1.dir, 'api-token', path.join(work, 'token'))
    assert.equal(sealed.status, 0, sealed.stderr)
    assert.ok(
      served.lines.some(
        (line) => line.msg === 'a secret sealed through the control socket' && line.secretName === 'api-token'
      )
    )
    assert.ok(!JSON.stringify(served.lines).includes(token))
    const out = path.join(work, 'token.json')
    const ran = await execOnce(dev1.dir, ['api-token=DB_PASSWORD'], script, out)
    assert.equal(ran.status, 0, ran.stderr)
    assert.equal((JSON.parse(await readFile(out, 'utf8')) as { env: string }).env, token)
    // The largest secret fits a request to the agent.
    await writeFile(path.join(work, 'largest'), randomBytes(GATE_LIMITS.maxSecretBytes))
    const largest = await sealByCli(dev1.dir, 'largest', path.join(work, 'largest'))
    assert.equal(largest.status, 0, largest.stderr)
  })

  it('a secret that is not text without NUL goes only as a file: as a variable it is refused naming the secret, never quoting it', async () => {
    const binary = Buffer.concat([Buffer.from(`bin-${randomBytes(8).toString('hex')}`), Buffer.from([0, 0xff, 1])])
    await sealSecret(dev1.tpm, dev1.state, dev1.dir, 'binary-key', new Uint8Array(binary), { now: new Date() })
    const out = path.join(work, 'binary.json')
    const refused = await execOnce(dev1.dir, ['binary-key=DB_PASSWORD'], script, out)
    assert.equal(refused.status, 1)
    assert.match(refused.stderr, /secret binary-key is not text without NUL bytes/)
    assert.ok(!refused.stderr.includes(binary.subarray(0, 12).toString()), 'the value is not quoted')
    assert.equal(existsSync(out), false)
    const last = (await workloadEntries(agent1)).at(-1)!
    assert.equal(last.type, 'workload.stop')
    assert.match(last.body.reason as string, /^could not start: secret binary-key/)
    const asFile = await execOnce(dev1.dir, ['binary-key:DB_PASSWORD_FILE'], script, out)
    assert.equal(asFile.status, 0, asFile.stderr)
  })

  it('the gate commands refuse a malformed request at the socket, naming what is wrong (exit 2), and record nothing', async () => {
    const before = (await workloadEntries(agent1)).length
    const digest = 'ab'.repeat(32)
    for (const [request, message] of [
      [{ cmd: 'gate.admit', exe: '/bin/true', exeDigest: 'xyz', secrets: [] }, /exe and exeDigest/],
      [{ cmd: 'gate.admit', exe: '', exeDigest: digest, secrets: [] }, /exe and exeDigest/],
      [{ cmd: 'gate.admit', exe: '/bin/true', exeDigest: digest, secrets: 'db-password' }, /a list of names/],
      [{ cmd: 'gate.admit', exe: '/bin/true', exeDigest: digest, secrets: [], quorum: -1 }, /quorum/i],
      [{ cmd: 'gate.stop', exe: '/bin/true', exeDigest: digest }, /needs a reason/],
      [{ cmd: 'secret.seal', name: 'x', value: 'not base64!' }, /base64 value/]
    ] as const) {
      await assert.rejects(
        controlRequest(dev1.dir, request as unknown as Record<string, unknown>),
        // A malformed request is a usage error: exit 2 for the command that sent it.
        (err: unknown) => err instanceof FleetError && message.test(err.message) && err.exitCode === 2,
        JSON.stringify(request)
      )
    }
    assert.equal((await workloadEntries(agent1)).length, before)
  })

  it('usage errors exit 2 and start nothing: a bad secret name, a quorum out of range, an unknown program', async () => {
    for (const args of [
      ['--secret', '../device'],
      ['--quorum', '999'],
      ['--grace', '0']
    ]) {
      const r = await runFleetAsync(['exec', '--state', dev1.dir, ...args, '--', process.execPath, script, 'x'])
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`)
    }
    const r = await runFleetAsync(['exec', '--state', dev1.dir, '--', 'no-such-program-anywhere'])
    assert.equal(r.status, 2)
    assert.match(r.stderr, /no such executable on PATH/)
    const unknown = await runFleetAsync([
      'exec',
      '--state',
      dev1.dir,
      '--secret',
      'never-sealed',
      '--',
      process.execPath,
      script,
      path.join(work, 'never.json')
    ])
    assert.notEqual(unknown.status, 0)
    assert.match(unknown.stderr, /never-sealed/)
    assert.equal(existsSync(path.join(work, 'never.json')), false)
  })

  it("the owner's revocation of the device, received while the command runs, stops it within the bound", async () => {
    // A wrapper that leaves the workload in the background: the stop must reach it too (the group).
    const out = path.join(work, 'revoked.json')
    const running = spawnFleet([
      'exec',
      '--state',
      dev1.dir,
      '--',
      '/bin/sh',
      '-c',
      `"${process.execPath}" "${script}" "${out}" wait & wait`
    ])
    await until(() => existsSync(out), 'the workload to start')
    const owner = fleet.owner
    await owner.feed.ledger.append({
      type: 'device.revoke',
      actor: { id: 'owner/simnet', role: 'owner' },
      attest: null,
      body: { deviceId: dev1.state.deviceId, reason: 'stolen', keep: agent1.feed.ledger.sealedSize }
    })
    await owner.feed.ledger.checkpoint()
    const feed = ownerFeedId(new Uint8Array(Buffer.from(owner.state.fleetId, 'hex')))
    await publishOwnerFeed(owner.node, owner.feed.store, feed, owner.feed.ledger.sealedSize, [
      agent1.node.getMultiaddrs()[0]!
    ])
    await until(() => agent1.membership.isRevoked(dev1.state.deviceId), 'dev1 to learn of its revocation')
    const received = Date.now()
    const done = await running.done
    const stoppedAt = Number(await readFile(`${out}.term`, 'utf8'))
    assert.equal(done.code, 1, 'stopped for lost standing')
    assert.match(done.stderr, /the owner revoked this device/)
    assert.ok(
      stoppedAt - received <= STOP_BOUND_MS,
      `stopped ${stoppedAt - received} ms after, bound ${STOP_BOUND_MS} ms`
    )
    const last = (await workloadEntries(agent1)).at(-1)!
    assert.equal(last.type, 'workload.stop')
    assert.match(last.body.reason as string, /^standing lost: the owner revoked this device/)
    // And a revoked device starts nothing more.
    const again = await runFleetAsync(['exec', '--state', dev1.dir, '--', process.execPath, script, `${out}.again`])
    assert.equal(again.status, 1)
    assert.match(again.stderr, /the owner revoked this device/)
    assert.equal(existsSync(`${out}.again`), false)
  })
})

describe('cli: fleet exec stops the workload when the boot state changes (swtpm)', function () {
  this.timeout(120_000)
  let fleet: SimFleet
  let dev: SimDevice
  let agent: Agent
  let served: Served
  let work: string
  let script: string

  before(async function () {
    if (!haveSwtpm()) this.skip()
    fleet = await SimFleet.create()
    ;[dev] = (await fleet.addEnrolled(1)) as [SimDevice]
    agent = await fleet.start(dev)
    served = await serveGate(dev, agent)
    ;({ work, script } = await workloadFolder())
  })

  after(async () => {
    await served?.close()
    await fleet?.close()
  })

  it('an agent that stops answering stops the workload (fail closed); its stop cannot be recorded and says so', async () => {
    const out = path.join(work, 'agent-gone.json')
    const running = await startGated(dev.dir, [], script, out, ['wait'])
    await served.close()
    const done = await running.done
    assert.equal(done.code, 1)
    assert.match(done.stderr, /the agent does not answer/)
    assert.match(done.stderr, /the stop could not be recorded/)
    assert.ok(existsSync(`${out}.term`), 'SIGTERM, not only SIGKILL')
    // An agent serving no gate (as one not enrolled) refuses every gate command, and exec with it.
    const gateless = await startControlServer(agent, dev.dir, dev.state.deviceId, {})
    try {
      await assert.rejects(controlRequest(dev.dir, { cmd: 'gate.check' }), { code: 'ERR_GATE_OFF' })
      const refused = await runFleetAsync(['exec', '--state', dev.dir, '--', process.execPath, script, `${out}.off`])
      assert.equal(refused.status, 1)
      assert.match(refused.stderr, /runs no workload gate/)
      assert.equal(existsSync(`${out}.off`), false)
    } finally {
      await gateless.close()
    }
    served = await serveGate(dev, agent)
  })

  it('a PCR extended while it runs stops it within the bound (SIGTERM, then SIGKILL after the grace); nothing starts after', async () => {
    // This workload ignores SIGTERM: the grace runs out and SIGKILL ends it.
    const stubborn = path.join(work, 'stubborn.js')
    await writeFile(
      stubborn,
      `require('node:fs').writeFileSync(process.argv[2], 'up'); process.on('SIGTERM', () => require('node:fs').writeFileSync(process.argv[2] + '.term', String(Date.now()))); setInterval(() => {}, 1000)`
    )
    const out = path.join(work, 'pcr.up')
    const running = await startGated(dev.dir, ['--grace', '0.5'], stubborn, out)
    await dev.tpm.extendPcr(7, { sha256: new Uint8Array(32).fill(0xab) })
    const extended = Date.now()
    const done = await running.done
    const ended = Date.now()
    const termAt = Number(await readFile(`${out}.term`, 'utf8'))
    assert.equal(done.code, 1)
    // A real extend with no event logged: the reason says the log does not account for it.
    assert.match(
      done.stderr,
      /PCR 7 changed since the keys were released \(now [^)]*\): no logged event accounts for it: extended outside the event log/
    )
    assert.ok(
      termAt - extended <= STOP_BOUND_MS,
      `SIGTERM ${termAt - extended} ms after the extend, bound ${STOP_BOUND_MS}`
    )
    assert.ok(ended - termAt >= 450, 'SIGKILL waited for the grace')
    assert.ok(ended - extended <= STOP_BOUND_MS + 500 + 1000, `ended ${ended - extended} ms after the extend`)

    // A changed boot state never starts the command.
    const again = await runFleetAsync(['exec', '--state', dev.dir, '--', process.execPath, script, `${out}.again`])
    assert.equal(again.status, 1)
    assert.match(again.stderr, /PCR 7 changed since the keys were released [^\n]*: extended outside the event log/)
    assert.equal(existsSync(`${out}.again`), false)
  })
})
