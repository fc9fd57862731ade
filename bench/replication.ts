/**
 * replication and convergence, on agents with their own swtpm over loopback (real libp2p, Noise,
 * mutual attestation before any ledger data is served; every batch verified before it is stored).
 *
 * - replication: entries/s over one link: an agent holding N entries (256-byte bodies) and a
 *   newly connected peer, from the connection to the peer holding all N; against hypercore
 *   replicating the same number of 256-byte blocks between two cores in the same run.
 * - convergence: 10 agents in a full mesh, attested and converged (every agent holds the same size
 *   of every feed, and no agent with a cosignature still due for a second); 10,000 entries
 *   appended at one agent; the time until every other agent holds
 *   and has verified them all (goal ≤ 5 s); against hypercore replicating 10,000 blocks from one
 *   core to 9 in the same run.
 */
import { SimFleet, type SimDevice } from '../simnet/index.js'
import type { Agent } from '../src/agent/index.js'
import { nodeCryptoHasher } from '../src/ledger/index.js'
import { hypercoreReplication } from './hypercore-peer.js'
import { type Bench, nowMs, round } from './types.js'

// 256 bytes of text in the body (52 + 204).
const body = { subject: 'a'.repeat(52), pcr: 7, detail: 'd'.repeat(204) }

async function appendMany(agent: Agent, count: number): Promise<void> {
  for (let done = 0; done < count; done += 1000) {
    await Promise.all(
      Array.from(
        { length: Math.min(1000, count - done) },
        async () =>
          await agent.feed.ledger.append({
            type: 'alert.tamper',
            actor: { id: 'bench', role: 'agent' },
            attest: null,
            body
          })
      )
    )
  }
  await agent.feed.ledger.checkpoint()
}

async function waitFor(condition: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const start = nowMs()
  while (!(await condition())) {
    if (nowMs() - start > ms) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

const ENTRIES = 20_000
/** FLEET_BENCH_HASHER=node-crypto: the ledger's default hasher instead of the native one the agent is given. */
const hasher = process.env.FLEET_BENCH_HASHER === 'node-crypto' ? nodeCryptoHasher : undefined

export const replicationBench: Bench = {
  name: 'replication',
  description: `entries/s of ${ENTRIES} entries over one attested link between two swtpm agents vs hypercore between two cores`,
  async run(report) {
    const fleet = await SimFleet.create()
    try {
      const [da, db] = (await fleet.addEnrolled(2)) as [SimDevice, SimDevice]
      const a = await fleet.start(da, { syncIntervalMs: 3_600_000, hasher })
      await appendMany(a, ENTRIES)
      const target = a.feed.ledger.sealedSize
      const b = await fleet.start(db, { syncIntervalMs: 3_600_000, hasher })
      const start = nowMs()
      await b.node.dial(a.node.getMultiaddrs()[0]!)
      await waitFor(async () => ((await b.heads()).get(da.state.deviceId) ?? 0) >= target, 120_000, 'replication')
      const ms = nowMs() - start
      const peerMs = await hypercoreReplication(target, 1)
      const ours = target / (ms / 1000)
      const peer = target / (peerMs / 1000)
      report({
        bench: 'replication',
        value: round(ours, 0),
        unit: 'entries/s',
        peer: 'hypercore (two cores, one stream)',
        peerValue: round(peer, 0),
        ratio: round(ours / peer, 2),
        entries: target,
        goal: '>= 2x hypercore'
      })
    } finally {
      await fleet.close()
    }
  }
}

const AGENTS = 10
const CONVERGE = 10_000

export const convergenceBench: Bench = {
  name: 'convergence',
  description: `${AGENTS} swtpm agents in a full mesh, ${CONVERGE} entries appended at one: time until all hold and verified them vs hypercore to ${AGENTS - 1} cores`,
  async run(report) {
    const fleet = await SimFleet.create()
    try {
      const agents: Agent[] = []
      for (const device of await fleet.addEnrolled(AGENTS))
        agents.push(await fleet.start(device, { syncIntervalMs: 2_000, hasher }))
      for (let i = 0; i < AGENTS; i++)
        for (let j = i + 1; j < AGENTS; j++) await agents[i]!.node.dial(agents[j]!.node.getMultiaddrs()[0]!)
      const ids = agents.map((a) => a.node.peerId.toString())
      await waitFor(
        async () => agents.every((a, i) => ids.every((id, j) => i === j || a.attestation.attested(id))),
        60_000,
        'the mesh to attest'
      )
      // Start from a converged fleet: the mesh's own verdict entries replicated everywhere (every
      // agent holds the same size of every feed), so the time below is the new entries' alone.
      await waitFor(
        async () => {
          const all = await Promise.all(agents.map(async (a) => await a.heads()))
          const sizes = (heads: Map<string, number>): string =>
            [...heads]
              .sort(([x], [y]) => x.localeCompare(y))
              .map(([f, n]) => `${f}:${n}`)
              .join(',')
          return all.every((heads) => sizes(heads) === sizes(all[0]!)) && all[0]!.size >= AGENTS
        },
        60_000,
        'the mesh to converge before the run'
      )
      // …and done witnessing: no agent has a cosignature due, for a second. Until then the mesh is
      // still cosigning and announcing its own setup (about 2 s of one core here), which a burst
      // arriving in a settled fleet does not compete with.
      const settling = nowMs()
      let quiet = 0
      await waitFor(
        async () => {
          quiet = agents.every((a) => a.cosignsDue === 0) ? quiet + 1 : 0
          await new Promise((resolve) => setTimeout(resolve, 100))
          return quiet >= 10
        },
        60_000,
        'the mesh to finish witnessing before the run'
      )
      process.stderr.write(
        `bench: convergence: witnessing done ${Math.round(nowMs() - settling)} ms after converging\n`
      )
      const writer = agents[0]!
      const feed = fleet.devices[0]!.state.deviceId
      const start = nowMs()
      await appendMany(writer, CONVERGE)
      const target = writer.feed.ledger.sealedSize
      await waitFor(
        async () => {
          for (const agent of agents.slice(1)) if (((await agent.heads()).get(feed) ?? 0) < target) return false
          return true
        },
        120_000,
        'convergence'
      )
      const ms = nowMs() - start
      const peerMs = await hypercoreReplication(CONVERGE, AGENTS - 1)
      report({
        bench: 'convergence',
        value: round(ms / 1000, 2),
        unit: 's',
        peer: `hypercore (1 core to ${AGENTS - 1})`,
        peerValue: round(peerMs / 1000, 2),
        ratio: round(peerMs / ms, 2),
        agents: AGENTS,
        entries: CONVERGE,
        goal: '<= 5 s'
      })
    } finally {
      await fleet.close()
    }
  }
}
