import path from 'node:path'
import { existsSync } from 'node:fs'
import { fleetCli, freePort, until } from '../process-fleet.js'
import { startFleet, enrolFleet, appendVia, converged, meshAttested, type Scenario } from './index.js'

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
      for (const device of devices) await ctx.fleet.stopAgent(device)
      for (const device of devices) {
        const verified = await fleetCli(['ledger', 'verify', '--state', device.state, '--fleet', ctx.fleet.fleetId])
        if (verified.code !== 0) return `${device.name}: ${verified.stderr.trim()}`
      }
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

export const tamperedBoot: Scenario = {
  name: 'tampered-boot',
  description: 'a device whose kernel was tampered with is refused at enrolment, naming the PCR and event',
  minNodes: 1,
  defaultNodes: 2,
  async run(ctx) {
    const devices = await startFleet(ctx, Math.max(1, ctx.nodes - 1))
    const tampered = await ctx.fleet.addDevice('tampered-kernel')
    await ctx.check('the owner refuses it (exit 1), naming PCR 4', async () => {
      const { owner, device } = await ctx.fleet.enrol(tampered)
      if (owner.code !== 1) return `owner exit ${owner.code}`
      if (!/boot does not satisfy the policy: PCR 4/.test(owner.stderr))
        return `unexpected reason: ${owner.stderr.trim()}`
      if (device.code === 0) return 'the device side succeeded'
    })
    await ctx.check('nothing was stored for it: no enrolment, the fleet still running', async () => {
      if (existsSync(path.join(tampered.state, 'enrolment.json'))) return 'enrolment.json exists'
      await meshAttested(ctx, devices)
    })
  }
}

export const clone: Scenario = {
  name: 'clone',
  description: 'a state directory copied to another machine cannot run as the enrolled device',
  minNodes: 1,
  defaultNodes: 2,
  async run(ctx) {
    const devices = await startFleet(ctx, ctx.nodes)
    const victim = devices[0]!
    const copy = await ctx.fleet.cloneTo(victim, 'copy-of-dev1')
    await ctx.check('fleet run on the copy exits 1 (CloneDetectedError): nothing unseals', async () => {
      const run = await fleetCli([
        'run',
        '--state',
        copy.state,
        '--tcti',
        copy.tcti,
        '--eventlog',
        ctx.fleet.eventLog(victim),
        '--once'
      ])
      if (run.code !== 1) return `exit ${run.code}`
      if (!/belongs to device .* but this TPM is device/.test(run.stderr)) return run.stderr.trim()
    })
    await ctx.check('the original keeps running, trusted by its peers', async () => {
      await meshAttested(ctx, devices)
    })
  }
}

export const revoke: Scenario = {
  name: 'revoke',
  description:
    'the owner revokes a device through one agent, cutting its feed; every agent hangs up on it, refuses it and holds its feed up to the cut',
  minNodes: 3,
  defaultNodes: 3,
  async run(ctx) {
    const devices = await startFleet(ctx, ctx.nodes)
    const victim = devices[devices.length - 1]!
    const others = devices.slice(0, -1)
    let keep = 0
    await ctx.check("the device's entries replicated before the revocation", async () => {
      await appendVia(ctx, victim, 20, 'before-revocation')
      await converged(ctx, others, [victim])
      keep = (await ctx.fleet.status(others[0]!)).heads[victim.deviceId] ?? 0
      if (keep < 20) return `only ${keep} entries of the device held`
    })
    await ctx.check('fleet revoke --keep hands the owner-signed revocation and its cut to one agent', async () => {
      const revoked = await ctx.fleet.ownerCli([
        'revoke',
        '--state',
        ctx.fleet.ownerDir,
        victim.deviceId,
        '--reason',
        'simnet',
        '--keep',
        String(keep),
        '--peer',
        others[0]!.address!,
        '--json'
      ])
      if (revoked.code !== 0) return revoked.stderr.trim()
      const result = JSON.parse(revoked.stdout) as { reached: string[]; keep: number }
      if (result.reached.length !== 1) return `reached ${result.reached.length} agents`
      if (result.keep !== keep) return `the statement cut at ${result.keep}, not ${keep}`
    })
    await ctx.check(
      'entries the device appends after it are held by no agent: every head of its feed is the cut',
      async () => {
        await appendVia(ctx, victim, 10, 'after-revocation').catch(() => [])
        // An agent that knows of the revocation holds (and serves) the feed up to the cut, whatever
        // comes later: once each knows of it and stands at the cut, none will move past it.
        await until(
          async () => {
            for (const device of others) {
              const status = await ctx.fleet.status(device)
              if (status.members.find((m) => m.deviceId === victim.deviceId)?.revoked !== true) return false
              if (status.heads[victim.deviceId] !== keep) return false
            }
            return true
          },
          30_000,
          'every agent at the cut'
        )
      }
    )
    await ctx.check('every other agent learned it, hung up, and refuses the device', async () => {
      await until(
        async () => {
          for (const device of others) {
            const status = await ctx.fleet.status(device)
            if (status.members.find((m) => m.deviceId === victim.deviceId)?.revoked !== true) return false
            if (status.peers.some((p) => p.deviceId === victim.deviceId && p.trusted)) return false
          }
          return true
        },
        30_000,
        'the revocation everywhere'
      )
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
        for (const device of devices) await ctx.fleet.stopAgent(device)
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

export const relayQuote: Scenario = {
  name: 'relay-quote',
  description:
    'an agent answers a challenge with the quote it made for another session; the verifier refuses it, says why and records it',
  minNodes: 3,
  defaultNodes: 3,
  async run(ctx) {
    const devices = await enrolFleet(ctx, ctx.nodes)
    const relayer = devices[devices.length - 1]!
    const honest = devices.slice(0, -1)
    await ctx.check('the honest agents run and attest each other', async () => {
      for (const device of honest)
        await ctx.fleet.startAgent(
          device,
          honest.filter((d) => d.address !== undefined)
        )
      await meshAttested(ctx, honest)
    })
    await ctx.check(
      "the relaying agent (simnet's test-only hostile process) first attests honestly to one agent",
      async () => {
        await ctx.fleet.startAgent(relayer, [honest[0]!], { hostile: ['--mode', 'relay-quote'] })
        await until(
          async () =>
            (await ctx.fleet.status(honest[0]!)).peers.some((p) => p.deviceId === relayer.deviceId && p.trusted),
          30_000,
          'the honest first attestation'
        )
        await ctx.fleet.said(relayer, '"armed":true', 30_000)
      }
    )
    await ctx.check(
      "on a new connection, the quote from the other session is refused: not over this verifier's nonce",
      async () => {
        await ctx.fleet.control(relayer, { cmd: 'dial', address: honest[1]!.address })
        const refused = await until(
          async () =>
            (await ctx.fleet.status(honest[1]!)).peers.find((p) => p.deviceId === relayer.deviceId && !p.trusted),
          30_000,
          'the refusal'
        )
        if (!refused.reasons.some((r) => /nonce/.test(r)))
          return `refused for another reason: ${refused.reasons.join('; ')}`
        const status = await ctx.fleet.status(honest[1]!)
        if (status.peers.some((p) => p.deviceId === relayer.deviceId && p.trusted)) return 'trusted anyway'
      }
    )
    await ctx.check(
      "the refusal is in the verifier's own feed: attest.verdict, trusted false (fleet ledger tail, after a clean stop)",
      async () => {
        for (const device of devices) await ctx.fleet.stopAgent(device)
        const tail = await fleetCli(['ledger', 'tail', '--state', honest[1]!.state, '-n', '100000', '--json'])
        if (tail.code !== 0) return tail.stderr.trim()
        const verdicts = tail.stdout
          .split('\n')
          .filter((line) => line.length > 0)
          .map((line) => JSON.parse(line) as { type: string; body: { subject?: string; trusted?: boolean } })
          .filter((row) => row.type === 'attest.verdict' && row.body.subject === relayer.deviceId)
        if (!verdicts.some((row) => row.body.trusted === false))
          return `no refusal recorded (${verdicts.length} verdicts on the device)`
        if (verdicts.some((row) => row.body.trusted === true)) return 'a trusted verdict was recorded'
      }
    )
  }
}

export const SCENARIOS: Scenario[] = [
  convergence,
  tamperedBoot,
  clone,
  revoke,
  equivocate,
  relayQuote,
  killRestart,
  partitionHeal,
  scale
]
