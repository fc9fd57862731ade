/**
 * `npm run bench -- chaos`: seeded fault campaigns (`simnet --scenario chaos`) one after another,
 * each on a new seed, until FLEET_CHAOS_MINUTES (default 30) of faults have run. Reports the seeds
 * run, the faults injected by kind, and the invariant violations (goal 0), with each failed seed
 * and its first violated invariant, so that `--seed S` replays it.
 *
 * FLEET_CHAOS_RUN_MINUTES (default 5) is each campaign's length, FLEET_CHAOS_NODES (default 4)
 * its agents, FLEET_CHAOS_SEED (default random) the first seed; the next ones follow it.
 * FLEET_CHAOS_HOSTILE=1 has an equivocating peer join each campaign (`--hostile`).
 */
import { randomInt } from 'node:crypto'
import { simnetSummary } from './simnet-run.js'
import type { Bench } from './types.js'

interface RunSummary {
  passed: boolean
  checks: Array<{ name: string; passed: boolean; detail?: string }>
  faults?: Record<string, number>
  acknowledged?: number
}

async function campaign(seed: number, nodes: number, minutes: number): Promise<RunSummary | undefined> {
  const args = ['--scenario', 'chaos', '--nodes', String(nodes), '--seed', String(seed), '--minutes', String(minutes)]
  if (process.env.FLEET_CHAOS_HOSTILE === '1') args.push('--hostile')
  return await simnetSummary<RunSummary>(args)
}

export const chaosBench: Bench = {
  name: 'chaos',
  description:
    'seeded fault campaigns (kill -9 of agents and swtpms, full disks, partitions) for FLEET_CHAOS_MINUTES of faults: invariant violations',
  async run(report) {
    const total = Number(process.env.FLEET_CHAOS_MINUTES ?? 30)
    const each = Math.min(total, Number(process.env.FLEET_CHAOS_RUN_MINUTES ?? 5))
    const nodes = Number(process.env.FLEET_CHAOS_NODES ?? 4)
    const first = Number(process.env.FLEET_CHAOS_SEED ?? randomInt(0, 2 ** 32 - 1000))
    if (!(total > 0 && each > 0 && Number.isInteger(nodes) && nodes >= 2 && Number.isInteger(first)))
      throw new Error(
        'FLEET_CHAOS_MINUTES, FLEET_CHAOS_RUN_MINUTES, FLEET_CHAOS_NODES and FLEET_CHAOS_SEED must be numbers'
      )
    const seeds: number[] = []
    const faults: Record<string, number> = {}
    const failed: Array<{ seed: number; check: string }> = []
    let acknowledged = 0
    for (let ran = 0; ran < total; ran += each) {
      const seed = (first + seeds.length) >>> 0
      seeds.push(seed)
      const summary = await campaign(seed, nodes, each)
      for (const [kind, count] of Object.entries(summary?.faults ?? {})) faults[kind] = (faults[kind] ?? 0) + count
      acknowledged += summary?.acknowledged ?? 0
      const violated = summary === undefined ? undefined : summary.checks.find((c) => !c.passed)
      if (summary === undefined || !summary.passed)
        failed.push({
          seed,
          check: violated === undefined ? 'no summary' : `${violated.name}: ${violated.detail ?? ''}`
        })
    }
    report({
      bench: 'chaos',
      value: failed.length,
      unit: 'invariant violations',
      peer: 'goal',
      peerValue: 0,
      ratio: failed.length === 0 ? 1 : 0,
      seeds: seeds.length,
      seedList: seeds,
      nodes,
      hostile: process.env.FLEET_CHAOS_HOSTILE === '1',
      faultMinutes: seeds.length * each,
      faults,
      acknowledged,
      failed
    })
  }
}
