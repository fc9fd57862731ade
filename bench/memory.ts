/**
 * memory: the resident set of one agent as an operator runs it (`fleet run`, its own process, its
 * own swtpm, the default configuration), read from /proc/PID/status: idle on its own, then idle
 * again once FLEET_MEMORY_PEERS other agents (default 11: a fleet of 12) are connected and attested by it.
 * Per-peer memory is the difference of own (anonymous) memory over the number of peers.
 *
 * Measured in the same run, with the agent's Node flags and malloc settings (read from its
 * /proc/PID/cmdline and environ): a bare Node process, and a plain libp2p node with the agent's
 * transport stack and none of the fleet's protocols, bundled as the fleet command is, alone and
 * with as many plain peers connected (the plain node's Noise has the
 * agent's crypto, as the bundle gives it). "Idle" is after SETTLE_MS without new work, as the
 * median of SAMPLES readings.
 * Goal: ≤80 MB idle.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { multiaddr } from '@multiformats/multiaddr'
import { SimFleet, SEALING } from '../simnet/index.js'
import { processUsage, type Usage } from '../simnet/proc-usage.js'
import { FLEET_CLI } from '../simnet/process-fleet.js'
import {
  AGENT_BUFFER_POOL_BYTES,
  CONFIG_DEFAULTS,
  controlRequest,
  procStatusMemory,
  type PeerStatus
} from '../src/agent/index.js'
import { plainNode } from './memory-plain.js'
import { Shard, until } from './scale.js'
import { type Bench, nowMs, round } from './types.js'

const PEERS = Number(process.env.FLEET_MEMORY_PEERS ?? 11)
/**
 * FLEET_MEMORY_LOAD_SEC > 0: instead of idling with its peers, the agent is re-attested by each of
 * them every LOAD_ATTEST_MS for that many seconds (at most 4 hours), its memory read every
 * LOAD_SAMPLE_MS. One line, `rss-under-load`, replaces `idle-rss-with-peers` and `per-peer`; a
 * second, `soak-own-memory-slope`, is the least-squares slope of its own (anonymous) memory per
 * hour after the first WARMUP_FRACTION of the run, with its 95 % interval, beside its PSS, open
 * file descriptors and CPU over the run (a soak: run it for an hour or more).
 */
const LOAD_SEC = Number(process.env.FLEET_MEMORY_LOAD_SEC ?? 0)
const LOAD_ATTEST_MS = 5_000
const LOAD_SAMPLE_MS = 30_000
/** The share of a load run left out of the slope: the agent's caches and pools fill up first. */
const WARMUP_FRACTION = 0.25
const SETTLE_MS = 10_000
const SAMPLES = 5
const SAMPLE_EVERY_MS = 1_000
const GOAL_MB = 80
const ROOT = path.resolve(import.meta.dirname, '../..')
const execFileAsync = promisify(execFile)
const CONNECT_DEADLINE_MS = 60_000

interface Resident {
  rss: number
  anon: number
  file: number
}

/** VmRSS, RssAnon and RssFile of a process, in bytes. */
async function resident(pid: number): Promise<Resident> {
  const { rss, anon, file } = procStatusMemory(await readFile(`/proc/${pid}/status`, 'utf8'))
  if (rss === undefined || anon === undefined || file === undefined)
    throw new Error(`/proc/${pid}/status lacks VmRSS, RssAnon or RssFile`)
  return { rss, anon, file }
}

/** CPU seconds and minor faults a second between two readings `seconds` apart. */
const usageBetween = (before: Usage, after: Usage, seconds: number): { cpuSec: number; minorFaultsPerSec: number } => ({
  cpuSec: round(after.cpuSec - before.cpuSec, 2),
  minorFaultsPerSec: round((after.minorFaults - before.minorFaults) / seconds, 0)
})

/** A process over an idle window: its median memory, CPU seconds and minor faults a second. */
type Idle = Resident & { cpuSec: number; minorFaultsPerSec: number }

/**
 * After SETTLE_MS, the median of SAMPLES readings of each process, taken together; and each
 * process's CPU time and minor faults over the whole window.
 */
async function idle(pids: number[]): Promise<Idle[]> {
  const started = nowMs()
  const before = await Promise.all(pids.map(async (pid) => await processUsage(pid)))
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS))
  const readings: Resident[][] = pids.map(() => [])
  for (let i = 0; i < SAMPLES; i++) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, SAMPLE_EVERY_MS))
    const now = await Promise.all(pids.map(async (pid) => await resident(pid)))
    for (const [k, r] of now.entries()) readings[k]!.push(r)
  }
  const after = await Promise.all(pids.map(async (pid) => await processUsage(pid)))
  const seconds = (nowMs() - started) / 1000
  const median = (values: number[]): number => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!
  return readings.map((r, k) => ({
    rss: median(r.map((x) => x.rss)),
    anon: median(r.map((x) => x.anon)),
    file: median(r.map((x) => x.file)),
    ...usageBetween(before[k]!, after[k]!, seconds)
  }))
}

/** The Node flags and malloc settings the agent process runs with. */
async function agentRuntimeSettings(pid: number): Promise<{ flags: string[]; env: Record<string, string> }> {
  const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter((a) => a !== '')
  // node [flags…] script args…
  const script = argv.findIndex((a, i) => i > 0 && !a.startsWith('--'))
  const environ = (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0')
  const env = Object.fromEntries(
    environ
      .filter((e) => e.startsWith('MALLOC_') || e.startsWith('GLIBC_TUNABLES='))
      .map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)])
  )
  return { flags: argv.slice(1, script), env }
}

/** A child process whose first line on stdout is JSON. */
async function spawnWithStatus(
  name: string,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv
): Promise<{ child: ChildProcess; status: Record<string, unknown> }> {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (c: Buffer) => {
    stdout += c.toString()
  })
  child.stderr!.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4096)
  })
  const started = nowMs()
  while (!stdout.includes('\n')) {
    if (child.exitCode !== null || nowMs() - started > 30_000) {
      child.kill('SIGKILL')
      throw new Error(
        `${name} did not start (exit ${String(child.exitCode)}): ${stderr.trim().split('\n').pop() ?? ''}`
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  return { child, status: JSON.parse(stdout.slice(0, stdout.indexOf('\n'))) as Record<string, unknown> }
}

async function stopChild(child: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill(signal)
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
  await exited
  clearTimeout(timer)
}

const mb = (bytes: number): number => round(bytes / 1e6, 1)

/** One soak reading: when (s into the load), own memory, PSS (bytes) and open file descriptors. */
interface SoakSample {
  sec: number
  own: number
  pss: number
  fds: number
}

/** PSS (from /proc/PID/smaps_rollup) and the number of open file descriptors of a process. */
async function soakReading(pid: number): Promise<{ pss: number; fds: number }> {
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '')
  const pss = Number(/^Pss:\s+(\d+) kB$/m.exec(rollup)?.[1] ?? 0) * 1024
  const fds = (await readdir(`/proc/${pid}/fd`).catch(() => [])).length
  return { pss, fds }
}

/**
 * The least-squares slope of y over x (x in seconds) per hour, with its 95 % interval (the
 * normal approximation, fine for the tens of samples a soak takes; NaN with fewer than 3).
 */
export function slopePerHour(points: Array<[number, number]>): { slope: number; low: number; high: number } {
  const n = points.length
  if (n < 3) return { slope: Number.NaN, low: Number.NaN, high: Number.NaN }
  const mx = points.reduce((a, [x]) => a + x, 0) / n
  const my = points.reduce((a, [, y]) => a + y, 0) / n
  const sxx = points.reduce((a, [x]) => a + (x - mx) ** 2, 0)
  const sxy = points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0)
  const slope = sxy / sxx
  const residual = points.reduce((a, [x, y]) => a + (y - my - slope * (x - mx)) ** 2, 0)
  const se = Math.sqrt(residual / (n - 2) / sxx)
  return { slope: slope * 3600, low: (slope - 1.96 * se) * 3600, high: (slope + 1.96 * se) * 3600 }
}

export const memoryBench: Bench = {
  name: 'memory',
  description: [
    `resident memory of one agent (fleet run) idle alone and with ${PEERS} attested peers`,
    '(or re-attested by them for FLEET_MEMORY_LOAD_SEC), against a bare Node process and a plain libp2p node'
  ].join(' '),
  async run(report) {
    if (process.platform !== 'linux') throw new Error('the memory bench reads /proc: Linux only')
    if (!Number.isInteger(PEERS) || PEERS < 1 || PEERS > 64) throw new Error('FLEET_MEMORY_PEERS must be 1..64')
    if (!Number.isInteger(LOAD_SEC) || LOAD_SEC < 0 || LOAD_SEC > 14_400)
      throw new Error('FLEET_MEMORY_LOAD_SEC must be 0..14400')
    const scratch = await mkdtemp(path.join(os.tmpdir(), 'fleet-bench-memory-'))
    const fleet = await SimFleet.create()
    const shard = new Shard()
    const children: ChildProcess[] = []
    // If this process dies without reaching `finally` (stdout closed under it: EPIPE), the agent
    // and the plain node must not outlive it.
    const killChildren = (): void => {
      for (const c of children) c.kill('SIGKILL')
    }
    process.once('exit', killChildren)
    const dialers: Array<Awaited<ReturnType<typeof plainNode>>> = []
    try {
      const devices = await fleet.addEnrolled(PEERS + 1)
      process.stderr.write(`bench: memory: ${devices.length} devices enrolled\n`)
      for (const device of devices) await device.tpm.close()
      const [subject, ...peers] = devices as [(typeof devices)[0], ...typeof devices]
      const agent = await spawnWithStatus(
        'fleet run',
        FLEET_CLI,
        [
          'run',
          '--state',
          subject.dir,
          '--eventlog',
          path.join(subject.dir, 'binary_bios_measurements'),
          '--listen',
          '/ip4/127.0.0.1/tcp/0',
          '--json'
        ],
        { ...process.env, FLEET_MDNS: '0', FLEET_LOG_LEVEL: 'warn' }
      )
      children.push(agent.child)
      const settings = await agentRuntimeSettings(agent.child.pid!)
      const env = { ...process.env, ...settings.env }
      // The plain node is bundled as the fleet command is (scripts/bundle.mjs).
      const plainBundle = path.join(scratch, 'memory-plain.mjs')
      await execFileAsync(
        process.execPath,
        [path.join(ROOT, 'scripts/bundle.mjs'), path.join(import.meta.dirname, 'memory-plain.js'), plainBundle],
        { cwd: ROOT }
      )
      const plain = await spawnWithStatus(
        'the plain libp2p node',
        process.execPath,
        [...settings.flags, plainBundle, String(AGENT_BUFFER_POOL_BYTES)],
        env
      )
      children.push(plain.child)
      const bare = spawn(process.execPath, [...settings.flags, '-e', 'setInterval(() => {}, 60_000)'], {
        stdio: 'ignore',
        env
      })
      children.push(bare)
      process.stderr.write(
        `bench: memory: agent started (node ${settings.flags.join(' ')}${
          Object.keys(settings.env).length > 0
            ? `; ${Object.entries(settings.env)
                .map(([k, v]) => `${k}=${v}`)
                .join(' ')}`
            : ''
        }); idle alone\n`
      )
      const [agentAlone, plainAlone, bareNode] = (await idle([agent.child.pid!, plain.child.pid!, bare.pid!])) as [
        Idle,
        Idle,
        Idle
      ]
      const pids = [agent.child.pid!, plain.child.pid!]

      await shard.ask({
        op: 'prepare',
        devices: peers.map((d) => ({ dir: d.dir, tcti: d.swtpm.tcti })),
        sealing: SEALING
      })
      await shard.ask({
        op: 'start',
        options: {
          batchMs: CONFIG_DEFAULTS.batchMs,
          routineBatchMs: CONFIG_DEFAULTS.routineBatchSec * 1000,
          ...(LOAD_SEC > 0 ? { attestIntervalMs: LOAD_ATTEST_MS } : {})
        }
      })
      const withPeerId = (address: string, peerId: unknown): string =>
        address.includes('/p2p/') ? address : `${address}/p2p/${String(peerId)}`
      const address = withPeerId((agent.status.addresses as string[])[0]!, agent.status.peerId)
      await Promise.all(peers.map(async (_, i) => await shard.ask({ op: 'dial', agent: i, address })))
      const plainAddress = multiaddr(withPeerId(String(plain.status.address), plain.status.peerId))
      for (let i = 0; i < PEERS; i++) {
        const dialer = await plainNode()
        dialers.push(dialer)
        await dialer.dial(plainAddress)
      }
      const deadline = nowMs() + CONNECT_DEADLINE_MS
      const status = async (): Promise<{ peers: PeerStatus[]; connections: number }> =>
        (await controlRequest(subject.dir, { cmd: 'status' }, 10_000)).status as {
          peers: PeerStatus[]
          connections: number
        }
      const attested = await until(
        async () => {
          const s = await status()
          return s.connections >= PEERS && s.peers.filter((p) => p.trusted && p.attestations > 0).length >= PEERS
        },
        deadline,
        200
      )
      if (!attested)
        throw new Error(`the agent did not attest its ${PEERS} peers within ${CONNECT_DEADLINE_MS / 1000} s`)
      if (!dialers.every((d) => d.getConnections().length > 0))
        throw new Error('a plain libp2p peer lost its connection')
      const idleAlone = {
        bench: 'memory',
        metric: 'idle-rss',
        value: mb(agentAlone.rss),
        unit: 'MB',
        peer: 'goal',
        peerValue: GOAL_MB,
        ratio: round(GOAL_MB / (agentAlone.rss / 1e6), 2),
        peers: 0,
        ownMB: mb(agentAlone.anon),
        fileMB: mb(agentAlone.file),
        cpuSec: agentAlone.cpuSec,
        minorFaultsPerSec: agentAlone.minorFaultsPerSec,
        bareNodeMB: mb(bareNode.rss),
        bareNodeOwnMB: mb(bareNode.anon),
        plainLibp2pMB: mb(plainAlone.rss),
        plainLibp2pOwnMB: mb(plainAlone.anon)
      }
      const attestations = (s: { peers: PeerStatus[] }): number => s.peers.reduce((n, p) => n + p.attestations, 0)
      if (LOAD_SEC > 0) {
        process.stderr.write(
          `bench: memory: ${PEERS} peers attested; each re-attests the agent every ${LOAD_ATTEST_MS / 1000} s for ${LOAD_SEC} s\n`
        )
        const pid = agent.child.pid!
        const [startUsage, startStatus] = [await processUsage(pid), await status()]
        const started = nowMs()
        const samples: Resident[] = []
        const soak: SoakSample[] = []
        for (let i = 1; i <= Math.ceil((LOAD_SEC * 1000) / LOAD_SAMPLE_MS); i++) {
          const at = started + Math.min(i * LOAD_SAMPLE_MS, LOAD_SEC * 1000)
          await new Promise((resolve) => setTimeout(resolve, Math.max(0, at - nowMs())))
          const now = await resident(pid)
          samples.push(now)
          const more = await soakReading(pid)
          soak.push({ sec: (nowMs() - started) / 1000, own: now.anon, ...more })
          process.stderr.write(
            `bench: memory: ${Math.round((nowMs() - started) / 1000)} s: ${mb(now.rss)} MB (own ${mb(now.anon)}, files ${mb(now.file)}, PSS ${mb(more.pss)}, ${more.fds} fds)\n`
          )
        }
        const [endUsage, endStatus] = [await processUsage(pid), await status()]
        if (endStatus.connections < PEERS)
          throw new Error(`the agent lost peers under load: ${endStatus.connections} connections`)
        const seconds = (nowMs() - started) / 1000
        const max = (pick: (r: Resident) => number): number => Math.max(...samples.map(pick))
        report(idleAlone)
        report({
          bench: 'memory',
          metric: 'rss-under-load',
          value: mb(max((r) => r.rss)),
          unit: 'MB',
          peer: 'goal (idle)',
          peerValue: GOAL_MB,
          ratio: round(GOAL_MB / (max((r) => r.rss) / 1e6), 2),
          peers: PEERS,
          seconds: Math.round(seconds),
          samples: samples.length,
          minMB: mb(Math.min(...samples.map((r) => r.rss))),
          ownMaxMB: mb(max((r) => r.anon)),
          fileMaxMB: mb(max((r) => r.file)),
          attestations: attestations(endStatus) - attestations(startStatus),
          ...usageBetween(startUsage, endUsage, seconds)
        })
        const kept = soak.filter((r) => r.sec >= LOAD_SEC * WARMUP_FRACTION)
        const fit = slopePerHour(kept.map((r) => [r.sec, r.own / 1e6]))
        const cpuPerHour = ((endUsage.cpuSec - startUsage.cpuSec) / seconds) * 3600
        report({
          bench: 'memory',
          metric: 'soak-own-memory-slope',
          value: round(fit.slope, 2),
          unit: 'MB of own memory per hour, after warm-up',
          peer: 'goal (flat)',
          peerValue: 0,
          ratio: fit.low <= 0 && fit.high >= 0 ? 1 : 0,
          ci95: [round(fit.low, 2), round(fit.high, 2)],
          warmupSec: Math.round(LOAD_SEC * WARMUP_FRACTION),
          seconds: Math.round(seconds),
          samples: kept.length,
          ownMB: [mb(kept[0]?.own ?? 0), mb(kept.at(-1)?.own ?? 0)],
          pssMB: [mb(kept[0]?.pss ?? 0), mb(kept.at(-1)?.pss ?? 0)],
          fds: [kept[0]?.fds ?? 0, kept.at(-1)?.fds ?? 0],
          fdsMax: Math.max(...soak.map((r) => r.fds)),
          cpuSecPerHour: round(cpuPerHour, 1),
          ownMBEvery5Min: soak.filter((_, i) => i % 10 === 9).map((r) => mb(r.own))
        })
        return
      }
      process.stderr.write(`bench: memory: ${PEERS} peers attested; idle with peers\n`)
      const [agentPeers, plainPeers] = (await idle(pids)) as [Idle, Idle]
      const after = await status()
      if (after.connections < PEERS)
        throw new Error(`the agent lost peers while idle: ${after.connections} connections`)

      report(idleAlone)
      report({
        bench: 'memory',
        metric: 'idle-rss-with-peers',
        value: mb(agentPeers.rss),
        unit: 'MB',
        peer: 'goal',
        peerValue: GOAL_MB,
        ratio: round(GOAL_MB / (agentPeers.rss / 1e6), 2),
        peers: PEERS,
        ownMB: mb(agentPeers.anon),
        fileMB: mb(agentPeers.file),
        cpuSec: agentPeers.cpuSec,
        minorFaultsPerSec: agentPeers.minorFaultsPerSec,
        plainLibp2pMB: mb(plainPeers.rss)
      })
      // Per peer: own (anonymous) memory. Pages mapped from files are shared, so their difference
      // between two readings says little about a peer.
      const perPeer = (agentPeers.anon - agentAlone.anon) / PEERS
      const plainPerPeer = (plainPeers.anon - plainAlone.anon) / PEERS
      report({
        bench: 'memory',
        metric: 'per-peer',
        value: round(perPeer / 1e6, 2),
        unit: 'MB',
        peer: 'plain libp2p node (TCP, Noise, Yamux, identify, ping)',
        peerValue: round(plainPerPeer / 1e6, 2),
        ratio: perPeer > 0 ? round(plainPerPeer / perPeer, 2) : 0,
        peers: PEERS,
        rssPerPeerMB: round((agentPeers.rss - agentAlone.rss) / PEERS / 1e6, 2),
        plainRssPerPeerMB: round((plainPeers.rss - plainAlone.rss) / PEERS / 1e6, 2)
      })
    } finally {
      process.off('exit', killChildren)
      await Promise.all(
        dialers.map(async (d) => {
          await Promise.resolve(d.stop()).catch(() => undefined)
        })
      )
      await Promise.all(
        children.map(async (c) => {
          await stopChild(c)
        })
      )
      await shard.stop()
      await fleet.close()
      await rm(scratch, { recursive: true, force: true })
    }
  }
}
