/**
 * The seeded fault campaign: agents killed with SIGKILL and restarted, their swtpms killed and
 * restarted, agents cut off from the rest and healed, their disks slowed down (every sync waits),
 * their wall clocks stepped an hour and set right, and (as root) their disks filled and freed,
 * on a schedule drawn from the seed (simnet/chaos/schedule.ts), while entries are
 * appended; then the final heal and the invariants, read from the agents (simnet/chaos/invariants.ts).
 * A failing run names its seed; `--seed S` replays the same schedule.
 */
import { randomInt } from 'node:crypto'
import { Campaign } from '../chaos/campaign.js'
import {
  faultsVisible,
  hostileQuarantined,
  noHonestDeviceHeld,
  nothingAcknowledgedLost,
  sameHeads,
  storesVerify
} from '../chaos/invariants.js'
import { chaosSchedule, faultsByKind, type FaultKind } from '../chaos/schedule.js'
import { buildFaultShim, canShimFaults } from '../chaos/fault-shim.js'
import { enrolFleet, meshAttested, startFleet, type Scenario, type ScenarioContext } from './index.js'
import type { ProcDevice } from '../process-fleet.js'

/**
 * The kinds this campaign injects here: a full disk needs a tmpfs of its own per state directory,
 * so root. A seed replays the same schedule on a machine that draws from the same kinds.
 */
export function chaosKinds(): FaultKind[] {
  const kinds: FaultKind[] =
    process.getuid?.() === 0
      ? ['agent-kill', 'tpm-kill', 'disk-full', 'partition']
      : ['agent-kill', 'tpm-kill', 'partition']
  // A slow disk and a stepped clock are a library preloaded into each agent, built with the machine's C compiler.
  return canShimFaults() ? [...kinds, 'slow-disk', 'clock-step'] : kinds
}

/** Each agent's state directory on a disk this small when disks fill up. */
const DISK_BYTES = 16 * 1024 * 1024

export const chaos: Scenario = {
  name: 'chaos',
  description:
    'a seeded schedule of faults (kill -9 of agents and of their swtpms, full disks, partitions; each repaired), then the invariants',
  minNodes: 2,
  defaultNodes: 3,
  async run(ctx) {
    const seed = ctx.seed ?? randomInt(0, 2 ** 32)
    const minutes = ctx.minutes ?? 1
    const kinds = chaosKinds()
    const hostile = ctx.hostile === true
    const schedule = chaosSchedule({ seed, nodes: ctx.nodes, minutes, kinds, hostile })
    ctx.report({ seed, minutes, kinds, faults: faultsByKind(schedule.faults), hostile })
    ctx.log(
      `seed ${seed} (replay with --seed ${seed}): ${schedule.faults.length} faults over ${minutes} min: ${JSON.stringify(faultsByKind(schedule.faults))}`
    )
    if (!kinds.includes('disk-full')) ctx.log('no disk-full faults: a small disk per agent (tmpfs) needs root')
    if (kinds.includes('slow-disk')) ctx.fleet.faultLibrary = buildFaultShim(ctx.fleet.root)
    else ctx.log('no slow-disk or clock-step faults: the library preloaded for them needs a C compiler (cc)')
    const disk = kinds.includes('disk-full') ? { diskBytes: DISK_BYTES } : {}
    // With --hostile, one more device is enrolled like the others, and started only when it joins.
    const devices = hostile
      ? await startLater(ctx, ctx.nodes, disk)
      : { honest: await startFleet(ctx, ctx.nodes, disk), liar: undefined }
    const campaign = new Campaign(ctx.fleet, devices.honest, ctx.log, devices.liar)
    try {
      await ctx.check(`the schedule ran: ${schedule.faults.length} faults injected, each repaired`, async () => {
        await campaign.run(schedule)
      })
    } finally {
      ctx.report({
        acknowledged: campaign.acknowledged.length,
        refused: campaign.refused,
        probesCutShort: campaign.probesCutShort
      })
    }
    await ctx.check('the final heal: every swtpm and agent running, nothing the schedule left undone', async () => {
      await campaign.healAll()
      if (campaign.lateRepairs.length > 0) return `left down by the schedule: ${campaign.lateRepairs.join(', ')}`
    })
    await ctx.check(
      'typed refusals from an agent whose TPM died or whose disk filled up, and exit 75 (restart)',
      async () => {
        if (campaign.misbehaviour.length > 0) return campaign.misbehaviour.join('; ')
      }
    )
    const liar = devices.liar
    if (liar !== undefined)
      await ctx.check('the hostile peer that joined mid-run is quarantined by every honest agent', async () => {
        return await hostileQuarantined(ctx.fleet, devices.honest, liar, 60_000)
      })
    await ctx.check('no honest device quarantined, revoked or refused', async () => {
      return await noHonestDeviceHeld(ctx.fleet, devices.honest, 60_000)
    })
    await ctx.check('all honest agents converge to the same heads', async () => {
      return await sameHeads(
        ctx.fleet,
        devices.honest,
        60_000,
        devices.liar === undefined ? [] : [devices.liar.deviceId]
      )
    })
    await ctx.check('every injected fault is visible in the agents’ own output', async () => {
      return await faultsVisible(devices.honest, schedule.faults)
    })
    await Promise.all(
      [...devices.honest, ...(devices.liar === undefined ? [] : [devices.liar])].map(
        async (device) => await ctx.fleet.stopAgent(device)
      )
    )
    await ctx.check(`no acknowledged entry lost (${campaign.acknowledged.length}, read from each store)`, async () => {
      return await nothingAcknowledgedLost(devices.honest, campaign.acknowledged)
    })
    await ctx.check('every store passes fleet ledger verify', async () => {
      return await storesVerify(ctx.fleet, devices.honest)
    })
  }
}

/** `count` devices enrolled and started, and one more enrolled only (the hostile peer, last). */
async function startLater(
  ctx: ScenarioContext,
  count: number,
  disk: { diskBytes?: number }
): Promise<{ honest: ProcDevice[]; liar: ProcDevice }> {
  const enrolled = await enrolFleet(ctx, count + 1, disk)
  const honest = enrolled.slice(0, count)
  await ctx.check(`${count} agents running, the hostile peer not yet`, async () => {
    for (const device of honest)
      await ctx.fleet.startAgent(
        device,
        ctx.fleet.lan === undefined ? honest.filter((d) => d.address !== undefined) : []
      )
  })
  await ctx.check('every agent attested every other (mutual, per connection)', async () => {
    await meshAttested(ctx, honest)
  })
  return { honest, liar: enrolled[count]! }
}
