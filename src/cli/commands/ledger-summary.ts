import type { EntrySummary, FeedReport } from '../../ledger/index.js'

/** A time as ISO 8601, or as the milliseconds held where JavaScript's dates end. */
const timeText = (iso: string | null, ms: number): string => iso ?? `${ms} ms`

const entryText = (entry: EntrySummary | null): string =>
  entry === null
    ? 'none'
    : `${entry.seq} ${entry.type} by ${entry.actor.id} (${entry.actor.role}) at ${timeText(entry.time, entry.timeMs)}`

const range = (size: number): string => (size === 1 ? 'entry 0' : `entries 0–${size - 1}`)

/**
 * A verified feed's report as text an auditor can paste into theirs (fleet ledger verify without
 * --json): `heading`, then one line each for the fleet (`fleet`: its id and how it was pinned),
 * the entries, their time span, the checkpoints and what they seal, the witnesses, the tree root,
 * and the first and last entry.
 */
export function feedSummary(heading: string, fleet: string, report: FeedReport): string {
  const span = report.timeSpan
  const sealed = report.checkpoints === 0 ? 'none' : `${report.checkpoints}, sealing ${range(report.sealed)}`
  const pending = report.entries > report.sealed ? `; ${report.entries - report.sealed} entries not yet sealed` : ''
  const rows: Array<[string, string]> = [
    ['fleet', fleet],
    ['entries', String(report.entries)],
    ['time span', span === null ? 'none' : `${timeText(span.from, span.fromMs)} to ${timeText(span.to, span.toMs)}`],
    ['checkpoints', sealed + pending],
    [
      'witnesses',
      report.cosigners === 0
        ? 'no witness cosignatures'
        : `${report.cosigners} fleet device(s) cosigned, up to the checkpoint sealing ${range(report.cosignedUpTo)}`
    ],
    ['root', report.root],
    ['first entry', entryText(report.first)],
    ['last entry', entryText(report.last)]
  ]
  return `${heading}\n${rows.map(([name, value]) => `  ${name.padEnd(12)} ${value}`).join('\n')}\n`
}
