/**
 * What must hold after a fault campaign, read from the agents themselves: their control sockets
 * while they run, their stores through the fleet CLI once stopped, and what their processes
 * printed (agentLogFile). Each returns undefined when it holds, or the first violation found.
 */
import { readFile, rm } from 'node:fs/promises'
import { type ProcDevice, type ProcessFleet, agentLogFile, fleetCli, until } from '../process-fleet.js'
import { type Acknowledged, CLOCK_STEPPED } from './campaign.js'
import type { Fault } from './schedule.js'

/** Each agent's view of every feed: its own as sealed, the others as held. */
async function views(fleet: ProcessFleet, devices: ProcDevice[]): Promise<Map<ProcDevice, Record<string, number>>> {
  const seen = new Map<ProcDevice, Record<string, number>>()
  for (const device of devices) {
    const status = await fleet.status(device)
    seen.set(device, { ...status.heads, [device.deviceId]: status.feed.sealed })
  }
  return seen
}

/** Every honest agent holds every feed but `ignore`'s at the same size (waits up to `ms` for it). */
export async function sameHeads(
  fleet: ProcessFleet,
  devices: ProcDevice[],
  ms: number,
  ignore: readonly string[] = []
): Promise<string | undefined> {
  let last = ''
  try {
    await until(
      async () => {
        const seen = await views(fleet, devices)
        const feeds = new Set([...seen.values()].flatMap((heads) => Object.keys(heads)))
        for (const feed of feeds) {
          if (ignore.includes(feed)) continue
          const sizes = devices.map((d) => seen.get(d)![feed] ?? 0)
          if (new Set(sizes).size > 1) {
            last = `feed ${feed.slice(0, 12)}…: ${devices.map((d, i) => `${d.name} ${sizes[i]}`).join(', ')}`
            return false
          }
        }
        return true
      },
      ms,
      'the same heads everywhere'
    )
  } catch {
    return `heads still differ after ${ms / 1000} s: ${last}`
  }
  return undefined
}

/** No honest device is revoked, quarantined, or refused by an honest peer (waits up to `ms` for the verdicts). */
export async function noHonestDeviceHeld(
  fleet: ProcessFleet,
  devices: ProcDevice[],
  ms: number
): Promise<string | undefined> {
  const honest = new Set(devices.map((d) => d.deviceId))
  let last = ''
  try {
    await until(
      async () => {
        for (const device of devices) {
          const status = await fleet.status(device)
          for (const member of status.members) {
            if (!honest.has(member.deviceId)) continue
            if (member.revoked || member.quarantined) {
              last = `${device.name} holds ${member.deviceId.slice(0, 12)}… ${member.revoked ? 'revoked' : 'quarantined'}`
              return false
            }
          }
          const trusted = new Set(status.peers.filter((p) => p.trusted).map((p) => p.deviceId))
          const refused = devices.find((d) => d !== device && !trusted.has(d.deviceId))
          if (refused !== undefined) {
            const verdict = status.peers.find((p) => p.deviceId === refused.deviceId)
            last = `${device.name} does not trust ${refused.name}${verdict === undefined ? ' (not connected)' : `: ${verdict.reasons.join('; ')}`}`
            return false
          }
        }
        return true
      },
      ms,
      'every honest device trusted'
    )
  } catch {
    return last
  }
  return undefined
}

/** Every honest agent holds the hostile device quarantined, on evidence it verified (waits up to `ms`). */
export async function hostileQuarantined(
  fleet: ProcessFleet,
  devices: ProcDevice[],
  hostile: ProcDevice,
  ms: number
): Promise<string | undefined> {
  let last = ''
  try {
    await until(
      async () => {
        for (const device of devices) {
          const member = (await fleet.status(device)).members.find((m) => m.deviceId === hostile.deviceId)
          if (member?.quarantined !== true) {
            last = `${device.name} does not hold ${hostile.name} quarantined`
            return false
          }
        }
        return true
      },
      ms,
      'the hostile peer quarantined everywhere'
    )
  } catch {
    const said = (hostile.stderr?.() ?? '').split('\n').filter((line) => line.includes('hostile'))
    return `${last}; the hostile agent said: ${said.join(' ').slice(-400) || 'nothing'}`
  }
  return undefined
}

/**
 * Every fault injected left its trace in the agent's own output: each start of `fleet run` prints
 * its status line, so an agent killed (or stopped by its dead TPM) and started again printed one
 * more; an agent whose TPM died, or whose disk filled up, printed the one line saying so; an
 * agent cut off logged the peers it blocked; an agent whose disk was slowed, or whose clock was
 * stepped (and set right), warned of it.
 */
export async function faultsVisible(devices: ProcDevice[], faults: readonly Fault[]): Promise<string | undefined> {
  for (const [index, device] of devices.entries()) {
    const text = await readFile(agentLogFile(device), 'utf8')
    const lines = text.split('\n')
    const starts = lines.filter((line) => line.startsWith('{"deviceId"')).length
    const tpmLost = lines.filter((line) => /^fleet: the TPM at .* stopped answering \(ERR_TPM_/.test(line)).length
    const mine = faults.filter((f) => f.node === index)
    const restarts = mine.filter(
      (f) => f.kind !== 'partition' && f.kind !== 'slow-disk' && f.kind !== 'clock-step'
    ).length
    // A step and its repair each move the clock: both are seen.
    const steps = 2 * mine.filter((f) => f.kind === 'clock-step').length
    const stepsSeen = lines.filter((line) => line.includes(CLOCK_STEPPED)).length
    if (stepsSeen < steps)
      return `${device.name}: its clock was stepped ${steps} times, but it reported ${stepsSeen} steps`
    const slowDisks = mine.filter((f) => f.kind === 'slow-disk').length
    const slowReported = lines.filter((line) => line.includes('the disk is slow, and every append waits for it')).length
    if (slowReported < slowDisks)
      return `${device.name}: its disk was slowed ${slowDisks} times, but it reported a slow disk ${slowReported} times`
    const tpmKills = mine.filter((f) => f.kind === 'tpm-kill').length
    const diskFull = mine.filter((f) => f.kind === 'disk-full').length
    const partitions = mine.filter((f) => f.kind === 'partition').length
    const blocked = lines.filter((line) => line.includes('a peer was blocked through the control socket')).length
    if (blocked < partitions)
      return `${device.name}: it was partitioned ${partitions} times, but logged ${blocked} blocked peers`
    const storeFailed = lines.filter((line) =>
      /^fleet: a write to the ledger store at .* failed \(.*No space left on device/.test(line)
    ).length
    if (storeFailed !== diskFull)
      return `${device.name}: its disk filled up ${diskFull} times, but it reported a failed store write ${storeFailed} times`
    if (starts < 1 + restarts)
      return `${device.name}: ${restarts} kills and restarts injected, but its output shows ${starts} starts`
    if (tpmLost !== tpmKills)
      return `${device.name}: its TPM was killed ${tpmKills} times, but it reported a lost TPM ${tpmLost} times`
  }
  return undefined
}

/** Every agent's store passes `fleet ledger verify` (agents stopped). */
export async function storesVerify(fleet: ProcessFleet, devices: ProcDevice[]): Promise<string | undefined> {
  const results = await Promise.all(
    devices.map(async (device) => ({
      device,
      verified: await fleetCli(['ledger', 'verify', '--state', device.state, '--fleet', fleet.fleetId])
    }))
  )
  for (const { device, verified } of results)
    if (verified.code !== 0)
      return `${device.name}: fleet ledger verify exit ${verified.code}: ${verified.stderr.trim()}`
  return undefined
}

/**
 * Every acknowledged append is in its writer's store, at the seq it was acknowledged with, with
 * its body (read from `fleet ledger export`; agents stopped). The replicas' share of this is
 * sameHeads: they hold each feed at the size its writer sealed, verified on receipt.
 */
export async function nothingAcknowledgedLost(
  devices: ProcDevice[],
  acknowledged: readonly Acknowledged[]
): Promise<string | undefined> {
  for (const device of devices) {
    const out = `${device.state}.export.jsonl`
    const exported = await fleetCli(['ledger', 'export', '--state', device.state, '--out', out])
    if (exported.code !== 0)
      return `${device.name}: fleet ledger export exit ${exported.code}: ${exported.stderr.trim()}`
    const held = new Map<number, string>()
    for (const line of (await readFile(out, 'utf8')).split('\n')) {
      if (line === '') continue
      const record = JSON.parse(line) as { kind?: string; seq?: number; derived?: { body?: { detail?: unknown } } }
      if (record.kind === 'entry' && typeof record.seq === 'number')
        held.set(record.seq, String(record.derived?.body?.detail ?? ''))
    }
    await rm(out, { force: true })
    for (const ack of acknowledged) {
      if (ack.device !== device) continue
      if (held.get(ack.seq) !== ack.detail)
        return `${device.name} acknowledged ${ack.detail} as entry ${ack.seq}, its store holds ${held.has(ack.seq) ? `"${held.get(ack.seq)}" there` : 'no such entry'}`
    }
  }
  return undefined
}
