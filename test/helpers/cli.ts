/** Runs the `fleet` CLI as a user does: bin/fleet in its own process. */
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { printed } from '../../simnet/printed.js'

export const FLEET = path.resolve('bin/fleet')

export interface FleetResult {
  status: number
  stdout: string
  stderr: string
}

export function runFleet(args: string[]): FleetResult {
  const result = spawnSync(FLEET, args, { encoding: 'utf8', timeout: 60_000 })
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr }
}

/**
 * runFleet without blocking this process: for a CLI that talks to a server running in the test
 * itself (spawnSync would stop that server answering). Resolves once it exited, with its pid.
 */
export async function runFleetAsync(
  args: string[],
  as?: RunAs
): Promise<{ status: number | null; stdout: string; stderr: string; pid: number }> {
  const { child, done } = spawnFleet(args, as)
  const { code, stdout, stderr } = await done
  return { status: code, stdout, stderr, pid: child.pid! }
}

/** A device's `fleet join` whose enrolment window is open at `address`; `done` settles when it exits. */
export interface JoinWindow {
  child: ChildProcess
  address: string
  done: Promise<{ code: number | null; stdout: string; stderr: string }>
}

/** A `fleet` process of a test, its output gathered as it comes. */
export interface SpawnedFleet {
  child: ChildProcess
  /** Settles when it exits, with all it printed. */
  done: Promise<{ code: number | null; stdout: string; stderr: string }>
  /** What it printed so far. */
  stdout: () => string
  stderr: () => string
}

/** Another user to run `fleet` as (the test runs as root). */
export interface RunAs {
  uid: number
  gid: number
}

/** Starts `fleet ARGS` without waiting for it (stdin closed, stdout and stderr gathered), as `as` when given. */
export function spawnFleet(args: string[], as?: RunAs): SpawnedFleet {
  const child = spawn(FLEET, args, { stdio: ['ignore', 'pipe', 'pipe'], ...as })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString()
  })
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('exit', (code) => resolve({ code, stdout, stderr }))
  )
  return { child, done, stdout: () => stdout, stderr: () => stderr }
}

/**
 * Starts `fleet join --state STATE --eventlog LOG` on 127.0.0.1 for 60 s, with `extra` options;
 * resolves once its window is open. The caller kills `child` when the test ends.
 */
export async function openJoinWindow(state: string, eventLog: string, extra: string[] = []): Promise<JoinWindow> {
  const { child, done, stdout, stderr } = spawnFleet(
    [
      'join',
      '--state',
      state,
      '--eventlog',
      eventLog,
      '--listen',
      '/ip4/127.0.0.1/tcp/0',
      '--json',
      '--timeout',
      '60'
    ].concat(extra)
  )
  await printed(child, 'window-open', 30_000).catch((err: Error) => {
    child.kill('SIGKILL')
    assert.fail(`fleet join did not open its window: ${err.message} ${stderr()}`)
  })
  const open = JSON.parse(stdout().split('\n')[0]!) as { peerId: string; addresses: string[] }
  return { child, address: open.addresses.find((a) => a.includes('127.0.0.1'))!, done }
}

/**
 * Starts a software TPM in DIR/NAME (its EK certificates from the CA in DIR/ca) and boots it
 * (`fleet swtpm boot --variant VARIANT`); adds its folder to `started`, which the suite stops.
 */
export function startSwtpm(dir: string, name: string, started: string[], variant = 'good'): string {
  const at = path.join(dir, name)
  const result = runFleet(['swtpm', 'start', '--dir', at, '--ca-dir', path.join(dir, 'ca')])
  assert.equal(result.status, 0, result.stderr)
  started.push(at)
  const booted = runFleet(['swtpm', 'boot', '--dir', at, '--variant', variant])
  assert.equal(booted.status, 0, booted.stderr)
  return at
}

/**
 * The scripted ceremony: `fleet join` on the device (--yes, expecting `fleetId`), and `enrol` run
 * with the arguments of `fleet enrol` of it (--yes --expect DEVICEID), every CA in `ca` taken as
 * a software TPM's. Resolves once both have exited; the join is killed if the enrolment failed.
 */
export async function joinAndEnrol(
  init: {
    state: string
    eventLog: string
    fleetId: string
    owner: string
    policy: string
    ca: string
    deviceId: string
  },
  enrol: (args: string[]) => FleetResult
): Promise<{ enrolled: FleetResult; joined: Awaited<JoinWindow['done']> }> {
  const joining = await openJoinWindow(init.state, init.eventLog, ['--yes', '--expect-fleet', init.fleetId])
  const scripted = ['--yes', '--expect', init.deviceId, '--peer', joining.address, '--timeout', '30', '--json']
  const enrolled = enrol(
    ['enrol', '--state', init.owner, '--policy', init.policy, '--trust-store', init.ca, '--allow-software-tpm'].concat(
      scripted
    )
  )
  if (enrolled.status !== 0) joining.child.kill('SIGKILL')
  return { enrolled, joined: await joining.done }
}
