/** The scenario of a device that equivocates: every other agent quarantines it, until the owner clears it. */
import { fleetCli, until } from '../process-fleet.js'
import { startFleet, appendVia, converged, type Scenario } from './index.js'

export const equivocate: Scenario = {
  name: 'equivocate',
  description:
    'a hostile agent signs two histories of its feed; every other agent quarantines it on verified evidence, until the owner clears it',
  minNodes: 3,
  defaultNodes: 4,
  async run(ctx) {
    // The last agent is simnet's test-only hostile process: it shows one peer another history.
    const devices = await startFleet(ctx, ctx.nodes, { hostileLast: ['--mode', 'equivocate', '--victims', '1'] })
    const liar = devices[devices.length - 1]!
    const honest = devices.slice(0, -1)
    await ctx.check('every honest agent quarantines the equivocator and hangs up on it', async () => {
      const said = (): string =>
        (liar.stderr?.() ?? '')
          .split('\n')
          .filter((line) => line.includes('hostile'))
          .join(' ')
      await until(
        async () => {
          for (const device of honest) {
            const status = await ctx.fleet.status(device)
            if (status.members.find((m) => m.deviceId === liar.deviceId)?.quarantined !== true) return false
            if (status.peers.some((p) => p.deviceId === liar.deviceId && p.trusted)) return false
          }
          return true
        },
        60_000,
        'the quarantine everywhere'
      ).catch((err: Error) => {
        throw new Error(`${err.message}; the hostile agent said: ${said().slice(-600) || 'nothing'}`)
      })
      if (!said().includes('"forkSize"')) return `the hostile agent did not report its fork: ${said().slice(-600)}`
    })
    await ctx.check('the honest agents keep replicating among themselves', async () => {
      await appendVia(ctx, honest[0]!, 20, 'after')
      await converged(ctx, honest, [honest[0]!])
    })
    await ctx.check(
      "fleet clear-quarantine hands the owner's statement to one agent; every agent lets the device back in",
      async () => {
        // Each piece of evidence the agents hold is cleared by its id (fleet status shows it).
        const evidence = new Set<string>()
        for (const device of honest) {
          const id = (await ctx.fleet.status(device)).members.find((m) => m.deviceId === liar.deviceId)?.evidence
          if (id !== undefined) evidence.add(id)
        }
        for (const id of evidence) {
          const cleared = await ctx.fleet.ownerCli([
            'clear-quarantine',
            '--state',
            ctx.fleet.ownerDir,
            liar.deviceId,
            '--evidence',
            id,
            '--reason',
            'simnet: investigated',
            '--peer',
            honest[0]!.address!,
            '--json'
          ])
          if (cleared.code !== 0) return cleared.stderr.trim()
        }
        await until(
          async () => {
            for (const device of honest)
              if (
                (await ctx.fleet.status(device)).members.find((m) => m.deviceId === liar.deviceId)?.quarantined !==
                false
              )
                return false
            return true
          },
          30_000,
          'the release everywhere'
        )
        await ctx.fleet.control(honest[0]!, { cmd: 'dial', address: liar.address })
        await until(
          async () => (await ctx.fleet.status(honest[0]!)).peers.some((p) => p.deviceId === liar.deviceId && p.trusted),
          30_000,
          'the released device attested again'
        )
      }
    )
    await ctx.check(
      "every honest agent's store holds an alert.equivocation naming the device (fleet ledger tail, after a clean stop)",
      async () => {
        await Promise.all(devices.map(async (device) => await ctx.fleet.stopAgent(device)))
        for (const device of honest) {
          let found = false
          for (const feed of honest.map((d) => d.deviceId)) {
            const tail = await fleetCli([
              'ledger',
              'tail',
              '--state',
              device.state,
              '--feed',
              feed,
              '-n',
              '100000',
              '--json'
            ])
            // A feed that held only routine entries (trusted verdicts) may not have been sealed, and
            // so not replicated, before the stop: the alert is looked for in the feeds held.
            if (tail.code !== 0 && tail.stderr.includes('holds no replica of feed')) continue
            if (tail.code !== 0) return `${device.name}: ${tail.stderr.trim()}`
            found ||= tail.stdout
              .split('\n')
              .filter((line) => line.length > 0)
              .some((line) => {
                const row = JSON.parse(line) as { type: string; body: { feed?: string } }
                return row.type === 'alert.equivocation' && row.body.feed === liar.deviceId
              })
          }
          if (!found) return `${device.name} holds no alert.equivocation about ${liar.deviceId}`
        }
      }
    )
  }
}
