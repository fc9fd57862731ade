/**
 * scale: N agents (default 20, FLEET_SCALE_AGENTS=50 for the goal), each with its own swtpm, on
 * loopback, with the agent's default batching and anti-entropy interval. The agents run in
 * FLEET_SCALE_PROCESSES child processes (default: one per core, at most 8), as a machine's cores
 * would run a fleet's agents; each agent keeps its own node, TPM and store. Enrolment and key
 * release are setup and not timed; the time runs from starting the agents until the full mesh
 * (N·(N-1)/2 connections) has attested both ways and entries appended at two agents are held,
 * verified, by all. The agents start together, as a fleet does after a power cut, and the mesh is
 * dialled JOIN_CONCURRENCY connections at a time, each until both sides attested. Goal ≤60 s for
 * 50 agents. Gives up after 90 s, or 4 s per agent for a larger fleet, and reports how far it got
 * (attestedPairs, converged).
 */
import { fork, type ChildProcess } from 'node:child_process'
import os from 'node:os'
import path from 'node:path'
import { SimFleet, SEALING, type SimDevice } from '../simnet/index.js'
import { CONFIG_DEFAULTS } from '../src/agent/index.js'
import type { ShardAgent, ShardAttested, ShardRequest } from './scale-shard.js'
import { type Bench, nowMs, round } from './types.js'

const AGENTS = Number(process.env.FLEET_SCALE_AGENTS ?? 20)
const PROCESSES = Number(process.env.FLEET_SCALE_PROCESSES ?? Math.min(8, os.availableParallelism()))
const DEADLINE_MS = Math.max(90_000, 4_000 * AGENTS)
/** Connections being dialled and attested at once, over the whole fleet. */
const JOIN_CONCURRENCY = 16
/** How long a dialled pair may take to attest both ways before it is dialled again. */
const PAIR_WAIT_MS = 30_000
/** The agent's own anti-entropy interval (AgentInit.syncIntervalMs). */
const SYNC_INTERVAL_MS = 5_000
/** How often the bench asks the shards which peers their agents have attested. */
const POLL_MS = 100

/** Waits until `condition` holds or the deadline passes; returns whether it held. */
export async function until(
  condition: () => Promise<boolean> | boolean,
  deadline: number,
  everyMs = 50
): Promise<boolean> {
  while (!(await condition())) {
    if (nowMs() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
  return true
}

/** A shard process and its requests in flight. */
export class Shard {
  private readonly child: ChildProcess
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  private next = 0

  constructor() {
    this.child = fork(path.join(import.meta.dirname, 'scale-shard.js'), [], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc']
    })
    this.child.on('message', (m: { id: number; result?: unknown; error?: string }) => {
      const w = this.waiting.get(m.id)
      this.waiting.delete(m.id)
      if (m.error !== undefined) w?.reject(new Error(`scale shard: ${m.error}`))
      else w?.resolve(m.result)
    })
    this.child.on('exit', (code) => {
      for (const w of this.waiting.values()) w.reject(new Error(`scale shard exited (${String(code)})`))
      this.waiting.clear()
    })
  }

  async ask<T>(request: ShardRequest): Promise<T> {
    const id = this.next++
    return await new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject })
      this.child.send({ id, request })
    })
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    await Promise.race([
      this.ask({ op: 'stop' }).catch(() => undefined),
      new Promise((resolve) => setTimeout(resolve, 20_000))
    ])
    if (this.child.exitCode === null) this.child.kill('SIGKILL')
    await exited
  }
}

export const scaleBench: Bench = {
  name: 'scale',
  description: `${AGENTS} swtpm agents in ${PROCESSES} processes: from start to a fully attested mesh and converged feeds (enrolment not timed)`,
  async run(report) {
    if (!Number.isInteger(AGENTS) || AGENTS < 2 || AGENTS > 200) throw new Error('FLEET_SCALE_AGENTS must be 2..200')
    if (!Number.isInteger(PROCESSES) || PROCESSES < 1 || PROCESSES > 64)
      throw new Error('FLEET_SCALE_PROCESSES must be 1..64')
    const fleet = await SimFleet.create()
    const shards = Array.from({ length: Math.min(PROCESSES, AGENTS) }, () => new Shard())
    try {
      const devices: SimDevice[] = []
      for (let i = 0; i < AGENTS; i++) {
        devices.push(...(await fleet.addEnrolled(1)))
        if ((i + 1) % 10 === 0) process.stderr.write(`bench: scale: ${i + 1}/${AGENTS} devices enrolled\n`)
      }
      // The shards open the devices' TPMs again: this process lets go of them first.
      for (const device of devices) await device.tpm.close()
      // Agent k runs in shard k mod P, as its agent number (k div P) there.
      const shardOf = (k: number): [Shard, number] => [shards[k % shards.length]!, Math.floor(k / shards.length)]
      await Promise.all(
        shards.map(
          async (shard, s) =>
            await shard.ask({
              op: 'prepare',
              devices: devices
                .filter((_, k) => k % shards.length === s)
                .map((d) => ({ dir: d.dir, tcti: d.swtpm.tcti })),
              sealing: SEALING
            })
        )
      )
      const start = nowMs()
      const started = await Promise.all(
        shards.map(
          async (shard) =>
            await shard.ask<ShardAgent[]>({
              op: 'start',
              options: {
                syncIntervalMs: SYNC_INTERVAL_MS,
                batchMs: CONFIG_DEFAULTS.batchMs,
                routineBatchMs: CONFIG_DEFAULTS.routineBatchSec * 1000
              }
            })
        )
      )
      const agents = devices.map((_, k) => started[k % shards.length]![Math.floor(k / shards.length)]!)
      const deadline = start + DEADLINE_MS
      // What each agent has attested, as last polled.
      let attested: Array<Set<string>> = agents.map(() => new Set())
      const poll = async (): Promise<void> => {
        const answers = await Promise.all(
          shards.map(async (shard) => await shard.ask<ShardAttested>({ op: 'attested' }))
        )
        attested = agents.map((_, k) => new Set(answers[k % shards.length]![Math.floor(k / shards.length)]))
      }
      let polling = true
      const poller = (async () => {
        while (polling) {
          await poll().catch(() => undefined)
          await new Promise((resolve) => setTimeout(resolve, POLL_MS))
        }
      })()
      const attestedBoth = (a: number, b: number): boolean =>
        attested[a]!.has(agents[b]!.peerId) && attested[b]!.has(agents[a]!.peerId)
      // Full mesh: every pair once, the later agent dialling the earlier one.
      const pairs: Array<[number, number]> = []
      for (let j = 1; j < agents.length; j++) for (let i = 0; i < j; i++) pairs.push([j, i])
      await Promise.all(
        Array.from({ length: JOIN_CONCURRENCY }, async () => {
          for (let pair = pairs.shift(); pair !== undefined && nowMs() < deadline; pair = pairs.shift()) {
            const [a, b] = pair
            // A pair whose attestation failed (it hangs up) is dialled once more, not waited on for good.
            for (let attempt = 0; attempt < 2 && !attestedBoth(a, b); attempt++) {
              const [shard, local] = shardOf(a)
              await shard.ask({ op: 'dial', agent: local, address: agents[b]!.address })
              await until(() => attestedBoth(a, b), Math.min(deadline, nowMs() + PAIR_WAIT_MS))
            }
          }
        })
      )
      const attestedPairs = (): number =>
        agents.reduce((n, _, i) => n + agents.filter((__, j) => j > i && attestedBoth(i, j)).length, 0)
      const meshed = await until(
        () => agents.every((_, i) => agents.every((b, j) => i === j || attested[i]!.has(b.peerId))),
        deadline
      )
      polling = false
      await poller
      await poll()
      const meshMs = nowMs() - start
      const writers = [0, agents.length - 1].map((k) => shardOf(k))
      const written: Array<{ feed: string; size: number }> = []
      for (const [shard, local] of writers)
        written.push(await shard.ask<{ feed: string; size: number }>({ op: 'append', agent: local, count: 100 }))
      const feeds = written.map((w) => w.feed)
      const converged =
        meshed &&
        (await until(
          async () => {
            const held = await Promise.all(
              shards.map(async (shard) => await shard.ask<number[][]>({ op: 'heads', feeds }))
            )
            return held.every((sizes) => sizes.every((agent) => agent.every((size, f) => size >= written[f]!.size)))
          },
          deadline,
          100
        ))
      const seconds = (nowMs() - start) / 1000
      const stats = await Promise.all(
        shards.map(
          async (shard) =>
            await shard.ask<{ rss: number; loopDelayP99Ms: number; loopDelayMaxMs: number }>({ op: 'stats' })
        )
      )
      const rss = stats.reduce((n, s) => n + s.rss, 0)
      report({
        bench: 'scale',
        value: round(seconds, 2),
        unit: converged ? 's' : 's (gave up: not converged)',
        peer: 'goal',
        peerValue: 60,
        ratio: converged ? round(60 / seconds, 2) : 0,
        agents: AGENTS,
        processes: shards.length,
        meshSeconds: round(meshMs / 1000, 2),
        connections: (AGENTS * (AGENTS - 1)) / 2,
        attestedPairs: attestedPairs(),
        converged,
        loopDelayP99Ms: round(Math.max(...stats.map((s) => s.loopDelayP99Ms)), 0),
        loopDelayMaxMs: round(Math.max(...stats.map((s) => s.loopDelayMaxMs)), 0),
        processRssMiB: round(rss / 1048576, 0),
        perAgentRssMiB: round(rss / AGENTS / 1048576, 1)
      })
    } finally {
      await Promise.all(
        shards.map(async (shard) => {
          await shard.stop()
        })
      )
      await fleet.close()
    }
  }
}
