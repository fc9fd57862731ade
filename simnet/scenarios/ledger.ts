/** Scenarios of ledger replication: convergence, scale, a killed agent, a healed partition. */
import { fleetCli, freePort, until } from '../process-fleet.js'
import { startFleet, appendVia, converged, meshAttested, type Scenario } from './index.js'

export const convergence: Scenario = {
  name: 'convergence',
  description: 'entries appended at one agent reach every other agent, verified',
  minNodes: 2,
  defaultNodes: 3,
  async run(ctx) {
    const devices = await startFleet(ctx, ctx.nodes)
    const writer = devices[0]!
    await ctx.check('200 entries appended at the first agent (acknowledged once sealed)', async () => {
      const acked = await appendVia(ctx, writer, 200, 'convergence')
      if (new Set(acked).size !== 200) return 'duplicate sequence numbers'
    })
    await ctx.check('every agent holds every feed, verified before storing', async () => {
      await converged(ctx, devices, devices)
    })
    await ctx.check('an agent restarted with FLEET_METRICS_PORT serves Prometheus metrics on 127.0.0.1', async () => {
      const device = devices[devices.length - 1]!
      await ctx.fleet.stopAgent(device)
      const port = await freePort()
      await ctx.fleet.startAgent(
        device,
        devices.filter((d) => d !== device),
        { env: { FLEET_METRICS_PORT: String(port) } }
      )
      const text = await until(
        async () => {
          const body = await ctx.fleet.fetchOnHost(device, `http://127.0.0.1:${port}/metrics`)
          return /^fleet_peers\{verdict="trusted"\} [1-9]/m.test(body) && body
        },
        30_000,
        'metrics with trusted peers'
      )
      for (const name of [
        'fleet_connections',
        'fleet_own_feed_entries',
        'fleet_tpm_operation_seconds',
        'fleet_process_resident_memory_bytes'
      ]) {
        if (!text.includes(name)) return `no ${name} in the metrics`
      }
    })
    await ctx.check("each agent's own store verifies offline after a clean stop (fleet ledger verify)", async () => {
      await Promise.all(devices.map(async (device) => await ctx.fleet.stopAgent(device)))
      const verified = await Promise.all(
        devices.map(async (device) => ({
          device,
          result: await fleetCli(['ledger', 'verify', '--state', device.state, '--fleet', ctx.fleet.fleetId])
        }))
      )
      for (const { device, result } of verified) if (result.code !== 0) return `${device.name}: ${result.stderr.trim()}`
    })
  }
}

export const scale: Scenario = {
  name: 'scale',
  description: 'as many agents as asked, each with its own swtpm and process: full mesh attested and converged',
  minNodes: 2,
  defaultNodes: 6,
  async run(ctx) {
    const devices = await startFleet(ctx, ctx.nodes)
    await ctx.check('entries from two agents converge everywhere', async () => {
      await appendVia(ctx, devices[0]!, 20, 'a')
      await appendVia(ctx, devices[devices.length - 1]!, 20, 'b')
      await converged(ctx, devices, [devices[0]!, devices[devices.length - 1]!])
    })
    await ctx.check('agent memory (RSS) reported', async () => {
      const mib = (bytes: number | undefined): string =>
        bytes === undefined ? '?' : `${(bytes / 1048576).toFixed(0)} MiB`
      const memory = await Promise.all(devices.map(async (d) => (await ctx.fleet.status(d)).memory))
      // Anonymous: the agent's own memory; file-backed: mostly the Node binary's code, shared by every Node process.
      ctx.log(
        `RSS per agent: ${memory.map((m) => `${mib(m.rssBytes)} (own ${mib(m.anonBytes)}, mapped from files ${mib(m.fileBytes)})`).join(', ')}`
      )
      for (const m of memory)
        if (!(m.rssBytes > 0) || (m.anonBytes !== undefined && m.anonBytes > m.rssBytes))
          return `implausible memory figures: ${JSON.stringify(m)}`
    })
  }
}

export const killRestart: Scenario = {
  name: 'kill-restart',
  description: 'agents killed with SIGKILL while appending and syncing lose no acknowledged entry and catch up',
  minNodes: 2,
  defaultNodes: 2,
  async run(ctx) {
    const devices = await startFleet(ctx, ctx.nodes)
    const [writer, replica] = [devices[0]!, devices[1]!]
    let acked: number[] = []
    await ctx.check('the replica is killed mid-sync and restarted', async () => {
      // Killed while the writer appends more and the first entries are on their way to it.
      acked = await appendVia(ctx, writer, 100, 'before')
      const appending = appendVia(ctx, writer, 200, 'before-more')
      await ctx.fleet.stopAgent(replica, 'SIGKILL')
      acked.push(...(await appending))
      await ctx.fleet.startAgent(replica, [writer])
    })
    await ctx.check('the writer is killed while appending; acknowledged entries survive', async () => {
      const more: number[] = []
      // Killed once it acknowledged a hundred entries, while it is still being asked for more.
      let hundred = (): void => {}
      const acknowledged = new Promise<void>((resolve) => {
        hundred = resolve
      })
      const appending = (async () => {
        for (;;) {
          try {
            more.push(...(await appendVia(ctx, writer, 25, 'during')))
          } catch {
            return
          }
          if (more.length >= 100) hundred()
        }
      })()
      await Promise.race([acknowledged, appending])
      await ctx.fleet.stopAgent(writer, 'SIGKILL')
      await appending
      acked.push(...more)
      await ctx.fleet.startAgent(writer, [replica])
      const status = await ctx.fleet.status(writer)
      const highest = Math.max(...acked)
      if (status.feed.size <= highest) return `acknowledged entry ${highest} lost: the feed holds ${status.feed.size}`
      ctx.log(`${acked.length} acknowledged entries, all present after kill -9 (feed size ${status.feed.size})`)
    })
    await ctx.check('both agents converge again', async () => {
      await meshAttested(ctx, devices)
      await converged(ctx, devices, devices)
    })
  }
}

export const partitionHeal: Scenario = {
  name: 'partition-heal',
  description: 'two halves keep working apart and converge after healing, nothing lost or duplicated',
  minNodes: 4,
  defaultNodes: 4,
  async run(ctx) {
    const devices = await startFleet(ctx, ctx.nodes)
    const half = Math.floor(devices.length / 2)
    const [left, right] = [devices.slice(0, half), devices.slice(half)]
    await ctx.check('the network splits in two (each side blocks the other)', async () => {
      for (const a of left)
        for (const b of right) {
          await ctx.fleet.control(a, { cmd: 'block', peerId: b.peerId })
          await ctx.fleet.control(b, { cmd: 'block', peerId: a.peerId })
        }
    })
    await ctx.check('both halves keep appending and replicating among themselves', async () => {
      await appendVia(ctx, left[0]!, 50, 'left')
      await appendVia(ctx, right[0]!, 50, 'right')
      await converged(ctx, left, [left[0]!])
      await converged(ctx, right, [right[0]!])
      const status = await ctx.fleet.status(right[0]!)
      const leftSealed = (await ctx.fleet.status(left[0]!)).feed.sealed
      if ((status.heads[left[0]!.deviceId] ?? 0) >= leftSealed)
        return "the right half saw the left half's new entries during the partition"
    })
    await ctx.check('after healing, every agent holds every entry of both halves', async () => {
      for (const a of left)
        for (const b of right) {
          await ctx.fleet.control(a, { cmd: 'unblock', peerId: b.peerId })
          await ctx.fleet.control(b, { cmd: 'unblock', peerId: a.peerId })
        }
      for (const a of left) for (const b of right) await ctx.fleet.control(a, { cmd: 'dial', address: b.address })
      await meshAttested(ctx, devices)
      await converged(ctx, devices, devices)
    })
  }
}
