/**
 * The owner's statements handed to the fleet (revoke, policy, ontology, actors, workloads,
 * releases, witnesses): appended to the owner's feed with its hardware keys, then handed to the
 * agents found, which spread them agent to agent.
 */
import type { Command } from 'commander'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { openOwnFeed, ownerFeedId, publishOwnerFeed, fleetServiceTag } from '../agent/index.js'
import {
  BASE_ONTOLOGY,
  decodeEntry,
  formatOntologyActions,
  ontologyAfter,
  type ActionSpec,
  type AppendInput,
  type Entry,
  type Ontology
} from '../ledger/index.js'
import { encodeCanonical } from '../codec/index.js'
import { FleetError } from '../common/index.js'
import type { HybridSigner } from '../identity/index.js'
import { createFleetNode, readNetworkKey } from '../p2p/index.js'
import { repeatable } from './options.js'
import { parseSeconds } from './confirm.js'
import { openOwner, pinOptions, type PinOptions } from './owner-access.js'
import { discover, parsePeer } from './peers.js'

/** Options shared by the owner's statements handed to the fleet (revoke, clear-quarantine, policy and ontology publish). */
export interface StatementOptions extends PinOptions {
  state: string
  tcti?: string
  peer?: string[]
  networkKey?: string
  timeout: string
  json?: boolean
}

/**
 * Appends an owner-signed statement (or several, in order) to the owner's feed (unless `make`,
 * given every entry of the feed, returns undefined: it is there already) and hands the feed to the agents found. Returns
 * the agents reached.
 */
export async function publishOwnerStatement(
  options: StatementOptions,
  make: (
    entries: Entry[],
    actor: { id: string; role: 'owner' },
    owner: { signer: HybridSigner; fleetId: Uint8Array }
  ) => AppendInput | AppendInput[] | undefined | Promise<AppendInput | AppendInput[] | undefined>
): Promise<string[]> {
  const seconds = parseSeconds(options.timeout, '--timeout')
  const peers = (options.peer ?? []).map(parsePeer)
  const networkKey = options.networkKey === undefined ? undefined : await readNetworkKey(options.networkKey)
  const owner = await openOwner(options)
  try {
    const { state: ownerState, tpm, signer, fleetId } = owner
    const feedId = ownerFeedId(fleetId)
    const feed = await openOwnFeed({ dir: options.state, tpm, signer, fleetId, feedId })
    try {
      const entries: Entry[] = []
      for (let seq = 0; seq < feed.ledger.size; seq++)
        entries.push(decodeEntry((await feed.ledger.getEntry(seq))!).entry)
      const statement = await make(
        entries,
        { id: `owner/${ownerState.name}`.slice(0, 128), role: 'owner' },
        { signer, fleetId }
      )
      // Several statements (e.g. an ontology.update and the first entry of an action it adds) go in
      // order, each checked against the ontology in force at it, as the agents will check them.
      let ontology = entries.reduce(ontologyAfter, BASE_ONTOLOGY)
      feed.ledger.useOntology(ontology)
      for (const one of statement === undefined ? [] : Array.isArray(statement) ? statement : [statement]) {
        const { seq } = await feed.ledger.append(one)
        if (one.type !== 'ontology.update') continue
        ontology = ontologyAfter(ontology, decodeEntry((await feed.ledger.getEntry(seq))!).entry)
        feed.ledger.useOntology(ontology)
      }
      await feed.ledger.checkpoint()
      const node = await createFleetNode({
        privateKey: await generateKeyPair('Ed25519'),
        admission: { allows: () => true },
        listen: ['/ip4/0.0.0.0/tcp/0'],
        networkKey,
        mdns: peers.length === 0,
        serviceTag: fleetServiceTag(fleetId)
      })
      try {
        const targets =
          peers.length > 0 ? peers : await discover(node, AbortSignal.timeout((seconds * 1000) / 2), { first: false })
        return await publishOwnerFeed(node, feed.store, feedId, feed.ledger.sealedSize, targets, {
          timeoutMs: seconds * 1000
        })
      } finally {
        await node.stop()
      }
    } finally {
      await feed.close()
    }
  } finally {
    await owner.close()
  }
}

/** Adds the options every owner statement takes. */
export function statementOptions(command: Command): Command {
  return pinOptions(command.option('--tcti <tcti>', 'TPM of this machine (default: the one given to fleet owner init)'))
    .option(
      '--peer <multiaddr>',
      'an agent to hand the statement to, repeatable (default: those found over mDNS)',
      repeatable
    )
    .option('--network-key <file>', "the fleet's private network key, when it has one (PSK v1 file, 0600)")
    .option('--timeout <seconds>', 'how long to look for agents and wait for them', '10')
    .option('--json', 'print the result as JSON')
}

export const notReached = ' — none reached yet: run the command again near the fleet, or with --peer'

/**
 * `statement` of a well-known action, after the owner's ontology.update that defines the actions
 * `missing` says the ontology in force lacks (none when it has them all). `missing` throwing (the
 * ontology defines one otherwise) is a FleetError ERR_ONTOLOGY_CONFLICT: exit 1.
 */
export function definedFirst(
  ontology: Ontology,
  missing: (ontology: Ontology) => Record<string, ActionSpec>,
  actor: { id: string; role: 'owner' },
  statement: Omit<AppendInput, 'actor' | 'attest'>
): AppendInput[] {
  let actions: Record<string, ActionSpec>
  try {
    actions = missing(ontology)
  } catch (err) {
    throw new FleetError((err as Error).message, { code: 'ERR_ONTOLOGY_CONFLICT' })
  }
  const statements: AppendInput[] = []
  if (Object.keys(actions).length > 0)
    statements.push({
      type: 'ontology.update',
      actor,
      attest: null,
      body: { version: ontology.version + 1, actions: encodeCanonical(formatOntologyActions(actions)) }
    })
  statements.push({ ...statement, actor, attest: null })
  return statements
}
