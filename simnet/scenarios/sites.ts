/**
 * Fleets across sites (`--mode netns --topology sites`, chosen by the scenario): two sites behind
 * NAT, each a LAN of its own, and a hub on the WAN. Agents at a site find each other by mDNS and
 * link directly; across sites they reach each other only through the hub, which relays for the
 * devices it attested, end to end encrypted and attested.
 */
import path from 'node:path'
import { NetnsSites } from '../netns-sites.js'
import { processUsage } from '../proc-usage.js'
import type { ProcDevice } from '../process-fleet.js'
import { until } from '../process-fleet.js'
import { appendVia, converged, meshAttested, type Scenario, type ScenarioContext } from './index.js'

/** How a peer is reached, as `fleet status` says (src/agent/status.ts). */
interface RoutedPeer {
  deviceId?: string
  trusted: boolean
  online?: boolean
  via?: 'direct' | 'relay'
  hub?: string
}

/** The hubs (on the WAN) and the devices at the sites, enrolled where they are and started. */
async function startSites(
  ctx: ScenarioContext,
  hubCount: number
): Promise<{ hubs: ProcDevice[]; devices: ProcDevice[]; startedAt: number }> {
  const { fleet } = ctx
  const sites = fleet.lan instanceof NetnsSites ? fleet.lan.sites : 2
  const hubs: ProcDevice[] = []
  const devices: ProcDevice[] = []
  const theHubs = hubCount === 1 ? 'the hub' : 'the hubs'
  await ctx.check(
    `${ctx.nodes} devices enrolled: ${hubCount === 1 ? 'a hub' : `${hubCount} hubs`} on the WAN, ${ctx.nodes - hubCount} at ${sites} sites behind NAT (the owner at each)`,
    async () => {
      // Each device's TPM and identity are made at once (named in call order); the owner enrols one at a time.
      const added = await Promise.allSettled(
        Array.from(
          { length: ctx.nodes },
          async (_, i) =>
            await fleet.addDevice(
              'good',
              i < hubCount ? { place: 'wan', role: 'hub' } : { place: { site: (i - hubCount) % sites } }
            )
        )
      )
      const failed = added.find((a) => a.status === 'rejected')
      if (failed !== undefined) throw failed.reason
      for (const [i, a] of added.entries()) {
        const device = (a as PromiseFulfilledResult<ProcDevice>).value
        if (i < hubCount) hubs.push(device)
        else devices.push(device)
      }
      for (const device of [...hubs, ...devices]) {
        const { owner, device: side } = await fleet.enrol(device)
        if (owner.code !== 0 || side.code !== 0)
          return `${device.name}: owner exit ${owner.code}, device exit ${side.code}: ${owner.stderr.trim()} ${side.stderr.trim()}`
      }
    }
  )
  const startedAt = Date.now()
  await ctx.check(`${theHubs}, then every site agent running, each given ${theHubs} (FLEET_HUBS)`, async () => {
    for (const hub of hubs) await fleet.startAgent(hub)
    const given = hubs.map((hub) => hub.address!).join(',')
    for (const device of devices) await fleet.startAgent(device, [], { env: { FLEET_HUBS: given } })
  })
  return { hubs, devices, startedAt }
}

/** CPU time (user + system, ms) the device's agent process has used so far; 0 when it is gone. */
async function cpuMsOf(device: ProcDevice): Promise<number> {
  const pid = device.agent?.pid
  if (pid === undefined) return 0
  return await processUsage(pid).then(
    (u) => u.cpuSec * 1000,
    () => 0
  )
}

/** Where a device is: its site, or the WAN. */
function siteOf(ctx: ScenarioContext, device: ProcDevice): number | 'wan' {
  const place = ctx.fleet.placeOf(device)
  return place === 'wan' ? 'wan' : place.site
}

/**
 * Every site agent is connected to every other, attested: directly at its own site, through one
 * of `hubs` across sites. Returns why not, or undefined.
 */
async function routedBySite(
  ctx: ScenarioContext,
  devices: ProcDevice[],
  hubs: ProcDevice[]
): Promise<string | undefined> {
  const hubPeers = new Set(hubs.map((hub) => hub.peerId!))
  for (const device of devices) {
    const peers = (await ctx.fleet.status(device)).peers as RoutedPeer[]
    for (const other of devices) {
      if (other === device) continue
      const seen = peers.find((p) => p.deviceId === other.deviceId && p.online === true && p.trusted)
      if (seen === undefined) return `${device.name} is not connected to ${other.name} (attested)`
      const same = siteOf(ctx, other) === siteOf(ctx, device)
      if (same && seen.via !== 'direct')
        return `${device.name} reaches ${other.name} (same site) ${seen.via ?? '?'}, not directly`
      if (!same && (seen.via !== 'relay' || !hubPeers.has(seen.hub ?? '')))
        return `${device.name} reaches ${other.name} (another site) ${seen.via ?? '?'}${seen.hub === undefined ? '' : ` via ${seen.hub}`}, not through ${hubs.map((h) => h.name).join(' or ')}`
    }
  }
  return undefined
}

/** Waits (bounded) until routedBySite holds; returns its last answer. */
async function routedSoon(
  ctx: ScenarioContext,
  devices: ProcDevice[],
  hubs: ProcDevice[]
): Promise<string | undefined> {
  let why: string | undefined
  await until(
    async () => {
      why = await routedBySite(ctx, devices, hubs)
      return why === undefined
    },
    60_000,
    'links by site'
  ).catch(() => undefined)
  return why
}

export const multiSite: Scenario = {
  name: 'multi-site',
  description:
    'two sites behind NAT and a hub on the WAN: every agent attests every other (across sites through the hub), and entries written at one site reach the other',
  minNodes: 3,
  defaultNodes: 5,
  topology: 'sites',
  // The same fleet on one LAN (--topology lan): the hub and every agent on one bridge, to compare.
  lanBaseline: true,
  async run(ctx) {
    const sites = ctx.topology === 'sites'
    const entries = ctx.entries ?? 200
    ctx.report({ topology: ctx.topology, entries })
    // Timed from the first agent's start (enrolment, the same on either topology, is left out).
    const { hubs, devices, startedAt: started } = await startSites(ctx, 1)
    const hub = hubs[0]!
    const all = [hub, ...devices]
    await ctx.check(
      'every agent attested every other, across sites through the hub (mutual, per connection)',
      async () => {
        await meshAttested(ctx, all, 120_000)
      }
    )
    ctx.report({ attestedMs: Date.now() - started })
    if (sites)
      await ctx.check(
        'peers at the same site are reached directly, peers at another site only through the hub',
        async () => await routedSoon(ctx, devices, [hub])
      )
    if (sites)
      await ctx.check(
        'NAT holds: nothing on the WAN, nor at another site, opens a connection into a site; a site reaches the WAN',
        async () => {
          for (const device of devices) {
            if (await ctx.fleet.canConnect(hub, device.address!)) return `the hub opened a connection to ${device.name}`
            const elsewhere = devices.find((d) => siteOf(ctx, d) !== siteOf(ctx, device))!
            if (await ctx.fleet.canConnect(elsewhere, device.address!))
              return `${elsewhere.name} opened a connection to ${device.name} at another site`
            if (!(await ctx.fleet.canConnect(device, hub.address!))) return `${device.name} cannot reach the hub`
          }
        }
      )
    if (sites)
      await ctx.check(
        'the hub holds a reservation for every site agent, and carried the cross-site links',
        async () => {
          const status = (await ctx.fleet.status(hub)) as unknown as {
            relay?: { hub?: boolean; reservations?: number; counts?: { linksCarried: number } }
          }
          if (status.relay?.hub !== true) return 'the hub does not relay'
          if ((status.relay.reservations ?? 0) < devices.length)
            return `${status.relay.reservations ?? 0} reservations for ${devices.length} site agents`
          if ((status.relay.counts?.linksCarried ?? 0) < 1) return 'no link carried'
        }
      )
    const writers = devices.filter((d) => siteOf(ctx, d) === 0)
    const hubCpu = await cpuMsOf(hub)
    const hubLink = await ctx.fleet.linkBytes(hub)
    const writing = Date.now()
    let written = writing
    await ctx.check(`${entries} entries written at site 0 reach every agent at the other site, verified`, async () => {
      await appendVia(ctx, writers[0]!, entries, 'multi-site')
      written = Date.now()
      await converged(ctx, all, writers, 120_000 + entries * 30)
    })
    const hubLinkAfter = await ctx.fleet.linkBytes(hub)
    ctx.report({
      convergedMs: Date.now() - started,
      // Writing (each append acknowledged once sealed), then how long after the last one every agent held them.
      writeMs: written - writing,
      lagMs: Date.now() - written,
      // What the hub spent and moved while the entries crossed (its CPU; bytes its link sent).
      hubCpuMs: (await cpuMsOf(hub)) - hubCpu,
      ...(hubLink === undefined || hubLinkAfter === undefined ? {} : { hubTxBytes: hubLinkAfter.tx - hubLink.tx })
    })
  }
}

export const hubDown: Scenario = {
  name: 'hub-down',
  description:
    'two sites behind NAT and two hubs on the WAN: one hub is killed, and the sites reach each other through the other, attested, with entries still flowing',
  minNodes: 4,
  defaultNodes: 6,
  topology: 'sites',
  async run(ctx) {
    const { hubs, devices } = await startSites(ctx, 2)
    await ctx.check('every agent attested every other, across sites through a hub', async () => {
      await meshAttested(ctx, [...hubs, ...devices], 120_000)
      return await routedSoon(ctx, devices, hubs)
    })
    const [gone, left] = hubs as [ProcDevice, ProcDevice]
    await ctx.check(
      `${gone.name} (a hub) killed: every cross-site link is carried by ${left.name}, attested`,
      async () => {
        await ctx.fleet.stopAgent(gone, 'SIGKILL')
        return await routedSoon(ctx, devices, [left])
      }
    )
    const writers = devices.filter((d) => siteOf(ctx, d) === 1)
    await ctx.check('200 entries written at site 1 after the loss reach every agent at site 0, verified', async () => {
      await appendVia(ctx, writers[0]!, 200, 'hub-down')
      await converged(ctx, [left, ...devices], writers, 120_000)
    })
  }
}

export const wanPartitionHeal: Scenario = {
  name: 'wan-partition-heal',
  description:
    'two sites behind NAT and a hub: site 1 loses the WAN, both sites write on, and once it is back every agent holds every entry, attested again',
  minNodes: 5,
  defaultNodes: 5,
  topology: 'sites',
  async run(ctx) {
    const { hubs, devices } = await startSites(ctx, 1)
    const sites = ctx.fleet.lan as NetnsSites
    const all = [...hubs, ...devices]
    await ctx.check('every agent attested every other, across sites through the hub', async () => {
      await meshAttested(ctx, all, 120_000)
      return await routedSoon(ctx, devices, hubs)
    })
    const [site0, site1] = [0, 1].map((s) => devices.filter((d) => siteOf(ctx, d) === s)) as [
      ProcDevice[],
      ProcDevice[]
    ]
    await ctx.check(
      'site 1 cut off the WAN: its agents keep their own links; 100 entries written on each side',
      async () => {
        await sites.cutSite(1)
        await appendVia(ctx, site0[0]!, 100, 'wan-cut/site0')
        await appendVia(ctx, site1[0]!, 100, 'wan-cut/site1')
        // Inside the site nothing changed: its agents still hold each other's entries…
        await converged(ctx, site1, [site1[0]!], 60_000)
        // …while nothing of them crossed: site 0 holds fewer than were sealed at site 1.
        const sealed = (await ctx.fleet.status(site1[0]!)).feed.sealed
        for (const device of site0) {
          const held = (await ctx.fleet.status(device)).heads[site1[0]!.deviceId] ?? 0
          if (held >= sealed) return `${device.name} holds ${held} of ${sealed} entries written at the cut-off site`
        }
      }
    )
    await ctx.check(
      'the WAN back: every agent holds every entry of both sides, and every cross-site link is attested again',
      async () => {
        await sites.healSite(1)
        await converged(ctx, all, [site0[0]!, site1[0]!], 120_000)
        return await routedSoon(ctx, devices, hubs)
      }
    )
  }
}

/** simnet's stranger at a hub (simnet/relay-stranger.ts): libp2p's own relay client with a fresh key. */
const STRANGER = path.join(import.meta.dirname, '../relay-stranger.js')

export const strangerRelay: Scenario = {
  name: 'stranger-relay',
  description:
    'a stranger on the WAN (libp2p relay client, never enrolled) asks the hub for a reservation and for a link to a member: both refused',
  minNodes: 3,
  defaultNodes: 3,
  topology: 'sites',
  async run(ctx) {
    const { hubs, devices } = await startSites(ctx, 1)
    const hub = hubs[0]!
    await ctx.check('every agent attested every other, across sites through the hub', async () => {
      await meshAttested(ctx, [hub, ...devices], 120_000)
    })
    const member = devices[0]!
    let stranger: { peerId?: string; reserved?: boolean; linked?: boolean; error?: string } = {}
    await ctx.check('a stranger on the WAN is refused a reservation and a link to a member by the hub', async () => {
      // The hub refuses a reservation once the asker has not attested within its deadline (30 s).
      const run = await ctx.fleet.runOnNewHost(
        'wan',
        process.execPath,
        [STRANGER, hub.address!, member.peerId!, '40000'],
        120_000
      )
      stranger = JSON.parse(run.stdout.trim().split('\n').pop() || '{}') as typeof stranger
      if (stranger.error !== undefined) return `the stranger could not try: ${stranger.error}`
      if (stranger.reserved !== false) return 'the hub gave the stranger a reservation'
      if (stranger.linked !== false) return 'the hub carried a link from the stranger to a member'
    })
    await ctx.check('the hub counted both refusals; the member never saw the stranger', async () => {
      const status = (await ctx.fleet.status(hub)) as unknown as {
        relay?: { counts?: { reservationsRefused: number; linksRefused: number } }
      }
      const counts = status.relay?.counts
      if ((counts?.reservationsRefused ?? 0) < 1 || (counts?.linksRefused ?? 0) < 1)
        return `the hub's counts: ${JSON.stringify(counts)}`
      const seen = (await ctx.fleet.status(member)).peers.some((p) => p.peerId === stranger.peerId)
      if (seen) return `${member.name} saw the stranger`
    })
  }
}
