/**
 * scale: N agents (default 20, FLEET_SCALE_AGENTS=50 for the goal), each with its own swtpm, in
 * one process on loopback, with the agent's default batching and anti-entropy interval. Enrolment
 * is setup and not timed; the time runs from starting the agents until the full mesh
 * (N·(N-1)/2 connections) has attested both ways and entries appended at two agents are held,
 * verified, by all. The agents start together, as a fleet does after a power cut, and the mesh is
 * dialled JOIN_CONCURRENCY connections at a time, each until both sides attested. Goal ≤60 s for
 * 50 agents. Gives up after 90 s, or 4 s per agent for a larger fleet, and reports how far it got
 * (attestedPairs, converged).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { SimFleet } from '../simnet/index.js'
import { CONFIG_DEFAULTS, type AgentRuntime } from '../src/agent/index.js'
import { type Bench, nowMs, round } from './types.js'

const AGENTS = Number(process.env.FLEET_SCALE_AGENTS ?? 20)
const DEADLINE_MS = Math.max(90_000, 4_000 * AGENTS)
/** Connections being dialled and attested at once, over the whole fleet. */
const JOIN_CONCURRENCY = 8
/** How long a dialled pair may take to attest both ways before it is dialled again. */
const PAIR_WAIT_MS = 30_000
/** The agent's own anti-entropy interval (AgentRuntimeInit.syncIntervalMs). */
const SYNC_INTERVAL_MS = 5_000

/** Waits until `condition` holds or the deadline passes; returns whether it held. */
async function until (condition: () => Promise<boolean> | boolean, deadline: number): Promise<boolean> {
  while (!await condition()) {
    if (nowMs() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return true
}

export const scaleBench: Bench = {
  name: 'scale',
  description: `${AGENTS} swtpm agents in one process: from start to a fully attested mesh and converged feeds (enrolment not timed)`,
  async run (report) {
    if (!Number.isInteger(AGENTS) || AGENTS < 2 || AGENTS > 200) throw new Error('FLEET_SCALE_AGENTS must be 2..200')
    const fleet = await SimFleet.create()
    try {
      const devices = []
      for (let i = 0; i < AGENTS; i++) {
        devices.push(...await fleet.addEnrolled(1))
        if ((i + 1) % 10 === 0) process.stderr.write(`bench: scale: ${i + 1}/${AGENTS} devices enrolled\n`)
      }
      const rssBefore = process.memoryUsage().rss
      // Every agent shares this one event loop: how late it runs shows how saturated the process is.
      const loopDelay = monitorEventLoopDelay({ resolution: 20 })
      loopDelay.enable()
      const start = nowMs()
      const agents = await Promise.all(devices.map(async (device) => await fleet.start(device, { syncIntervalMs: SYNC_INTERVAL_MS, batchMs: CONFIG_DEFAULTS.batchMs })))
      const deadline = start + DEADLINE_MS
      const attestedBoth = (a: AgentRuntime, b: AgentRuntime): boolean => a.attestation.attested(b.node.peerId.toString()) && b.attestation.attested(a.node.peerId.toString())
      // Full mesh: every pair once, the later agent dialling the earlier one.
      const pairs: Array<[AgentRuntime, AgentRuntime]> = []
      for (let j = 1; j < agents.length; j++) for (let i = 0; i < j; i++) pairs.push([agents[j]!, agents[i]!])
      await Promise.all(Array.from({ length: JOIN_CONCURRENCY }, async () => {
        for (let pair = pairs.shift(); pair !== undefined && nowMs() < deadline; pair = pairs.shift()) {
          const [a, b] = pair
          // A pair whose attestation failed (it hangs up) is dialled once more, not waited on for good.
          for (let attempt = 0; attempt < 2 && !attestedBoth(a, b); attempt++) {
            await a.node.dial(b.node.getMultiaddrs()[0]!).catch(() => undefined)
            await until(() => attestedBoth(a, b), Math.min(deadline, nowMs() + PAIR_WAIT_MS))
          }
        }
      }))
      const ids = agents.map((a) => a.node.peerId.toString())
      const attestedPairs = (): number => agents.reduce((n, a, i) => n + ids.filter((id, j) => j > i && a.attestation.attested(id) && agents[j]!.attestation.attested(ids[i]!)).length, 0)
      const meshed = await until(() => agents.every((a, i) => ids.every((id, j) => i === j || a.attestation.attested(id))), deadline)
      const meshMs = nowMs() - start
      const writers = [agents[0]!, agents[agents.length - 1]!]
      for (const writer of writers) {
        await Promise.all(Array.from({ length: 100 }, async (_, i) => await writer.feed.ledger.append({ type: 'operator.data_access', actor: { id: 'bench', role: 'operator' }, attest: null, body: { resource: `r-${i}`, purpose: 'scale' } })))
        await writer.feed.ledger.checkpoint()
      }
      const feeds = writers.map((w) => w.feed.ledger.feedId)
      const converged = meshed && await until(async () => {
        for (const agent of agents) {
          const heads = await agent.heads()
          for (const [k, feed] of feeds.entries()) if ((heads.get(feed) ?? 0) < writers[k]!.feed.ledger.sealedSize) return false
        }
        return true
      }, deadline)
      const seconds = (nowMs() - start) / 1000
      const rss = process.memoryUsage().rss
      loopDelay.disable()
      report({
        bench: 'scale', value: round(seconds, 2), unit: converged ? 's' : 's (gave up: not converged)', peer: 'goal', peerValue: 60, ratio: converged ? round(60 / seconds, 2) : 0, agents: AGENTS,
        meshSeconds: round(meshMs / 1000, 2), connections: AGENTS * (AGENTS - 1) / 2, attestedPairs: attestedPairs(), converged, loopDelayP99Ms: round(loopDelay.percentile(99) / 1e6, 0), loopDelayMaxMs: round(loopDelay.max / 1e6, 0), processRssMiB: round(rss / 1048576, 0), perAgentRssMiB: round((rss - rssBefore) / AGENTS / 1048576, 1)
      })
    } finally {
      await fleet.close()
    }
  }
}
