/**
 * fleet witness add --state OWNERDIR --url URL --vkey VKEY [statement options]
 * fleet witness remove --state OWNERDIR NAME --reason TEXT [statement options]
 * fleet witness list --state DIR [--json]
 *
 * External witnesses (c2sp.org/tlog-witness): services outside the fleet to which every agent
 * submits its own feed's checkpoints, keeping their Ed25519 cosignatures beside the fleet's. The
 * owner lists them in its feed (witness.external); the first `add` also defines the actions, in
 * an owner ontology.update, when the fleet's ontology lacks them.
 *
 * Exit codes: 0 done; 1 the fleet's ontology defines the actions otherwise, or no such witness;
 * 2 a malformed URL or verifier key.
 */
import type { Command } from 'commander'
import {
  EXTERNAL_WITNESS_LIMITS,
  ExternalWitnessList,
  feedIdentityOf,
  missingWitnessActions
} from '../../agent/index.js'
import { FleetError, UsageError } from '../../common/index.js'
import { BASE_ONTOLOGY, ontologyAfter, parseWitnessKey, type Entry, type Ontology } from '../../ledger/index.js'
import { storedOwnerEntries } from '../ledger-store.js'
import { makeOutput } from '../output.js'
import {
  definedFirst,
  notReached,
  publishOwnerStatement,
  statementOptions,
  type StatementOptions
} from '../owner-statement.js'

/** The ontology in force after `entries` of the owner's feed, and the external witnesses they list. */
function replay(entries: readonly Entry[]): { ontology: Ontology; witnesses: ExternalWitnessList } {
  let ontology = BASE_ONTOLOGY
  const witnesses = new ExternalWitnessList()
  for (const entry of entries) {
    witnesses.apply(entry, ontology)
    ontology = ontologyAfter(ontology, entry)
  }
  return { ontology, witnesses }
}

function checkUrl(text: string): string {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new UsageError('--url must be a URL (the witness submission prefix)')
  }
  if (
    (url.protocol !== 'https:' && url.protocol !== 'http:') ||
    url.username !== '' ||
    url.password !== '' ||
    url.search !== '' ||
    url.hash !== '' ||
    text.length > EXTERNAL_WITNESS_LIMITS.maxUrlLength ||
    // The well-known witness.external spec's url pattern: no whitespace and no '@' anywhere.
    /[\s@]/.test(text)
  )
    throw new UsageError("--url must be an http(s) URL without credentials, query, fragment or '@'")
  return text.replace(/\/+$/, '')
}

export function registerWitnessCommands(program: Command): void {
  const witness = program
    .command('witness')
    .description("external witnesses (C2SP tlog-witness) that cosign every device's checkpoints")

  statementOptions(
    witness
      .command('add')
      .description(
        "list an external witness: an owner-signed witness.external in the owner's feed (with the ontology.update defining it, the first time), handed to the agents found"
      )
      .requiredOption('--state <dir>', 'owner state directory')
      .requiredOption('--url <url>', "the witness's submission prefix (add-checkpoint is POSTed under it)")
      .requiredOption('--vkey <vkey>', "the witness's verifier key: name+keyid+base64(0x04 ‖ Ed25519 key)")
  )
    .addHelpText(
      'after',
      `
Example:
  fleet witness add --state /var/lib/fleet-owner --url https://witness.example/w1 \\
      --vkey 'witness.example/w1+1a2b3c4d+BK…'
The witness must be configured with each device's checkpoint key for its origin
(fleet/<fleetId>/<deviceId>); see docs/design.md, "External witnesses".`
    )
    .action(async (options: StatementOptions & { url: string; vkey: string }) => {
      const url = checkUrl(options.url)
      let name: string
      try {
        name = parseWitnessKey(options.vkey).name
      } catch (err) {
        throw new UsageError(`--vkey: ${(err as Error).message}`)
      }
      const reached = await publishOwnerStatement(options, (entries, actor) => {
        const { ontology, witnesses } = replay(entries)
        if (witnesses.list().some((w) => w.name === name && w.url === url && w.vkey === options.vkey)) return undefined
        // Agents take at most this many; a statement past it would be listed here and used nowhere.
        const listed = witnesses.list()
        if (listed.length >= EXTERNAL_WITNESS_LIMITS.maxWitnesses && !listed.some((w) => w.name === name))
          throw new FleetError(
            `${EXTERNAL_WITNESS_LIMITS.maxWitnesses} external witnesses are listed already: remove one first`,
            { code: 'ERR_TOO_MANY_WITNESSES' }
          )
        return definedFirst(ontology, missingWitnessActions, actor, {
          type: 'witness.external',
          body: { name, url, vkey: options.vkey }
        })
      })
      makeOutput(options.json === true).result(
        { name, url, reached },
        `external witness ${name} at ${url}; handed to ${reached.length} agent(s)${reached.length === 0 ? notReached : ''}`
      )
    })

  statementOptions(
    witness
      .command('remove')
      .description("stop using an external witness: an owner-signed witness.external_remove in the owner's feed")
      .requiredOption('--state <dir>', 'owner state directory')
      .argument('<name>', "the witness's name (as in its verifier key)")
      .requiredOption('--reason <text>', 'why (recorded in the ledger)')
      .addHelpText(
        'after',
        "\nExample:\n  fleet witness remove --state ~/.fleet-owner witness.example.org --reason 'operator retired it'"
      )
  ).action(async (name: string, options: StatementOptions & { reason: string }) => {
    if (options.reason.length === 0 || options.reason.length > 256)
      throw new UsageError('--reason must be 1..256 characters')
    const reached = await publishOwnerStatement(options, (entries, actor) => {
      const { witnesses } = replay(entries)
      if (!witnesses.list().some((w) => w.name === name))
        throw new FleetError(`no external witness named ${name} is listed`, { code: 'ERR_UNKNOWN_WITNESS' })
      return { type: 'witness.external_remove', actor, attest: null, body: { name, reason: options.reason } }
    })
    makeOutput(options.json === true).result(
      { name, removed: true, reached },
      `external witness ${name} removed; handed to ${reached.length} agent(s)${reached.length === 0 ? notReached : ''}`
    )
  })

  witness
    .command('list')
    .description("the external witnesses, as the owner's feed held here says")
    .requiredOption('--state <dir>', 'device or owner state directory')
    .option('--json', 'print the list as JSON')
    .addHelpText('after', '\nExample:\n  fleet witness list --state /var/lib/fleet-agent --json')
    .action(async (options: { state: string; json?: boolean }) => {
      const identity = await feedIdentityOf(options.state)
      const { witnesses } = replay(await storedOwnerEntries(options.state, identity))
      const list = witnesses.list().map((w) => ({
        name: w.name,
        url: w.url,
        vkey: w.vkey,
        addedAt: new Date(w.addedAt).toISOString()
      }))
      makeOutput(options.json === true).result(
        { witnesses: list },
        list.length === 0
          ? 'no external witnesses'
          : list.map((w) => `${w.name}  ${w.url}  since ${w.addedAt}`).join('\n')
      )
    })
}
