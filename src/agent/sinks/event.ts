/**
 * An event as sinks send it: a ledger entry this agent holds, seen as JSON (the export's derived
 * view, ledger/export-view.ts), with its stable id and its hash. Frozen format (receivers parse
 * it): add fields, never rename or change one.
 *   id      "<feed>/<seq>": the same entry always has the same id; delivery is at least once, so
 *           a receiver drops an id it has seen (two different hashes under one id mean the owner
 *           authorised a new history of that feed, device.new_epoch)
 *   feed    the feed (device id) the entry is in; seq its place there
 *   hash    hex SHA-256 of the entry's bytes: what `fleet ledger export` lists for the entry
 *   type, actor, device, time, timeMs, body (or bodyOmitted): as in the export's view
 */
import { toHex } from '../../common/index.js'
import { decodeEntry, entryView, type EntryView } from '../../ledger/index.js'
import type { SinkEventType } from '../ops/index.js'

export interface SinkEvent extends EntryView {
  id: string
  feed: string
  hash: string
}

/** The event of a stored entry (its bytes as the ledger holds them: verified when they were stored). */
export function sinkEventOf(bytes: Uint8Array): SinkEvent {
  const { entry, hash } = decodeEntry(bytes)
  return { id: `${entry.feed}/${entry.seq}`, feed: entry.feed, hash: toHex(hash), ...entryView(entry) }
}

/** Syslog severities (RFC 5424 §6.2.1) used here. */
export const SEVERITY = { alert: 1, critical: 2, warning: 4, notice: 5, informational: 6 } as const

/**
 * How grave an event is, as a syslog severity: a device found to lie (a clone, two histories, a
 * changed PCR, a cloned security key, an external witness holding another view of its feed) is an alert; a revocation proved from another branch of the
 * owner's feed is critical; an untrusted verdict a warning; the owner's revocations and workload
 * stops a notice; a trusted verdict information.
 */
export function severityOf(event: Pick<SinkEvent, 'type' | 'body'>): number {
  switch (event.type as SinkEventType) {
    case 'alert.clone_suspected':
    case 'alert.equivocation':
    case 'alert.tamper':
    case 'alert.cloned_authenticator':
    case 'alert.external_witness':
      return SEVERITY.alert
    case 'alert.revocation':
      return SEVERITY.critical
    case 'attest.verdict': {
      const body = event.body as { trusted?: unknown } | undefined
      return body?.trusted === true ? SEVERITY.informational : SEVERITY.warning
    }
    default:
      return SEVERITY.notice
  }
}
