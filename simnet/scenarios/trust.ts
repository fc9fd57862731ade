/** Scenarios of attestation and trust: a tampered boot, a clone, a revocation, a relayed quote. */
import path from 'node:path'
import { existsSync } from 'node:fs'
import { fleetCli, until } from '../process-fleet.js'
import { startFleet, enrolFleet, appendVia, converged, meshAttested, type Scenario } from './index.js'

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
        await Promise.all(devices.map(async (device) => await ctx.fleet.stopAgent(device)))
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
