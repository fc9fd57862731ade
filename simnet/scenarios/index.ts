import type { ProcessFleet, ProcDevice } from '../process-fleet.js'
import { until } from '../process-fleet.js'

export interface Check {
  name: string
  passed: boolean
  ms: number
  detail?: string
}

export interface ScenarioContext {
  fleet: ProcessFleet
  nodes: number
  /** Runs one check, timing it; a thrown error or a returned string (the reason) fails it. */
  // biome-ignore lint/suspicious/noConfusingVoidType: a check returns nothing, or a detail to report
  check: (name: string, fn: () => Promise<void | string>) => Promise<boolean>
  log: (text: string) => void
  /** --seed: for scenarios drawn from a seed (chaos); undefined when not given. */
  seed?: number
  /** --minutes: how long a campaign runs; undefined when not given. */
  minutes?: number
  /** --hostile: a hostile peer joins the campaign mid-run. */
  hostile?: boolean
  /** --entries: how many entries a scenario that writes a batch writes (its default when not given). */
  entries?: number
  /** The topology the fleet runs on (netns sites, else a LAN or loopback). */
  topology: 'lan' | 'sites'
  /** Adds fields to the run's JSON summary (a seed, counts by kind). */
  report: (fields: Record<string, unknown>) => void
}

export interface Scenario {
  name: string
  description: string
  minNodes: number
  defaultNodes: number
  /**
   * `sites`: the scenario runs on sites behind NAT and a WAN by default (netns mode, chosen for
   * it; root only); with `lanBaseline`, `--topology lan` runs the same fleet on one LAN to compare.
   */
  topology?: 'sites'
  lanBaseline?: boolean
  run: (ctx: ScenarioContext) => Promise<void>
}

/** Devices added, enrolled through the ceremony, and started, each connecting to the ones before it. */
export async function startFleet(
  ctx: ScenarioContext,
  count: number,
  options: { hostileLast?: string[]; diskBytes?: number } = {}
): Promise<ProcDevice[]> {
  const devices = await enrolFleet(ctx, count, options.diskBytes === undefined ? {} : { diskBytes: options.diskBytes })
  await ctx.check(`${count} agents running (fleet run, one process each)`, async () => {
    for (const device of devices) {
      const hostile =
        device === devices[devices.length - 1] && options.hostileLast !== undefined
          ? { hostile: options.hostileLast }
          : {}
      // netns: no addresses given, the agents find each other by mDNS.
      await ctx.fleet.startAgent(
        device,
        ctx.fleet.lan === undefined ? devices.filter((d) => d.address !== undefined) : [],
        hostile
      )
    }
  })
  await ctx.check('every agent attested every other (mutual, per connection)', async () => {
    await meshAttested(ctx, devices)
  })
  return devices
}

/** Devices added and enrolled through the ceremony (not started). */
export async function enrolFleet(
  ctx: ScenarioContext,
  count: number,
  options: { diskBytes?: number } = {}
): Promise<ProcDevice[]> {
  const devices: ProcDevice[] = []
  await ctx.check(`${count} devices enrolled through the ceremony`, async () => {
    // Each device's TPM and identity are its own: made at once. The owner enrols one at a time.
    // Each one settles before a failure is reported, so that the fleet's close() finds every TPM started.
    const settled = await Promise.allSettled(
      Array.from({ length: count }, async () => await ctx.fleet.addDevice('good', options))
    )
    const failed = settled.find((s) => s.status === 'rejected')
    if (failed !== undefined) throw failed.reason
    const added = settled.map((s) => (s as PromiseFulfilledResult<ProcDevice>).value)
    for (const device of added) {
      const { owner, device: side } = await ctx.fleet.enrol(device)
      if (owner.code !== 0 || side.code !== 0)
        return `${device.name}: owner exit ${owner.code}, device exit ${side.code}: ${owner.stderr.trim()} ${side.stderr.trim()}`
      devices.push(device)
    }
  })
  return devices
}

export async function meshAttested(ctx: ScenarioContext, devices: ProcDevice[], ms = 60_000): Promise<void> {
  await until(
    async () => {
      for (const device of devices) {
        const status = await ctx.fleet.status(device)
        const trusted = new Set(status.peers.filter((p) => p.trusted).map((p) => p.deviceId))
        if (devices.some((d) => d !== device && !trusted.has(d.deviceId))) return false
      }
      return true
    },
    ms,
    'mutual attestation across the mesh'
  )
}

/** Appends through the agent's control socket; resolves with the acknowledged (sealed) seqs. */
export async function appendVia(
  ctx: ScenarioContext,
  device: ProcDevice,
  count: number,
  tag: string
): Promise<number[]> {
  const acked: number[] = []
  for (let i = 0; i < count; i += 25) {
    const wave = await Promise.all(
      Array.from(
        { length: Math.min(25, count - i) },
        async (_, j) =>
          await ctx.fleet.control(device, {
            cmd: 'append',
            type: 'alert.tamper',
            actor: { id: 'simnet', role: 'agent' },
            body: { subject: device.deviceId, pcr: 7, detail: `${tag}/${i + j}` }
          })
      )
    )
    for (const answer of wave) acked.push(answer.seq as number)
  }
  return acked
}

/** Every agent holds every given feed at least at the size its writer has sealed. */
export async function converged(
  ctx: ScenarioContext,
  devices: ProcDevice[],
  feeds: ProcDevice[],
  ms = 60_000
): Promise<void> {
  await until(
    async () => {
      const want = new Map<string, number>()
      for (const writer of feeds) want.set(writer.deviceId, (await ctx.fleet.status(writer)).feed.sealed)
      for (const device of devices) {
        const status = await ctx.fleet.status(device)
        for (const [feed, size] of want) if ((status.heads[feed] ?? 0) < size) return false
      }
      return true
    },
    ms,
    'convergence'
  )
}
