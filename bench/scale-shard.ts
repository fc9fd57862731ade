/**
 * One shard of the scale bench: a child process (forked by bench/scale.ts) that runs some of the
 * fleet's agents, each on its own software TPM, and answers the bench's requests over IPC. The
 * devices were enrolled by the bench's SimFleet; a shard opens each device's swtpm again and
 * releases its keys the way `fleet run` does (verified boot, self-measurement).
 */
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { multiaddr } from '@multiformats/multiaddr'
import { EsysTpm, nativeHasher } from '../src/attest/index.js'
import {
  createAgent,
  type Agent,
  agentMeasurement,
  readDeviceEnrolment,
  readDeviceState,
  unlockDevice,
  type AgentInit
} from '../src/agent/index.js'
import { AGENT_BUFFER_POOL_BYTES } from '../src/agent/index.js'

/** What the bench asks of a shard. Agents are named by their index in the shard. */
export type ShardRequest =
  | { op: 'prepare'; devices: Array<{ dir: string; tcti: string }>; sealing: { bootPcrs: number[]; agentPcr: number } }
  | { op: 'start'; options: Pick<AgentInit, 'syncIntervalMs' | 'batchMs' | 'routineBatchMs' | 'attestIntervalMs'> }
  | { op: 'dial'; agent: number; address: string }
  | { op: 'attested' }
  | { op: 'append'; agent: number; count: number }
  | { op: 'heads'; feeds: string[] }
  | { op: 'stats' }
  | { op: 'stop' }

export interface ShardAgent {
  peerId: string
  address: string
}
/** For each agent of the shard, the peer ids it has attested on an open connection. */
export type ShardAttested = string[][]

// As `fleet run` sets it.
Buffer.poolSize = AGENT_BUFFER_POOL_BYTES
const loopDelay = monitorEventLoopDelay({ resolution: 20 })
const prepared: Array<{ dir: string; tpm: EsysTpm; init: Omit<AgentInit, 'listen' | 'mdns'> }> = []
const agents: Agent[] = []

async function handle(request: ShardRequest): Promise<unknown> {
  switch (request.op) {
    case 'prepare': {
      const measurement = await agentMeasurement(request.sealing)
      for (const { dir, tcti } of request.devices) {
        const tpm = await EsysTpm.open({ tcti })
        const state = await readDeviceState(dir)
        const device = await unlockDevice(tpm, state, measurement)
        const enrolment = await readDeviceEnrolment(dir, state.deviceId)
        if (enrolment === undefined) throw new Error(`${dir} is not enrolled`)
        const log = new Uint8Array(await readFile(path.join(dir, 'binary_bios_measurements')))
        prepared.push({ dir, tpm, init: { dir, state, device, enrolment, eventLog: async () => log } })
      }
      return prepared.length
    }
    case 'start': {
      loopDelay.enable()
      agents.push(
        ...(await Promise.all(
          prepared.map(async ({ tpm, init }) => {
            const agent = await createAgent(
              { tpm, hasher: nativeHasher() },
              { ...init, ...request.options, listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false }
            )
            await agent.start()
            return agent
          })
        ))
      )
      return agents.map(
        (a): ShardAgent => ({ peerId: a.node.peerId.toString(), address: a.node.getMultiaddrs()[0]!.toString() })
      )
    }
    case 'dial':
      await agents[request.agent]!.node.dial(multiaddr(request.address)).catch(() => undefined)
      return null
    case 'attested':
      return agents.map((a): string[] =>
        a.attestation
          .list()
          .filter((p) => a.attestation.attested(p.peerId))
          .map((p) => p.peerId)
      )
    case 'append': {
      const writer = agents[request.agent]!
      await Promise.all(
        Array.from(
          { length: request.count },
          async (_, i) =>
            await writer.feed.ledger.append({
              type: 'alert.tamper',
              actor: { id: 'bench', role: 'agent' },
              attest: null,
              body: { subject: writer.feed.ledger.feedId, pcr: 7, detail: `r-${i}` }
            })
        )
      )
      await writer.feed.ledger.checkpoint()
      return { feed: writer.feed.ledger.feedId, size: writer.feed.ledger.sealedSize }
    }
    case 'heads':
      // For each agent, the size it holds of each feed asked about.
      return await Promise.all(
        agents.map(async (a) => {
          const heads = await a.heads()
          return request.feeds.map((feed) => heads.get(feed) ?? 0)
        })
      )
    case 'stats':
      return {
        rss: process.memoryUsage().rss,
        loopDelayP99Ms: loopDelay.percentile(99) / 1e6,
        loopDelayMaxMs: loopDelay.max / 1e6
      }
    case 'stop':
      for (const agent of agents) await agent.stop().catch(() => undefined)
      for (const { tpm } of prepared) await tpm.close().catch(() => undefined)
      setImmediate(() => process.exit(0))
      return null
  }
}

process.on('message', (message: { id: number; request: ShardRequest }) => {
  handle(message.request).then(
    (result) => process.send?.({ id: message.id, result }),
    (err: unknown) => process.send?.({ id: message.id, error: (err as Error).message })
  )
})
process.on('disconnect', () => process.exit(0))
