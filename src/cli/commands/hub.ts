/**
 * fleet hub add --state OWNERDIR DEVICEID --address MULTIADDR [statement options]
 * fleet hub remove --state OWNERDIR DEVICEID --reason TEXT [statement options]
 * fleet hub list --state DIR [--json]
 *
 * The owner's list of hubs (fleet.hub): where the fleet's hubs are reached. Every agent keeps a
 * link to each listed hub that is an enrolled member in good standing, attests it like any peer,
 * and reaches members at other sites through it. The first `add` also defines the actions, in an
 * owner ontology.update, when the fleet's ontology lacks them.
 *
 * Exit codes: 0 done; 1 not an enrolled hub, too many hubs, no such hub, or the fleet's ontology
 * defines the actions otherwise; 2 a malformed address or deviceId.
 */
import type { Command } from 'commander'
import { multiaddr } from '@multiformats/multiaddr'
import { HubList, feedIdentityOf, missingHubActions } from '../../agent/index.js'
import { FleetError, UsageError } from '../../common/index.js'
import { BASE_ONTOLOGY, ontologyAfter, type Entry, type Ontology } from '../../ledger/index.js'
import { RELAY_LIMITS } from '../../p2p/index.js'
import { storedOwnerEntries } from '../ledger-store.js'
import { makeOutput } from '../output.js'
import * as statements from '../owner-statement.js'

/** The ontology in force after `entries` of the owner's feed, the hubs they list, and each device's enrolled role. */
function replay(entries: readonly Entry[]): { ontology: Ontology; hubs: HubList; roles: Map<string, string> } {
  let ontology = BASE_ONTOLOGY
  const hubs = new HubList()
  const roles = new Map<string, string>()
  for (const entry of entries) {
    hubs.apply(entry, ontology)
    if (entry.type === 'device.enrol') roles.set(String(entry.body.deviceId), String(entry.body.role))
    if (entry.type === 'device.revoke') roles.delete(String(entry.body.deviceId))
    ontology = ontologyAfter(ontology, entry)
  }
  return { ontology, hubs, roles }
}

function checkDeviceId(text: string): string {
  if (!/^[a-z2-7]{52}$/.test(text)) throw new UsageError('the deviceId must be 52 base32 characters')
  return text
}

/** A hub's address as the statement holds it: a direct multiaddr, without a PeerId (the enrolment record's is used). */
function checkAddress(text: string): string {
  let components: ReturnType<ReturnType<typeof multiaddr>['getComponents']>
  try {
    components = multiaddr(text).getComponents()
  } catch (err) {
    throw new UsageError(`--address ${text}: not a multiaddr (${(err as Error).message})`)
  }
  if (components.some((c) => c.name === 'p2p' || c.name === 'p2p-circuit') || text.length > 256 || /\s/.test(text))
    throw new UsageError(
      '--address must be a direct multiaddr without /p2p/ (the PeerId comes from the enrolment record), e.g. /dns4/hub.example.org/tcp/7000'
    )
  return text
}

export function registerHubCommands(program: Command): void {
  const hub = program
    .command('hub')
    .description("the owner's list of hubs: enrolled hubs every agent reaches the fleet through across sites")

  statements
    .statementOptions(
      hub
        .command('add')
        .description("list an enrolled hub and its address: an owner-signed fleet.hub in the owner's feed")
        .requiredOption('--state <dir>', 'owner state directory')
        .argument('<deviceId>', 'the hub (a device enrolled with --role hub)')
        .requiredOption(
          '--address <multiaddr>',
          'where every site reaches it, without /p2p/ (e.g. /dns4/hub.example.org/tcp/7000)'
        )
        .addHelpText(
          'after',
          `
Example:
  fleet hub add --state ~/.fleet-owner DEVICEID --address /dns4/hub.example.org/tcp/7000
Agents follow the list within a round (10 s); an agent that knew of no hub when it started needs
a restart to hold a reservation (it says so in its log).`
        )
    )
    .action(async (deviceId: string, options: statements.StatementOptions & { address: string }) => {
      checkDeviceId(deviceId)
      const address = checkAddress(options.address)
      const reached = await statements.publishOwnerStatement(options, (entries, actor) => {
        const { ontology, hubs, roles } = replay(entries)
        const role = roles.get(deviceId)
        if (role === undefined)
          throw new FleetError(`device ${deviceId} is not an enrolled member of this fleet`, {
            code: 'ERR_UNKNOWN_DEVICE'
          })
        if (role !== 'hub')
          throw new FleetError(`device ${deviceId} is enrolled as ${role}, not as a hub: it does not relay`, {
            code: 'ERR_NOT_A_HUB'
          })
        const listed = hubs.list()
        if (listed.some((h) => h.deviceId === deviceId && h.address === address)) return undefined
        if (listed.length >= RELAY_LIMITS.maxHubs && !listed.some((h) => h.deviceId === deviceId))
          throw new FleetError(`${RELAY_LIMITS.maxHubs} hubs are listed already: remove one first`, {
            code: 'ERR_TOO_MANY_HUBS'
          })
        return statements.definedFirst(ontology, missingHubActions, actor, {
          type: 'fleet.hub',
          body: { deviceId, address }
        })
      })
      makeOutput(options.json === true).result(
        { deviceId, address, reached },
        `hub ${deviceId} at ${address}; handed to ${reached.length} agent(s)${reached.length === 0 ? statements.notReached : ''}`
      )
    })

  statements
    .statementOptions(
      hub
        .command('remove')
        .description("take a hub off the list: an owner-signed fleet.hub_remove in the owner's feed")
        .requiredOption('--state <dir>', 'owner state directory')
        .argument('<deviceId>', 'the hub')
        .requiredOption('--reason <text>', 'why (recorded in the ledger)')
        .addHelpText(
          'after',
          "\nExample:\n  fleet hub remove --state ~/.fleet-owner DEVICEID --reason 'moved to the new data centre'"
        )
    )
    .action(async (deviceId: string, options: statements.StatementOptions & { reason: string }) => {
      checkDeviceId(deviceId)
      if (options.reason.length === 0 || options.reason.length > 256)
        throw new UsageError('--reason must be 1..256 characters')
      const reached = await statements.publishOwnerStatement(options, (entries, actor) => {
        if (
          !replay(entries)
            .hubs.list()
            .some((h) => h.deviceId === deviceId)
        )
          throw new FleetError(`no hub ${deviceId} is listed`, { code: 'ERR_UNKNOWN_HUB' })
        return { type: 'fleet.hub_remove', actor, attest: null, body: { deviceId, reason: options.reason } }
      })
      makeOutput(options.json === true).result(
        { deviceId, removed: true, reached },
        `hub ${deviceId} removed; handed to ${reached.length} agent(s)${reached.length === 0 ? statements.notReached : ''}`
      )
    })

  hub
    .command('list')
    .description("the hubs, as the owner's feed held here says")
    .requiredOption('--state <dir>', 'device or owner state directory')
    .option('--json', 'print the list as JSON')
    .addHelpText('after', '\nExample:\n  fleet hub list --state /var/lib/fleet --json')
    .action(async (options: { state: string; json?: boolean }) => {
      const identity = await feedIdentityOf(options.state)
      const list = replay(await storedOwnerEntries(options.state, identity)).hubs.list()
      makeOutput(options.json === true).result(
        { hubs: list },
        list.length === 0 ? 'no hubs listed' : list.map((h) => `${h.deviceId}  ${h.address}`).join('\n')
      )
    })
}
