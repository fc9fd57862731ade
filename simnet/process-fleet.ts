/**
 * simnet's process mode: every agent is its own `fleet run` process with its own state directory
 * and software TPM (swtpm, started and booted with the fleet CLI); the owner's ceremony runs as
 * `fleet join` + `fleet enrol` processes. Scenarios read outcomes from the agents themselves
 * (their control sockets, their stores through the CLI), never from this harness's memory.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { createServer, type AddressInfo } from 'node:net'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import { controlRequest, type PeerStatus, type ResidentMemory } from '../src/agent/index.js'
import { SwtpmDevice } from '../src/attest/index.js'
import { NetnsLan } from './netns.js'
import { NetnsSites, type Place } from './netns-sites.js'
import { printed } from './printed.js'

const exec = promisify(execFile)
/** The file fillDisk writes in a state directory. */
const FILLER = 'simnet-disk-filler'
export const FLEET_CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/fleet')
const HOSTILE_AGENT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), 'hostile-agent.js')

export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

export async function fleetCli(args: string[], options: { timeoutMs?: number } = {}): Promise<CliResult> {
  return await runCli(FLEET_CLI, args, options)
}

async function runCli(command: string, args: string[], options: { timeoutMs?: number }): Promise<CliResult> {
  try {
    const { stdout, stderr } = await exec(command, args, {
      timeout: options.timeoutMs ?? 120_000,
      maxBuffer: 64 * 1024 * 1024
    })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string }
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) }
  }
}

async function mustCli(args: string[]): Promise<string> {
  const result = await fleetCli(args)
  if (result.code !== 0)
    throw new Error(`fleet ${args.slice(0, 2).join(' ')} failed (${result.code}): ${result.stderr.trim()}`)
  return result.stdout
}

export interface AgentStatus {
  deviceId: string
  peerId: string
  fleetId: string
  addresses: string[]
  feed: { size: number; sealed: number }
  heads: Record<string, number>
  members: Array<{ deviceId: string; revoked: boolean; quarantined: boolean; evidence?: string }>
  peers: PeerStatus[]
  connections: number
  memory: ResidentMemory
}

export interface ProcDevice {
  name: string
  tpmDir: string
  state: string
  deviceId: string
  tcti: string
  agent?: ChildProcess
  /** netns mode: the device's namespace and address. */
  netns?: { ns: string; address: string }
  /** The sites topology: where the device is (a site, or the WAN for a hub); default site index % sites. */
  place?: Place
  /** The role it asks for at its enrolment (default server). */
  role?: 'workstation' | 'server' | 'hub'
  /** The last 16 KiB the agent wrote to stderr. */
  stderr?: () => string
  address?: string
  peerId?: string
}

/**
 * Where everything a device's agent processes printed is kept, one after another across restarts
 * (stdout's status line at each start, stderr's log lines), as a service manager's journal would.
 */
export function agentLogFile(device: ProcDevice): string {
  return `${device.state}.log`
}

/** The file whose number of milliseconds each sync of the device's agent waits (beside its state, off its small disk). */
function slowSyncFile(device: ProcDevice): string {
  return `${device.state}.slow-sync`
}

/** The file whose number of seconds the device's agent's wall clock is off by. */
function clockOffsetFile(device: ProcDevice): string {
  return `${device.state}.clock-offset`
}

export class ProcessFleet {
  readonly root: string
  readonly caDir: string
  readonly ownerDir: string
  readonly policy: string
  fleetId = ''
  readonly devices: ProcDevice[] = []
  private added = 0
  private readonly tpms: string[] = []
  /** State directories on a tmpfs of their own (addDevice with diskBytes), unmounted by close(). */
  private readonly mounts: string[] = []

  private constructor(root: string) {
    this.root = root
    this.caDir = path.join(root, 'ca')
    this.ownerDir = path.join(root, 'owner')
    this.policy = path.join(root, 'policy.json')
  }

  /** netns mode: the agents' namespaces and bridge, or the sites behind NAT (undefined on loopback). */
  lan: NetnsLan | NetnsSites | undefined
  /** netns mode: the owner's machine, a namespace of its own on the bridge (sites: one where each device is). */
  private readonly ownerHosts = new Map<string, Promise<{ ns: string; address: string }>>()
  /** Hosts made for other programs (runOnNewHost). */
  private extraHosts = 0

  /**
   * Runs one of the owner's commands (`fleet enrol`, `revoke`, `clear-quarantine`, …) on the
   * owner's machine: in netns mode, its own namespace on the bridge, so it reaches the agents only
   * over the simulated LAN, as an owner's laptop would.
   */
  async ownerCli(args: string[], options: { timeoutMs?: number; place?: Place } = {}): Promise<CliResult> {
    const lan = this.lan
    if (lan === undefined) return await fleetCli(args, options)
    // Sites: the owner's laptop goes where the device is (its site, or the WAN); a statement
    // goes out from the first site, and reaches the rest through the hubs.
    const place = options.place ?? { site: 0 }
    const key = lan instanceof NetnsSites ? (place === 'wan' ? 'wan' : `site${place.site}`) : 'lan'
    let host = this.ownerHosts.get(key)
    if (host === undefined) {
      host =
        lan instanceof NetnsSites ? lan.addHost(place === 'wan' ? 150 : 250, place) : lan.addHost(NetnsLan.OWNER_HOST)
      this.ownerHosts.set(key, host)
    }
    const [command, argv] = this.inHost(await host, FLEET_CLI, args)
    return await runCli(command, argv, options)
  }

  /** A command as run on `host`: inside its namespace in netns mode, as it is on loopback. */
  private inHost(host: { ns: string } | undefined, command: string, argv: string[]): [string, string[]] {
    return host === undefined || this.lan === undefined ? [command, argv] : this.lan.wrap(host.ns, command, argv)
  }

  /** netns mode: the device's namespace and address on the bridge, made at first use; loopback: undefined. */
  private async hostOf(device: ProcDevice): Promise<{ ns: string; address: string } | undefined> {
    if (this.lan !== undefined && device.netns === undefined)
      device.netns =
        this.lan instanceof NetnsSites
          ? await this.lan.addHost(this.devices.indexOf(device), this.placeOf(device))
          : await this.lan.addHost(this.devices.indexOf(device))
    return device.netns
  }

  /** The sites topology: where a device is (its own place, else site index % sites). */
  placeOf(device: ProcDevice): Place {
    const sites = this.lan instanceof NetnsSites ? this.lan.sites : 1
    return device.place ?? { site: this.devices.indexOf(device) % sites }
  }

  static async create(
    root?: string,
    options: { mode?: 'loopback' | 'netns'; topology?: 'lan' | 'sites'; sites?: number } = {}
  ): Promise<ProcessFleet> {
    const dir = root ?? (await mkdtemp(path.join(os.tmpdir(), 'fleet-simnet-')))
    await mkdir(dir, { recursive: true })
    const fleet = new ProcessFleet(dir)
    try {
      if (options.mode === 'netns')
        fleet.lan = options.topology === 'sites' ? await NetnsSites.create(options.sites) : await NetnsLan.create()
      const tpm = await fleet.startTpm('owner-tpm', 'good')
      const owner = JSON.parse(
        await mustCli([
          'owner',
          'init',
          '--state',
          fleet.ownerDir,
          '--tcti',
          `swtpm:path=${path.join(tpm, 'tpm.sock')}`,
          '--name',
          'simnet',
          '--json'
        ])
      ) as { fleetId: string }
      fleet.fleetId = owner.fleetId
      await mustCli([
        'policy',
        'create',
        '--from-eventlog',
        path.join(tpm, 'binary_bios_measurements'),
        '--out',
        fleet.policy
      ])
    } catch (err) {
      // Nothing it started outlives it: namespaces, software TPMs, the directory it made.
      await fleet.close({ keep: root !== undefined })
      throw err
    }
    return fleet
  }

  private async startTpm(name: string, variant: string): Promise<string> {
    const dir = path.join(this.root, name)
    await mustCli(['swtpm', 'start', '--dir', dir, '--ca-dir', this.caDir])
    this.tpms.push(dir)
    await mustCli(['swtpm', 'boot', '--dir', dir, '--variant', variant])
    return dir
  }

  /** A device: its software TPM, a simulated boot, and `fleet init`. */
  async addDevice(
    variant = 'good',
    options: { diskBytes?: number; place?: Place; role?: ProcDevice['role'] } = {}
  ): Promise<ProcDevice> {
    // Named when called, so that devices added together keep their order (dev1, dev2, …).
    const number = ++this.added
    const name = `dev${number}`
    const tpmDir = await this.startTpm(`${name}-tpm`, variant)
    const tcti = `swtpm:path=${path.join(tpmDir, 'tpm.sock')}`
    const state = path.join(this.root, name)
    // A state directory on a filesystem of its own, as small as asked, for a disk that fills up.
    if (options.diskBytes !== undefined) {
      await mkdir(state, { recursive: true, mode: 0o700 })
      await exec('mount', ['-t', 'tmpfs', '-o', `size=${options.diskBytes},mode=0700`, 'tmpfs', state])
      this.mounts.push(state)
    }
    const init = JSON.parse(await mustCli(['init', '--state', state, '--tcti', tcti, '--json'])) as { deviceId: string }
    const device: ProcDevice = {
      name,
      tpmDir,
      state,
      deviceId: init.deviceId,
      tcti,
      place: options.place,
      role: options.role
    }
    this.devices.push(device)
    this.devices.sort((a, b) => Number(a.name.slice(3)) - Number(b.name.slice(3)))
    return device
  }

  eventLog(device: ProcDevice): string {
    return path.join(device.tpmDir, 'binary_bios_measurements')
  }

  /** The scripted ceremony: fleet join on the device, fleet enrol by the owner. Returns the owner's result. */
  async enrol(device: ProcDevice): Promise<{ owner: CliResult; device: CliResult }> {
    const host = await this.hostOf(device)
    const listen = host === undefined ? '/ip4/127.0.0.1/tcp/0' : `/ip4/${host.address}/tcp/0`
    const [command, argv] = this.inHost(host, FLEET_CLI, [
      'join',
      '--state',
      device.state,
      '--eventlog',
      this.eventLog(device),
      '--listen',
      listen,
      '--yes',
      '--expect-fleet',
      this.fleetId,
      ...(device.role === undefined ? [] : ['--role', device.role]),
      '--timeout',
      '30',
      '--json'
    ])
    const join = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    join.stdout.on('data', (c: Buffer) => {
      stdout += c.toString()
    })
    join.stderr.on('data', (c: Buffer) => {
      stderr += c.toString()
    })
    const exited = new Promise<number>((resolve) => join.once('exit', (code) => resolve(code ?? 1)))
    await printed(join, 'window-open', 30_000).catch(() => {
      throw new Error(`fleet join did not open its window: ${stderr}`)
    })
    const open = JSON.parse(stdout.split('\n')[0]!) as { addresses: string[] }
    // Loopback: the owner is given the device's address. netns: the owner's machine finds the
    // waiting device by mDNS on the bridge, as on a real LAN.
    const peer = host === undefined ? ['--peer', open.addresses.find((a) => a.includes('127.0.0.1'))!] : []
    const owner = await this.ownerCli(
      [
        'enrol',
        '--state',
        this.ownerDir,
        '--policy',
        this.policy,
        '--trust-store',
        this.caDir,
        '--allow-software-tpm',
        ...peer,
        '--yes',
        '--expect',
        device.deviceId,
        '--timeout',
        '25',
        '--json'
      ],
      { place: this.lan instanceof NetnsSites ? this.placeOf(device) : undefined }
    )
    if (owner.code !== 0) join.kill('SIGTERM')
    const code = await exited
    return { owner, device: { code, stdout, stderr } }
  }

  /**
   * Starts `fleet run` for a device, connecting to the given agents; resolves when it is up.
   * `hostile` runs simnet's test-only hostile agent instead, with these extra arguments; `env`
   * adds to the agent's environment (configuration by FLEET_* variables).
   */
  async startAgent(
    device: ProcDevice,
    peers: ProcDevice[] = [],
    options: { hostile?: string[]; env?: Record<string, string> } = {}
  ): Promise<void> {
    // netns: the agent runs in its own namespace, listens on its bridge address, and finds its
    // peers by mDNS; loopback: 127.0.0.1, peers given by address.
    await this.hostOf(device)
    const listen = device.netns === undefined ? '/ip4/127.0.0.1/tcp/0' : `/ip4/${device.netns.address}/tcp/0`
    const args = ['--state', device.state, '--eventlog', this.eventLog(device), '--listen', listen, '--json']
    for (const peer of peers) if (peer.address !== undefined) args.push('--peer', peer.address)
    const agent =
      options.hostile === undefined
        ? { command: FLEET_CLI, argv: ['run', ...args] }
        : { command: process.execPath, argv: [HOSTILE_AGENT, ...options.hostile, ...args] }
    const [command, argv] = this.inHost(device.netns, agent.command, agent.argv)
    // A hostile agent never uses mDNS: it talks only to the agents a scenario points it at.
    const mdns = device.netns !== undefined && options.hostile === undefined
    // With faultLibrary, the agent's syncs wait and its wall clock moves as its files say (slowDisk, stepClock).
    const slow =
      this.faultLibrary === undefined
        ? {}
        : {
            LD_PRELOAD: this.faultLibrary,
            FLEET_SLOW_SYNC_FILE: slowSyncFile(device),
            FLEET_CLOCK_OFFSET_FILE: clockOffsetFile(device)
          }
    const child = spawn(command, argv, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FLEET_MDNS: mdns ? '1' : '0', FLEET_LOG_LEVEL: 'warn', ...slow, ...options.env }
    })
    let stdout = ''
    let stderr = ''
    const journal = createWriteStream(agentLogFile(device), { flags: 'a' })
    child.once('close', () => journal.end())
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString()
      journal.write(c)
    })
    child.stderr.on('data', (c: Buffer) => {
      stderr = (stderr + c.toString()).slice(-16_384)
      journal.write(c)
    })
    device.agent = child
    device.stderr = () => stderr
    await printed(child, '"peerId"', 30_000).catch(() => {
      const last = stderr.trim().split('\n').pop() ?? ''
      throw new Error(`${device.name}: fleet run did not start (exit ${String(child.exitCode)}): ${last}`)
    })
    const status = JSON.parse(stdout.trim().split('\n').pop()!) as { peerId: string; addresses: string[] }
    device.peerId = status.peerId
    const address = status.addresses.find((a) => a.includes(device.netns?.address ?? '127.0.0.1'))!
    device.address = address.includes('/p2p/') ? address : `${address}/p2p/${status.peerId}`
  }

  /**
   * Resolves once the device's agent has written `text` to stderr (at once if it already has);
   * rejects after `ms`, or when the agent exits first.
   */
  async said(device: ProcDevice, text: string, ms: number): Promise<void> {
    const agent = device.agent
    const written = device.stderr
    if (agent === undefined || written === undefined) throw new Error(`${device.name}: no agent running`)
    if (written().includes(text)) return
    // The agent's own stderr listener runs first (it was added at spawn): `written` holds the new chunk too.
    await printed(agent, () => written().includes(text), ms, 'stderr')
  }

  /** GET of a URL from the device's own machine (its namespace in netns mode), as a local client would. */
  async fetchOnHost(device: ProcDevice, url: string): Promise<string> {
    const script =
      'fetch(process.argv[1]).then(async (r) => { if (!r.ok) process.exit(1); process.stdout.write(await r.text()) }, () => process.exit(1))'
    const [command, argv] = this.inHost(device.netns, process.execPath, ['-e', script, url])
    const result = await runCli(command, argv, { timeoutMs: 10_000 })
    if (result.code !== 0) throw new Error(`GET ${url} on ${device.name}: exit ${result.code}`)
    return result.stdout
  }

  /**
   * Runs `command args…` on a host of its own at `place` (the sites topology: a site, or the WAN),
   * as another machine there would; resolves with what it printed and its exit code.
   */
  async runOnNewHost(place: Place, command: string, args: string[], timeoutMs: number): Promise<CliResult> {
    if (!(this.lan instanceof NetnsSites)) throw new Error('a host of its own needs the sites topology')
    // WAN hosts are 198.51.100.(100 + index): 140.. stays clear of the devices and of the owner's 150.
    const index = (place === 'wan' ? 140 : 200) + this.extraHosts++
    const host = await this.lan.addHost(index, place)
    const [wrapped, argv] = this.inHost(host, command, args)
    return await runCli(wrapped, argv, { timeoutMs })
  }

  /** Bytes the device's host has received and sent on its link (netns: eth0's counters), or undefined off netns. */
  async linkBytes(device: ProcDevice): Promise<{ rx: number; tx: number } | undefined> {
    if (device.netns === undefined) return undefined
    const [command, argv] = this.inHost(device.netns, 'cat', [
      '/sys/class/net/eth0/statistics/rx_bytes',
      '/sys/class/net/eth0/statistics/tx_bytes'
    ])
    const result = await runCli(command, argv, { timeoutMs: 10_000 })
    const [rx, tx] = result.stdout.trim().split('\n').map(Number)
    return result.code === 0 && Number.isFinite(rx) && Number.isFinite(tx) ? { rx: rx!, tx: tx! } : undefined
  }

  /** Whether a TCP connection from the device's host to `address` (a /ip4/…/tcp/… multiaddr) opens within 3 s. */
  async canConnect(device: ProcDevice, address: string): Promise<boolean> {
    const match = /^\/ip4\/([0-9.]+)\/tcp\/(\d+)/.exec(address)
    if (match === null) throw new Error(`not a TCP address: ${address}`)
    const script =
      "const s = require('node:net').connect(Number(process.argv[2]), process.argv[1]); s.on('connect', () => process.exit(0)); s.on('error', () => process.exit(1)); setTimeout(() => process.exit(1), 3000)"
    const [command, argv] = this.inHost(device.netns, process.execPath, ['-e', script, match[1]!, match[2]!])
    return (await runCli(command, argv, { timeoutMs: 10_000 })).code === 0
  }

  async status(device: ProcDevice): Promise<AgentStatus> {
    return (await controlRequest(device.state, { cmd: 'status' }, 10_000)).status as AgentStatus
  }

  async control(device: ProcDevice, request: Record<string, unknown>): Promise<Record<string, unknown>> {
    return await controlRequest(device.state, request)
  }

  /** Stops an agent: SIGTERM (graceful) or SIGKILL (a crash). */
  async stopAgent(device: ProcDevice, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const child = device.agent
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill(signal)
    await exited
    device.agent = undefined
    if (signal === 'SIGKILL') await this.flushTpm(device)
  }

  /**
   * Flushes every transient object and session from the device's swtpm. A process that died, or
   * exited without closing its TPM context (a stop past its deadline), leaves its objects loaded;
   * on a real machine the kernel's resource manager (/dev/tpmrm0) flushes them, swtpm has none,
   * so the harness does what it would do. Call it only with no agent running on the device.
   */
  async flushTpm(device: ProcDevice): Promise<void> {
    const env = { ...process.env, TPM2TOOLS_TCTI: device.tcti }
    await exec('tpm2_flushcontext', ['-t'], { env }).catch(() => undefined)
    await exec('tpm2_flushcontext', ['-s'], { env }).catch(() => undefined)
  }

  /**
   * kill -9 of the device's swtpm, as a TPM that dies under its agent. Its saved state (keys, NV
   * counters) stays on disk; what was volatile (PCRs, loaded objects) is gone.
   */
  async killTpm(device: ProcDevice): Promise<void> {
    const swtpm = new SwtpmDevice({ dir: device.tpmDir })
    const pid = await swtpm.pid()
    if (pid === undefined) throw new Error(`${device.name}: its swtpm is not running`)
    process.kill(pid, 'SIGKILL')
    await until(async () => (await swtpm.pid()) === undefined, 5_000, `${device.name}'s swtpm to die`)
  }

  /** Whether the device's swtpm is running. */
  async tpmRunning(device: ProcDevice): Promise<boolean> {
    return (await new SwtpmDevice({ dir: device.tpmDir }).pid()) !== undefined
  }

  /**
   * Starts the device's swtpm again and runs its simulated boot: a TPM that restarts has its PCRs
   * reset, as after a power cycle, so the device boots again before its agent can release its keys.
   */
  async restartTpm(device: ProcDevice, variant = 'good'): Promise<void> {
    await mustCli(['swtpm', 'start', '--dir', device.tpmDir, '--ca-dir', this.caDir])
    await mustCli(['swtpm', 'boot', '--dir', device.tpmDir, '--variant', variant])
  }

  /** A copy of a device's state directory, as if taken to another machine with another TPM. */
  async cloneTo(device: ProcDevice, name: string): Promise<{ state: string; tcti: string }> {
    const tpm = await this.startTpm(`${name}-tpm`, 'good')
    const state = path.join(this.root, name)
    await cp(device.state, state, { recursive: true, filter: (src) => !src.endsWith('agent.sock') })
    return { state, tcti: `swtpm:path=${path.join(tpm, 'tpm.sock')}` }
  }

  /** Fills the filesystem of a device's state directory (made with diskBytes) to the last byte. */
  async fillDisk(device: ProcDevice): Promise<void> {
    if (!this.mounts.includes(device.state)) throw new Error(`${device.name} has no disk of its own (diskBytes)`)
    // dd stops at ENOSPC, which is the point.
    await exec('dd', ['if=/dev/zero', `of=${path.join(device.state, FILLER)}`, 'bs=64k']).catch(() => undefined)
  }

  /** Gives back the space fillDisk took. */
  async freeDisk(device: ProcDevice): Promise<void> {
    await rm(path.join(device.state, FILLER), { force: true })
  }

  /**
   * The preloaded library (simnet/chaos/fault-shim.ts) agents started from now on run with, so
   * that slowDisk can slow their syncs down and stepClock move their wall clocks; undefined: none.
   */
  faultLibrary: string | undefined

  /** Every fsync and fdatasync of the device's agent waits `ms` from now (its slow-sync file; the agent runs on). */
  async slowDisk(device: ProcDevice, ms: number): Promise<void> {
    if (this.faultLibrary === undefined) throw new Error('agents run without the fault library')
    await writeFile(slowSyncFile(device), `${ms}\n`)
  }

  /** The device's agent's wall clock reads `seconds` more from now (its clock-offset file; the agent runs on). */
  async stepClock(device: ProcDevice, seconds: number): Promise<void> {
    if (this.faultLibrary === undefined) throw new Error('agents run without the fault library')
    await writeFile(clockOffsetFile(device), `${Math.round(seconds)}\n`)
  }

  /** The device's agent's wall clock is the machine's again. */
  async setClock(device: ProcDevice): Promise<void> {
    await rm(clockOffsetFile(device), { force: true })
  }

  /** The device's agent syncs at the disk's own pace again. */
  async fastDisk(device: ProcDevice): Promise<void> {
    await rm(slowSyncFile(device), { force: true })
  }

  async close(options: { keep?: boolean } = {}): Promise<void> {
    await Promise.all(this.devices.map(async (d) => await this.stopAgent(d, 'SIGTERM').catch(() => undefined)))
    for (const mount of this.mounts.splice(0)) {
      // --keep: what the small disk held is copied out to where it was mounted.
      const copy = `${mount}.kept`
      if (options.keep === true) await exec('cp', ['-a', `${mount}/.`, copy]).catch(() => undefined)
      await exec('umount', [mount]).catch(() => exec('umount', ['-l', mount]).catch(() => undefined))
      if (options.keep === true) {
        await rm(mount, { recursive: true, force: true })
        await exec('mv', [copy, mount]).catch(() => undefined)
      }
    }
    await this.lan?.close()
    for (const dir of this.tpms) await fleetCli(['swtpm', 'stop', '--dir', dir]).catch(() => undefined)
    if (options.keep !== true) await rm(this.root, { recursive: true, force: true })
  }
}

export async function until<T>(probe: () => Promise<T | undefined | false>, ms: number, what: string): Promise<T> {
  const started = Date.now()
  for (;;) {
    const value = await probe().catch(() => undefined)
    if (value !== undefined && value !== false) return value
    if (Date.now() - started > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago (for an agent's metrics). */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}
