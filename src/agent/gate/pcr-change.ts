/**
 * Why a PCR of the sealing selection no longer holds the value the keys were released under, in
 * words: the events the boot event log gained for it since the release, and whether they account
 * for the change (the released value extended by them is the value now) or the PCR was extended
 * outside the log (a runtime tpm2_pcrextend, say).
 *
 * The log is the device's own unverified file, and whoever can extend a PCR can append to it: the
 * explanation only adds words to a refusal, it never decides one. The refusal rests on the PCR
 * values alone, so a log that cannot be read or parsed changes the words, not the verdict.
 *
 * Pure: the gate reads the TPM and the log and hands both here.
 */
import {
  EV,
  describeEvent,
  digest,
  initialPcrValue,
  type HashAlg,
  type LogEvent,
  type UnverifiedEventLog
} from '../../attest/index.js'
import { bytesEqual, toHex } from '../../common/index.js'
import { GATE_LIMITS } from './limits.js'

/** How many measured events extended each PCR in the log read right after the keys' release. */
export type LogAtRelease = ReadonlyMap<number, number>

/** A PCR of the selection whose value is not the released one. */
export interface PcrChange {
  bank: HashAlg
  pcr: number
  /** The value the keys were released under. */
  was: Uint8Array
  now: Uint8Array
}

/** The event log as read to explain a change: parsed, or why it could not be. */
export type LogNow = { log: UnverifiedEventLog } | { error: string }

/** Counts the measured events of every PCR (for LogAtRelease). */
export function eventsPerPcr(log: UnverifiedEventLog): Map<number, number> {
  const counts = new Map<number, number>()
  for (const event of log.events)
    if (event.type !== EV.EV_NO_ACTION) counts.set(event.pcr, (counts.get(event.pcr) ?? 0) + 1)
  return counts
}

/**
 * The explanation of one changed PCR, one clause for a refusal reason: the events logged since the
 * release (at most GATE_LIMITS.maxEventsNamed, each description cut to maxEventDescriptionChars)
 * and whether they account for the value now. `atRelease` undefined (the log could not be read at
 * the release): the release point is the shortest prefix of the PCR's events that replays to the
 * released value.
 */
export function explainPcrChange(change: PcrChange, atRelease: LogAtRelease | undefined, logNow: LogNow): string {
  if ('error' in logNow) return `the event log could not be read (${cut(logNow.error, GATE_LIMITS.maxLogErrorChars)})`
  const { log } = logNow
  if (!log.banks.includes(change.bank)) return `the event log cannot be replayed in the ${change.bank} bank`
  const events = log.events.filter((event) => event.pcr === change.pcr && event.type !== EV.EV_NO_ACTION)
  const since = eventsSinceRelease(events, change, atRelease, log.startupLocality)
  if (since === undefined) {
    const initial = initialPcrValue(change.bank, change.pcr, log.startupLocality)
    return bytesEqual(extendAll(change.bank, initial, events), change.now)
      ? 'the event log accounts for it, but does not show which of its events came after the release'
      : 'no logged event accounts for it: extended outside the event log'
  }
  if (bytesEqual(extendAll(change.bank, change.was, since), change.now))
    return `the event log accounts for it: ${namedEvents(since, change.bank)} since the release`
  const gained = since.length === 0 ? '' : `; the log gained ${namedEvents(since, change.bank)} since the release`
  return `no logged event accounts for it: extended outside the event log${gained}`
}

/** The PCR's events after the release point; undefined when the log does not show where that was. */
function eventsSinceRelease(
  events: readonly LogEvent[],
  change: PcrChange,
  atRelease: LogAtRelease | undefined,
  startupLocality: number | undefined
): readonly LogEvent[] | undefined {
  if (atRelease !== undefined) {
    const count = atRelease.get(change.pcr) ?? 0
    // Fewer events than at the release: the log was replaced or cut, its tail says nothing.
    return events.length < count ? undefined : events.slice(count)
  }
  let value = initialPcrValue(change.bank, change.pcr, startupLocality)
  for (let count = 0; count <= events.length; count++) {
    if (bytesEqual(value, change.was)) return events.slice(count)
    if (count < events.length) value = extend(change.bank, value, events[count]!)
  }
  return undefined
}

function extend(bank: HashAlg, value: Uint8Array, event: LogEvent): Uint8Array {
  // An event without a digest of this bank is not replayable in it (parseEventLog leaves the bank
  // out of `banks`, checked before): the value stays, and cannot match a changed PCR.
  const measurement = event.digests[bank]
  return measurement === undefined ? value : digest(bank, value, measurement)
}

function extendAll(bank: HashAlg, from: Uint8Array, events: readonly LogEvent[]): Uint8Array {
  return events.reduce((value, event) => extend(bank, value, event), from)
}

/** `2 events: EV_IPL "grub_cmd: …" 1a2b3c4d…, … and 3 more`, bounded by GATE_LIMITS. */
function namedEvents(events: readonly LogEvent[], bank: HashAlg): string {
  const named = events.slice(0, GATE_LIMITS.maxEventsNamed).map((event) => {
    const measurement = event.digests[bank]
    const prefix = measurement === undefined ? '' : ` ${toHex(measurement).slice(0, 8)}…`
    return `${event.typeName} ${cut(describeEvent(event), GATE_LIMITS.maxEventDescriptionChars)}${prefix}`
  })
  const more = events.length - named.length
  return `${events.length} event${events.length === 1 ? '' : 's'}: ${named.join(', ')}${more > 0 ? ` and ${more} more` : ''}`
}

/**
 * Printable ASCII only, at most `max` characters: event data and error messages are the log's
 * words, and a refusal reason lands on a terminal and in the feed.
 */
function cut(text: string, max: number): string {
  const printable = text.replace(/[^\x20-\x7e]/g, '?')
  return printable.length > max ? `${printable.slice(0, max - 1)}…` : printable
}
