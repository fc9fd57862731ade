import type { Command } from 'commander'
import { writeFile } from 'node:fs/promises'
import {
  parseEventLog,
  replayEventLog,
  verifyEventLog,
  bootFacts,
  createBootPolicy,
  canonicalPolicyJson,
  bootPolicyId,
  parseBootPolicy,
  EVENTLOG_LIMITS,
  PCR_COUNT
} from '../../attest/index.js'
import { UsageError } from '../../common/index.js'
import {
  BASE_ONTOLOGY,
  applyVerifiedOntologyUpdate,
  formatOntologyActions,
  parseOntologyActions
} from '../../ledger/index.js'
import { encodeCanonical } from '../../codec/index.js'
import { publishOwnerStatement, statementOptions, notReached, type StatementOptions } from '../owner-statement.js'
import { makeOutput } from '../output.js'
import { readInputFile, repeatable } from '../options.js'

/**
 * fleet policy create --from-eventlog FILE [--from-eventlog FILE]… [--pcrs 0,1,2,3,4,7] [--secure-boot required|any] --out policy.json
 * fleet policy publish --state OWNERDIR --policy policy.json [--peer MA]…
 */
export function registerPolicyCommands(program: Command): void {
  const policy = program.command('policy').description('boot policies: what a known-good boot looks like')

  policy
    .command('create')
    .description('build a boot policy from a known-good event log')
    .requiredOption(
      '--from-eventlog <file>',
      'event log of a boot you know to be good; repeated, the events of each are allowed',
      repeatable
    )
    .option('--pcrs <list>', 'PCRs the policy covers (comma-separated)', '0,1,2,3,4,7')
    .option('--secure-boot <mode>', '"required" or "any" (default: required when every reference boot had it on)')
    .requiredOption('--out <file>', 'where to write the policy (JSON)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  fleet policy create --from-eventlog good-boot.bin --pcrs 0,2,4,7 --out policy.json\n  fleet policy create --from-eventlog old-kernel.bin --from-eventlog new-kernel.bin --out policy.json   # both boots allowed'
    )
    .action(
      async (options: { fromEventlog: string[]; pcrs: string; secureBoot?: string; out: string; json?: boolean }) => {
        const pcrs = options.pcrs.split(',').map((text) => {
          if (!/^\d{1,2}$/.test(text) || Number(text) >= PCR_COUNT)
            throw new UsageError(`--pcrs: "${text}" is not a PCR number`)
          return Number(text)
        })
        if (options.secureBoot !== undefined && options.secureBoot !== 'required' && options.secureBoot !== 'any')
          throw new UsageError('--secure-boot must be "required" or "any"')
        // Each reference log is trusted on the operator's word, but still replayed and verified
        // against its own replay, so only events that reach PCRs are taken. Several known-good
        // boots (an old and a new kernel, two firmware versions) give the union of their events.
        const references: Array<{ file: string; verified: ReturnType<typeof verifyEventLog> }> = []
        for (const file of options.fromEventlog) {
          const log = parseEventLog(await readInputFile(file, 'event log', EVENTLOG_LIMITS.maxLogBytes))
          references.push({ file, verified: verifyEventLog(log, replayEventLog(log)) })
        }
        const bank = references.every(({ verified }) => verified.banks.includes('sha256'))
          ? 'sha256'
          : references[0]!.verified.banks.find((b) => references.every(({ verified }) => verified.banks.includes(b)))
        if (bank === undefined) throw new UsageError('the event logs given share no PCR bank')
        const secureBootOn = references.map(({ file, verified }) => ({
          file,
          on: bootFacts(verified, bank).secureBoot
        }))
        const off = secureBootOn.find(({ on }) => on !== true)
        if (options.secureBoot === 'required' && off !== undefined)
          throw new UsageError(`Secure Boot is required but the reference boot ${off.file} does not show it on`)
        const created = createBootPolicy(
          references.flatMap(({ verified }) => verified.events),
          off === undefined,
          { pcrs, bank, secureBoot: options.secureBoot as 'required' | 'any' | undefined }
        )
        const json = canonicalPolicyJson(created)
        await writeFile(options.out, `${JSON.stringify(JSON.parse(json), null, 2)}\n`)
        const id = bootPolicyId(created)
        makeOutput(options.json === true).result(
          { out: options.out, policyId: id, pcrs: created.pcrs, secureBoot: created.secureBoot },
          `policy ${id.slice(0, 16)}… written to ${options.out} (PCRs ${created.pcrs.join(',')}, Secure Boot ${created.secureBoot})`
        )
      }
    )

  statementOptions(
    policy
      .command('publish')
      .description(
        "make a boot policy the fleet's: an owner-signed policy.set in the owner's feed, handed to the agents found; they judge every peer by it from then on"
      )
      .requiredOption('--state <dir>', 'owner state directory')
      .requiredOption('--policy <file>', 'the boot policy (fleet policy create)')
  )
    .addHelpText(
      'after',
      '\nExample:\n  fleet policy publish --state ~/.fleet-owner --policy policy.json\nAgents re-attest their connections at once under the new policy; peers whose boot it does not allow are refused, naming the PCRs.'
    )
    .action(async (options: StatementOptions & { policy: string }) => {
      const parsed = parseBootPolicy(await readInputFile(options.policy, 'boot policy', 1024 * 1024))
      const text = canonicalPolicyJson(parsed)
      const policyId = bootPolicyId(parsed)
      const reached = await publishOwnerStatement(options, (entries, actor) => {
        const sets = entries.filter((entry) => entry.type === 'policy.set')
        return sets.at(-1)?.body.policyId === policyId
          ? undefined
          : { type: 'policy.set', actor, attest: null, body: { policyId, policy: new Uint8Array(Buffer.from(text)) } }
      })
      makeOutput(options.json === true).result(
        { policyId, reached },
        `boot policy ${policyId.slice(0, 16)}… is the fleet's; handed to ${reached.length} agent(s)${reached.length === 0 ? notReached : ''}`
      )
    })
}

/**
 * fleet ontology publish --state OWNERDIR --file ACTIONS.json [--peer MA]…
 */
export function registerOntologyCommands(program: Command): void {
  const ontology = program.command('ontology').description('the typed actions the ledger accepts')
  ontology
    .command('show')
    .description('the actions of version 1 with their roles and body fields')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      `
Example:
  fleet ontology show --json | jq '.actions | keys'`
    )
    .action((options: { json?: boolean }) => {
      const stated = { version: BASE_ONTOLOGY.version, actions: formatOntologyActions(BASE_ONTOLOGY.actions) }
      makeOutput(options.json === true).result(
        stated,
        Object.entries(BASE_ONTOLOGY.actions)
          .map(
            ([name, spec]) =>
              `${name.padEnd(26)} ${spec.roles.join(',').padEnd(16)} ${Object.keys(spec.body).join(' ')}`
          )
          .join('\n')
      )
    })
  statementOptions(
    ontology
      .command('publish')
      .description(
        "add actions: an owner-signed ontology.update (the next version) in the owner's feed, handed to the agents found"
      )
      .requiredOption('--state <dir>', 'owner state directory')
      .requiredOption(
        '--file <file>',
        'JSON: {"version": N, "actions": {"name.of_action": {"roles": ["operator"], "body": {"field": {"kind": "string", "max": 128}}}}}'
      )
  )
    .addHelpText(
      'after',
      '\nExample:\n  fleet ontology publish --state ~/.fleet-owner --file actions.json\nUpdates only add actions; an action never changes meaning. Field kinds: string (max, pattern, oneOf), ' +
        'bytes (max, size), uint (max), bool, strings (maxItems, maxLength); any field may be optional.'
    )
    .action(async (options: StatementOptions & { file: string }) => {
      let value: { version?: unknown; actions?: unknown }
      try {
        value = JSON.parse(
          Buffer.from(await readInputFile(options.file, 'ontology update', 64 * 1024)).toString('utf8')
        ) as typeof value
      } catch (err) {
        if (err instanceof SyntaxError) throw new UsageError(`${options.file} is not JSON`)
        throw err
      }
      if (typeof value !== 'object' || value === null || typeof value.version !== 'number')
        throw new UsageError(`${options.file}: needs a version and actions`)
      const actions = parseOntologyActions(value.actions)
      const version = value.version
      const reached = await publishOwnerStatement(options, (entries, actor) => {
        const current = entries
          .filter((entry) => entry.type === 'ontology.update')
          .reduce((v, entry) => Math.max(v, entry.body.version as number), BASE_ONTOLOGY.version)
        const stated = encodeCanonical(formatOntologyActions(actions))
        if (version <= current) {
          // The same update again (a retry) is already done; anything else at a taken version is refused.
          const same = entries.some(
            (entry) =>
              entry.type === 'ontology.update' &&
              entry.body.version === version &&
              Buffer.from(entry.body.actions as Uint8Array).equals(stated)
          )
          if (same) return undefined
          throw new UsageError(
            `ontology version ${version} is taken (the fleet's ontology is version ${current}): publish version ${current + 1}`
          )
        }
        // Checked as the agents will check it, before anything is signed.
        applyVerifiedOntologyUpdate({ ...BASE_ONTOLOGY, version: current }, version, actions)
        return { type: 'ontology.update', actor, attest: null, body: { version, actions: stated } }
      })
      makeOutput(options.json === true).result(
        { version, actions: Object.keys(actions), reached },
        `ontology version ${version} (${Object.keys(actions).join(', ')}); handed to ${reached.length} agent(s)${reached.length === 0 ? notReached : ''}`
      )
    })
}
