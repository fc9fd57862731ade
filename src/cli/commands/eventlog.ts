import type { Command } from 'commander'
import { parseEventLog, replayEventLog, describeEvent, pcrValuesToJson, EVENTLOG_LIMITS } from '../../attest/index.js'
import { toHex } from '../../common/index.js'
import { makeOutput } from '../output.js'
import { readInputFile } from '../options.js'

/**
 * fleet eventlog replay FILE [--json]
 * fleet eventlog show FILE [--json]
 */
export function registerEventlogCommands(program: Command): void {
  const eventlog = program.command('eventlog').description('read TCG PC Client event logs (binary_bios_measurements)')

  eventlog
    .command('replay')
    .description('replay a log into the PCR values it produces, per bank (the log is NOT verified by this)')
    .argument('<file>', 'binary event log, e.g. /sys/kernel/security/tpm0/binary_bios_measurements')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  fleet eventlog replay /sys/kernel/security/tpm0/binary_bios_measurements --json'
    )
    .action(async (file: string, options: { json?: boolean }) => {
      const log = parseEventLog(await readInputFile(file, 'event log', EVENTLOG_LIMITS.maxLogBytes))
      const pcrs = pcrValuesToJson(replayEventLog(log))
      const events = log.events.length - (log.format === 'crypto-agile' ? 1 : 0)
      const text = [`format: ${log.format}, ${events} events, StartupLocality ${log.startupLocality ?? 0}`]
      for (const [bank, values] of Object.entries(pcrs))
        for (const [pcr, hex] of Object.entries(values)) text.push(`${bank.padEnd(7)} PCR ${pcr.padStart(2)}: ${hex}`)
      makeOutput(options.json === true).result(
        { format: log.format, events, startupLocality: log.startupLocality ?? 0, pcrs },
        text.join('\n')
      )
    })

  eventlog
    .command('show')
    .description('list the events of a log: index, PCR, type, digests and decoded data')
    .argument('<file>', 'binary event log')
    .option('--json', 'print the events as JSON')
    .addHelpText(
      'after',
      `
Example:
  fleet eventlog show /sys/kernel/security/tpm0/binary_bios_measurements | less`
    )
    .action(async (file: string, options: { json?: boolean }) => {
      const log = parseEventLog(await readInputFile(file, 'event log', EVENTLOG_LIMITS.maxLogBytes))
      const rows = log.events.map((event) => ({
        index: event.index,
        pcr: event.pcr,
        type: event.typeName,
        digests: Object.fromEntries(Object.entries(event.digests).map(([bank, value]) => [bank, toHex(value)])),
        data: describeEvent(event)
      }))
      const text = rows.map(
        (row) =>
          `#${String(row.index).padStart(3)} PCR ${String(row.pcr).padStart(2)} ${row.type.padEnd(34)} ${Object.entries(
            row.digests
          )
            .map(([b, d]) => `${b}:${d.slice(0, 16)}…`)
            .join(' ')}  ${row.data}`
      )
      makeOutput(options.json === true).result({ format: log.format, events: rows }, text.join('\n'))
    })
}
