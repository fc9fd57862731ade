import type { Command } from 'commander'
import { writeFile } from 'node:fs/promises'
import {
  parseEventLog, replayEventLog, verifyEventLog, bootFacts, createBootPolicy, canonicalPolicyJson, bootPolicyId, EVENTLOG_LIMITS, PCR_COUNT
} from '../../attest/index.js'
import { UsageError } from '../../common/index.js'
import { makeOutput } from '../output.js'
import { readInputFile } from '../options.js'

/**
 * fleet policy create --from-eventlog FILE [--pcrs 0,1,2,3,4,7] [--secure-boot required|any] --out policy.json
 */
export function registerPolicyCommands (program: Command): void {
  const policy = program.command('policy').description('boot policies: what a known-good boot looks like')

  policy.command('create')
    .description('build a boot policy from a known-good event log')
    .requiredOption('--from-eventlog <file>', 'event log of a boot you know to be good')
    .option('--pcrs <list>', 'PCRs the policy covers (comma-separated)', '0,1,2,3,4,7')
    .option('--secure-boot <mode>', '"required" or "any" (default: required when the reference boot had it on)')
    .requiredOption('--out <file>', 'where to write the policy (JSON)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExample:\n  fleet policy create --from-eventlog good-boot.bin --pcrs 0,2,4,7 --out policy.json')
    .action(async (options: { fromEventlog: string, pcrs: string, secureBoot?: string, out: string, json?: boolean }) => {
      const pcrs = options.pcrs.split(',').map((text) => {
        if (!/^\d{1,2}$/.test(text) || Number(text) >= PCR_COUNT) throw new UsageError(`--pcrs: "${text}" is not a PCR number`)
        return Number(text)
      })
      if (options.secureBoot !== undefined && options.secureBoot !== 'required' && options.secureBoot !== 'any') throw new UsageError('--secure-boot must be "required" or "any"')
      const log = parseEventLog(await readInputFile(options.fromEventlog, 'event log', EVENTLOG_LIMITS.maxLogBytes))
      // The reference log is trusted on the operator's word, but still replayed and verified
      // against its own replay, so only events that reach PCRs are taken.
      const verified = verifyEventLog(log, replayEventLog(log))
      const bank = verified.banks.includes('sha256') ? 'sha256' : verified.banks[0]!
      const created = createBootPolicy(verified.events, bootFacts(verified, bank).secureBoot, {
        pcrs, bank, ...(options.secureBoot === undefined ? {} : { secureBoot: options.secureBoot as 'required' | 'any' })
      })
      const json = canonicalPolicyJson(created)
      await writeFile(options.out, JSON.stringify(JSON.parse(json), null, 2) + '\n')
      const id = bootPolicyId(created)
      makeOutput(options.json === true).result({ out: options.out, policyId: id, pcrs: created.pcrs, secureBoot: created.secureBoot },
        `policy ${id.slice(0, 16)}… written to ${options.out} (PCRs ${created.pcrs.join(',')}, Secure Boot ${created.secureBoot})`)
    })
}
