/**
 * `npm run bench -- multi-site`: the same fleet (a hub and FLEET_SITES_AGENTS agents, default 10)
 * run by `simnet --scenario multi-site` on two sites behind NAT, and on one LAN, in the same run,
 * FLEET_SITES_RUNS times each (default 2), alternating. Reports the time from the agents' start to a
 * fully attested fleet that also holds FLEET_SITES_ENTRIES entries (default 10,000) written at one
 * site, each way; the median over the runs, and the spread. ratio = LAN time / sites time (1 means
 * as fast; the goal is at most 2× the LAN's time, a ratio ≥ 0.5). Also: the writing and the lag
 * after the last acknowledged append, and the hub's CPU per MB its link sent while the entries
 * crossed. Needs root, network namespaces and nft (else it says why and reports nothing).
 */
import { NetnsSites } from '../simnet/netns-sites.js'
import { simnetSummary } from './simnet-run.js'
import { type Bench, round } from './types.js'

interface Summary {
  passed: boolean
  checks: Array<{ name: string; passed: boolean; detail?: string }>
  attestedMs?: number
  convergedMs?: number
  writeMs?: number
  lagMs?: number
  hubCpuMs?: number
  hubTxBytes?: number
}

async function run(topology: 'sites' | 'lan', nodes: number, entries: number): Promise<Summary | undefined> {
  return await simnetSummary<Summary>([
    '--scenario',
    'multi-site',
    '--mode',
    'netns',
    '--topology',
    topology,
    '--nodes',
    String(nodes),
    '--entries',
    String(entries)
  ])
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor((sorted.length - 1) / 2)]!
}

export const multiSiteBench: Bench = {
  name: 'multi-site',
  description:
    'a hub and two sites of agents behind NAT against the same fleet on one LAN: attested and converged (10,000 entries), hub CPU per MB',
  async run(report) {
    const missing = await NetnsSites.available()
    if (missing !== undefined) {
      process.stderr.write(`bench: multi-site skipped: ${missing}\n`)
      return
    }
    const agents = Number(process.env.FLEET_SITES_AGENTS ?? 10)
    const entries = Number(process.env.FLEET_SITES_ENTRIES ?? 10_000)
    const runs = Number(process.env.FLEET_SITES_RUNS ?? 2)
    const times: Record<'sites' | 'lan', Summary[]> = { sites: [], lan: [] }
    const failed: string[] = []
    for (let i = 0; i < runs; i++)
      for (const topology of ['sites', 'lan'] as const) {
        const summary = await run(topology, agents + 1, entries)
        if (summary?.passed === true && summary.convergedMs !== undefined) times[topology].push(summary)
        else failed.push(`${topology}: ${summary?.checks.find((c) => !c.passed)?.name ?? 'no summary'}`)
      }
    if (times.sites.length === 0 || times.lan.length === 0) {
      report({ bench: 'multi-site', value: 0, unit: 'ms', peer: 'one LAN', peerValue: 0, ratio: 0, failed })
      return
    }
    const field = (list: Summary[], key: keyof Summary): number[] => list.map((s) => Number(s[key] ?? 0))
    const sites = median(field(times.sites, 'convergedMs'))
    const lan = median(field(times.lan, 'convergedMs'))
    const cpuPerMb = times.sites
      .filter((s) => (s.hubTxBytes ?? 0) > 0)
      .map((s) => (s.hubCpuMs ?? 0) / ((s.hubTxBytes ?? 1) / 1e6))
    report({
      bench: 'multi-site',
      value: sites,
      unit: 'ms from the agents start to attested and converged',
      peer: 'the same fleet on one LAN',
      peerValue: lan,
      ratio: round(lan / sites),
      agents,
      entries,
      runs,
      sitesRuns: field(times.sites, 'convergedMs'),
      lanRuns: field(times.lan, 'convergedMs'),
      sitesAttestedMs: field(times.sites, 'attestedMs'),
      lanAttestedMs: field(times.lan, 'attestedMs'),
      sitesWriteMs: field(times.sites, 'writeMs'),
      sitesLagMs: field(times.sites, 'lagMs'),
      lanLagMs: field(times.lan, 'lagMs'),
      hubCpuMsPerMbSent: cpuPerMb.map((v) => round(v, 1)),
      hubTxBytes: field(times.sites, 'hubTxBytes'),
      failed
    })
  }
}
