/**
 * gate: time from a trust-losing event to the gated workload's SIGTERM, p50/p99, measured on swtpm
 * with `bin/fleet exec` and a real child process: a PCR extended in the device's TPM, and the
 * owner's revocation of the device received by its agent (timed from the moment the agent holds
 * it). The child notes the time it got SIGTERM. Goal: p99 ≤ 2 s.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { ownerFeedId, publishOwnerFeed, startControlServer, type Agent } from '../src/agent/index.js'
import { SimFleet, deviceGate, type SimDevice } from '../simnet/fleet.js'
import { type Bench, percentile, round } from './types.js'

const PCR_RUNS = 30
const REVOKE_RUNS = 5
const GOAL_P99_MS = 2000
const FLEET = path.resolve('bin/fleet')

const CHILD = `
const fs = require('node:fs')
process.on('SIGTERM', () => { fs.writeFileSync(process.argv[2] + '.term', String(Date.now())); process.exit(0) })
fs.writeFileSync(process.argv[2], 'up')
setInterval(() => {}, 1000)
`

async function waitFor(condition: () => boolean, ms: number, what: string): Promise<void> {
  const started = Date.now()
  while (!condition()) {
    if (Date.now() - started > ms) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** Runs `fleet exec` on `device`'s gate with the child; `lose()` makes the device lose its standing and resolves with the event's time. */
async function oneStop(
  device: SimDevice,
  agent: Agent,
  work: string,
  run: number,
  lose: () => Promise<number>
): Promise<number> {
  const gate = await deviceGate(device, agent)
  const control = await startControlServer(agent, device.dir, device.state.deviceId, { gate })
  try {
    const out = path.join(work, `run-${run}`)
    const child = spawn(
      FLEET,
      ['exec', '--state', device.dir, '--grace', '5', '--', process.execPath, path.join(work, 'child.js'), out],
      {
        stdio: 'ignore'
      }
    )
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    await waitFor(() => existsSync(out), 30_000, 'the workload to start')
    const event = await lose()
    await exited
    return Number(await readFile(`${out}.term`, 'utf8')) - event
  } finally {
    await control.close()
  }
}

export const gateBench: Bench = {
  name: 'gate',
  description: `event to workload SIGTERM through fleet exec on swtpm: PCR extend (${PCR_RUNS} runs), revocation received (${REVOKE_RUNS} runs)`,
  async run(report) {
    const work = await mkdtemp(path.join(os.tmpdir(), 'fleet-bench-gate-'))
    await writeFile(path.join(work, 'child.js'), CHILD)
    try {
      // PCR extends: one device; each run's gate takes the PCRs as they are then for its baseline.
      const pcr: number[] = []
      const fleet = await SimFleet.create()
      try {
        const [device] = (await fleet.addEnrolled(1)) as [SimDevice]
        const agent = await fleet.start(device)
        for (let run = 0; run < PCR_RUNS; run++)
          pcr.push(
            await oneStop(device, agent, work, run, async () => {
              await device.tpm.extendPcr(7, { sha256: new Uint8Array(32).fill(run) })
              return Date.now()
            })
          )
      } finally {
        await fleet.close()
      }
      // Revocations: a fleet each (a revocation is for good).
      const revoke: number[] = []
      for (let run = 0; run < REVOKE_RUNS; run++) {
        const fleet = await SimFleet.create()
        try {
          const [device] = (await fleet.addEnrolled(1)) as [SimDevice]
          const agent = await fleet.start(device)
          revoke.push(
            await oneStop(device, agent, work, PCR_RUNS + run, async () => {
              const owner = fleet.owner
              await owner.feed.ledger.append({
                type: 'device.revoke',
                actor: { id: 'owner/simnet', role: 'owner' },
                attest: null,
                body: { deviceId: device.state.deviceId, reason: 'bench' }
              })
              await owner.feed.ledger.checkpoint()
              const feed = ownerFeedId(new Uint8Array(Buffer.from(owner.state.fleetId, 'hex')))
              await publishOwnerFeed(owner.node, owner.feed.store, feed, owner.feed.ledger.sealedSize, [
                agent.node.getMultiaddrs()[0]!
              ])
              await waitFor(() => agent.membership.isRevoked(device.state.deviceId), 30_000, 'the revocation')
              return Date.now()
            })
          )
        } finally {
          await fleet.close()
        }
      }
      for (const [metric, samples] of [
        ['pcr-extend', pcr],
        ['revocation', revoke]
      ] as const) {
        const sorted = [...samples].sort((a, b) => a - b)
        const p99 = percentile(sorted, 99)
        report({
          bench: 'gate',
          metric: `${metric} p99`,
          value: round(p99, 1),
          unit: 'ms',
          peer: 'goal',
          peerValue: GOAL_P99_MS,
          ratio: round(GOAL_P99_MS / p99, 2),
          p50: round(percentile(sorted, 50), 1),
          min: round(sorted[0]!, 1),
          max: round(sorted.at(-1)!, 1),
          runs: sorted.length,
          measures:
            'event to the workload receiving SIGTERM (its own clock), through fleet exec polling the agent every 500 ms'
        })
      }
    } finally {
      await rm(work, { recursive: true, force: true })
    }
  }
}
