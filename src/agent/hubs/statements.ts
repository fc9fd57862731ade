/**
 * The owner's list of hubs, from its feed: where the fleet's hubs are, so that a device learns it
 * from the owner and nothing new has to be trusted. The actions are not built into the ontology
 * (BASE_ONTOLOGY stays as it is): `fleet hub add` defines them first, in an owner ontology.update,
 * when the ontology in force lacks them. An agent acts on a statement only when the action's spec
 * in force is exactly the well-known one below.
 *
 *   fleet.hub         {deviceId, address}   an enrolled hub's address (reached as address/p2p/<its PeerId>)
 *   fleet.hub_remove  {deviceId, reason}    no longer a hub to reach the fleet through
 *
 * A listed hub is used only as an enrolled, unrevoked, unquarantined member, attested on its own
 * connection like any peer; its PeerId comes from its enrolment record, never from the address.
 * Do NOT change these specs: agents compare them byte for byte (canonical CBOR of the stated form).
 */
import type { Field } from '../../codec/index.js'
import { definesAction, missingActions, type ActionSpec, type Entry, type Ontology } from '../../ledger/index.js'
import { RELAY_LIMITS } from '../../p2p/index.js'

const DEVICE_ID: Field = { kind: 'string', max: 52, pattern: '^[a-z2-7]{52}$' }
/** A direct multiaddr without a PeerId (it is the enrolment record's) and not itself relayed. */
const ADDRESS: Field = { kind: 'string', max: 256, pattern: '^/(?!.*/p2p(-circuit)?(/|$))[^\\s]+$' }
const REASON: Field = { kind: 'string', max: 256 }

export const HUB_ACTIONS: Readonly<Record<string, ActionSpec>> = {
  'fleet.hub': { roles: ['owner'], body: { deviceId: DEVICE_ID, address: ADDRESS } },
  'fleet.hub_remove': { roles: ['owner'], body: { deviceId: DEVICE_ID, reason: REASON } }
}

/** The hub actions `ontology` lacks (what an owner's ontology.update must add); throws when one is defined otherwise. */
export function missingHubActions(ontology: Ontology): Record<string, ActionSpec> {
  return missingActions(ontology, HUB_ACTIONS)
}

/** A hub the owner listed: the device, and where it is reached. */
export interface ListedHub {
  readonly deviceId: string
  readonly address: string
}

/** The hubs in force, as the owner's statements so far say (at most RELAY_LIMITS.maxHubs). */
export class HubList {
  private readonly hubs = new Map<string, ListedHub>()

  /**
   * Applies a verified entry of the owner's feed, in feed order, with the ontology in force at it.
   * Returns what changed; undefined for other actions, for a statement whose action is not the
   * well-known one, and for a hub beyond the cap.
   */
  apply(entry: Entry, ontology: Ontology): { deviceId: string; change: 'added' | 'removed' } | undefined {
    const spec = Object.hasOwn(HUB_ACTIONS, entry.type) ? HUB_ACTIONS[entry.type] : undefined
    if (spec === undefined || !definesAction(ontology, entry.type, spec)) return undefined
    const deviceId = String(entry.body.deviceId)
    if (entry.type === 'fleet.hub_remove')
      return this.hubs.delete(deviceId) ? { deviceId, change: 'removed' } : undefined
    if (!this.hubs.has(deviceId) && this.hubs.size >= RELAY_LIMITS.maxHubs) return undefined
    this.hubs.set(deviceId, { deviceId, address: String(entry.body.address) })
    return { deviceId, change: 'added' }
  }

  list(): ListedHub[] {
    return [...this.hubs.values()]
  }
}
