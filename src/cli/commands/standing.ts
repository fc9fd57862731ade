/** The owner's statements about one device's standing: revoke, clear-quarantine, new-epoch. */
import type { Command } from 'commander'
import { FleetError, UsageError } from '../../common/index.js'
import type { AppendInput, Entry } from '../../ledger/index.js'
import { makeOutput } from '../output.js'
import { notReached, publishOwnerStatement, statementOptions, type StatementOptions } from '../owner-statement.js'

/** A statement about one enrolled device: `make` gets the feed's entries about it. */
async function publishStatement(
  deviceId: string,
  options: StatementOptions & { reason: string },
  make: (about: Entry[], actor: { id: string; role: 'owner' }) => AppendInput | undefined
): Promise<string[]> {
  if (!/^[a-z2-7]{52}$/.test(deviceId)) throw new UsageError('the deviceId must be 52 base32 characters')
  if (options.reason.length === 0 || options.reason.length > 256)
    throw new UsageError('--reason must be 1..256 characters')
  return await publishOwnerStatement(options, (entries, actor) => {
    const about = entries.filter((entry) => entry.body.deviceId === deviceId)
    if (!about.some((entry) => entry.type === 'device.enrol'))
      throw new FleetError(`device ${deviceId} was never enrolled in this fleet`, { code: 'ERR_UNKNOWN_DEVICE' })
    return make(about, actor)
  })
}

function statementCommand(program: Command, name: string, description: string): Command {
  return statementOptions(
    program
      .command(name)
      .description(description)
      .requiredOption('--state <dir>', 'owner state directory')
      .argument('<deviceId>', 'the device')
      .requiredOption('--reason <text>', 'why (recorded in the ledger)')
  )
}

/**
 * fleet revoke --state OWNERDIR DEVICEID --reason TEXT [--peer MA]... [--timeout S] [--json]
 */
export function registerRevokeCommand(program: Command): void {
  statementCommand(
    program,
    'revoke',
    "revoke an enrolled device: an owner-signed device.revoke in the owner's feed, handed to the agents found (they hang up on it and refuse it)"
  )
    .option(
      '--keep <n>',
      "cut its feed here: how many of its entries stay in the fleet's record (every agent ends up holding exactly these, later ones are refused)"
    )
    .addHelpText(
      'after',
      `
Example:
  fleet revoke --state ~/.fleet-owner DEVICEID --reason 'laptop stolen'
Revocations spread agent to agent with the owner's feed, so reaching one agent is enough; more is faster.
Without --keep, each agent keeps what it held of the device's feed when it learnt of the revocation.
With it, every agent holds the same entries: those it lacks below the cut it still takes from its
peers, and those it held past the cut are kept apart and not served. How much an agent holds of
the feed: fleet status --state DIR --json (heads) or fleet ledger tail --state DIR --feed DEVICEID.`
    )
    .action(async (deviceId: string, options: StatementOptions & { reason: string; keep?: string }) => {
      if (options.keep !== undefined && !/^(0|[1-9]\d{0,14})$/.test(options.keep))
        throw new UsageError('--keep must be a whole number of entries')
      const keep = options.keep === undefined ? undefined : Number(options.keep)
      // Once revoked, a device is revoked for good; a later statement can only cut its feed earlier.
      const reached = await publishStatement(deviceId, options, (about, actor) => {
        const earlier = about
          .filter((entry) => entry.type === 'device.revoke')
          .map((entry) => entry.body.keep as number | undefined)
        const cutEarlier = keep !== undefined && earlier.every((k) => k === undefined || k > keep)
        if (earlier.length > 0 && !cutEarlier) return undefined
        // No cut is no field in the signed body (the ledger's bodies have no undefined values).
        const body: Record<string, unknown> = { deviceId, reason: options.reason }
        if (keep !== undefined) body.keep = keep
        return { type: 'device.revoke', actor, attest: null, body }
      })
      makeOutput(options.json === true).result(
        { deviceId, revoked: true, keep, reached },
        `revoked ${deviceId}${keep === undefined ? '' : `, its feed cut at ${keep} entries`}; handed to ${reached.length} agent(s)${reached.length === 0 ? notReached : ''}`
      )
    })
}

/**
 * fleet clear-quarantine --state OWNERDIR DEVICEID --reason TEXT --evidence HEX [--peer MA]... [--json]
 */
export function registerClearQuarantineCommand(program: Command): void {
  statementCommand(
    program,
    'clear-quarantine',
    'let a device quarantined for equivocation back in: an owner-signed device.clear_quarantine of one piece of evidence, handed to the agents found'
  )
    .requiredOption(
      '--evidence <id>',
      'the evidence cleared: its id (64 hex digits), as the agents log it with the quarantine'
    )
    .addHelpText(
      'after',
      `
Example:
  fleet clear-quarantine --state ~/.fleet-owner DEVICEID --reason 'fork explained: restored VM' --evidence EVIDENCEID
Only that evidence is cleared: a new fork of the device's feed (in any epoch) quarantines it again.
Agents then admit and attest the device again; entries that contradict what an agent holds stay
refused there. A revocation is not undone by this. To let a device go on with a second history
(e.g. re-provisioned from a backup), authorise it with fleet new-epoch instead.`
    )
    .action(async (deviceId: string, options: StatementOptions & { reason: string; evidence: string }) => {
      if (!/^[0-9a-f]{64}$/.test(options.evidence))
        throw new UsageError('--evidence must be an evidence id (64 hex digits)')
      const evidence = new Uint8Array(Buffer.from(options.evidence, 'hex'))
      const reached = await publishStatement(deviceId, options, (about, actor) =>
        about.some(
          (entry) =>
            entry.type === 'device.clear_quarantine' &&
            entry.body.evidence instanceof Uint8Array &&
            Buffer.from(entry.body.evidence).equals(evidence)
        )
          ? undefined
          : {
              type: 'device.clear_quarantine',
              actor,
              attest: null,
              body: { deviceId, evidence, reason: options.reason }
            }
      )
      makeOutput(options.json === true).result(
        { deviceId, evidence: options.evidence, cleared: true, reached },
        `cleared evidence ${options.evidence} against ${deviceId}; handed to ${reached.length} agent(s)${reached.length === 0 ? notReached : ''}`
      )
    })
}

/**
 * fleet new-epoch --state OWNERDIR DEVICEID --reason TEXT --epoch N --fork-size N --fork-root HEX [--peer MA]... [--json]
 */
export function registerNewEpochCommand(program: Command): void {
  statementCommand(
    program,
    'new-epoch',
    "authorise a second history of a device's feed (e.g. after re-provisioning from a backup): an owner-signed device.new_epoch, handed to the agents found"
  )
    .requiredOption('--epoch <n>', 'the new epoch (2 or more; each epoch once)')
    .requiredOption('--fork-size <n>', 'how many entries of the old history the new one keeps')
    .requiredOption(
      '--fork-root <hex>',
      "the tree root of those entries (64 hex digits; fleet ledger tail/verify on the device's store shows roots)"
    )
    .addHelpText(
      'after',
      `
Example:
  fleet new-epoch --state ~/.fleet-owner DEVICEID --reason 'restored from backup' --epoch 2 --fork-size 1200 --fork-root ROOTHEX
Agents and auditors then accept checkpoints of the device's feed in that epoch whose tree has that
root at that size, and no longer take the old history past the fork for equivocation. Any other
epoch, or another fork, stays refused, and any fork within one epoch is equivocation.`
    )
    .action(
      async (
        deviceId: string,
        options: StatementOptions & { reason: string; epoch: string; forkSize: string; forkRoot: string }
      ) => {
        if (!/^[1-9]\d{0,8}$/.test(options.epoch) || Number(options.epoch) < 2)
          throw new UsageError('--epoch must be an integer of at least 2')
        if (!/^(0|[1-9]\d{0,14})$/.test(options.forkSize))
          throw new UsageError('--fork-size must be a whole number of entries')
        if (!/^[0-9a-f]{64}$/.test(options.forkRoot))
          throw new UsageError('--fork-root must be a tree root (64 hex digits)')
        const epoch = Number(options.epoch)
        const forkSize = Number(options.forkSize)
        const forkRoot = new Uint8Array(Buffer.from(options.forkRoot, 'hex'))
        const reached = await publishStatement(deviceId, options, (about, actor) => {
          const earlier = about.find((entry) => entry.type === 'device.new_epoch' && entry.body.epoch === epoch)
          if (earlier === undefined)
            return {
              type: 'device.new_epoch',
              actor,
              attest: null,
              body: { deviceId, epoch, forkSize, forkRoot, reason: options.reason }
            }
          if (earlier.body.forkSize !== forkSize || !Buffer.from(earlier.body.forkRoot as Uint8Array).equals(forkRoot))
            throw new FleetError(`epoch ${epoch} of ${deviceId} is authorised already, with another fork point`, {
              code: 'ERR_EPOCH_TAKEN'
            })
          return undefined
        })
        makeOutput(options.json === true).result(
          { deviceId, epoch, forkSize, forkRoot: options.forkRoot, reached },
          `authorised epoch ${epoch} of ${deviceId}, forking after ${forkSize} entries; handed to ${reached.length} agent(s)${reached.length === 0 ? notReached : ''}`
        )
      }
    )
}
