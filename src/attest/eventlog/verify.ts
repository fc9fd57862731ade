import { bytesEqual, toHex } from '../../common/index.js'
import { digest, type HashAlg, type PcrValues } from '../pcrs.js'
import {
  EventLogBankError,
  EventLogMissingEventsError,
  EventLogNotVerifiedError,
  EventLogPcrNotQuotedError,
  EventLogReplayMismatchError
} from './errors.js'
import { EVENTLOG_QUIRKS, type EventLogQuirk } from './quirks.js'
import { initialPcrValue, replayBank } from './replay.js'
import { EV, eventTypeName, type EventLogFormat, type LogEvent, type UnverifiedEventLog } from './types.js'

const CONSTRUCT: unique symbol = Symbol('VerifiedEventLog')

interface VerifiedFields {
  format: EventLogFormat
  banks: readonly HashAlg[]
  pcrs: Partial<Record<HashAlg, readonly number[]>>
  startupLocality: number | undefined
  events: readonly LogEvent[]
  quirk: string | undefined
}

/**
 * A log whose replay matched quoted PCR values. It keeps only what the quote vouches for: events of
 * PCRs that were quoted (and replayed) in at least one bank, with only the digests of those banks.
 * EV_NO_ACTION events are left out: they are never extended, so nothing vouches for them.
 *
 * Only verifyEventLog can make one (the constructor wants a module-private token, and the private
 * brand survives no copy), so a function that takes a VerifiedEventLog can rely on it.
 */
export class VerifiedEventLog {
  readonly #verified = true
  readonly format: EventLogFormat
  /** The quoted banks the log was replayed and matched in. */
  readonly banks: readonly HashAlg[]
  /** Per bank, the quoted PCRs that matched. */
  readonly pcrs: Readonly<Partial<Record<HashAlg, readonly number[]>>>
  /** The StartupLocality the matching PCR0 replay used; undefined when PCR0 was not quoted. */
  readonly startupLocality: number | undefined
  readonly events: readonly LogEvent[]
  /** Name of the quirk (EVENTLOG_QUIRKS) the replay needed to match, if any. */
  readonly quirk: string | undefined

  constructor(token: typeof CONSTRUCT, init: VerifiedFields) {
    if (token !== CONSTRUCT) throw new EventLogNotVerifiedError()
    this.format = init.format
    this.banks = Object.freeze([...init.banks])
    this.pcrs = Object.freeze({ ...init.pcrs })
    this.startupLocality = init.startupLocality
    this.events = Object.freeze([...init.events])
    this.quirk = init.quirk
    Object.freeze(this)
  }

  /** True only for logs returned by verifyEventLog (not for copies or look-alikes). */
  static isVerified(value: unknown): value is VerifiedEventLog {
    return typeof value === 'object' && value !== null && #verified in value
  }
}

/** Throws EventLogNotVerifiedError unless `log` came from verifyEventLog. */
export function requireVerified(log: unknown): asserts log is VerifiedEventLog {
  if (!VerifiedEventLog.isVerified(log)) throw new EventLogNotVerifiedError()
}

export interface VerifyOptions {
  /** PCRs that MUST be quoted (in at least one bank the log can replay), e.g. those a policy judges. */
  requiredPcrs?: readonly number[]
  /** The quirks to try when the plain replay fails (default EVENTLOG_QUIRKS; [] for a strict verifier). */
  quirks?: readonly EventLogQuirk[]
}

interface Mismatch {
  bank: HashAlg
  pcr: number
  quoted: Uint8Array
  replayed: Uint8Array
  touched: boolean
}

/** Every quoted PCR that the events do not explain, in bank order then PCR order. */
function mismatches(
  events: readonly LogEvent[],
  banks: readonly HashAlg[],
  quoted: PcrValues,
  startupLocality: number | undefined
): Mismatch[] {
  const out: Mismatch[] = []
  for (const bank of banks) {
    const replayed = replayBank(events, bank, startupLocality)
    for (const [pcr, value] of [...quoted[bank]!].sort((a, b) => a[0] - b[0])) {
      const expected = replayed.get(pcr) ?? initialPcrValue(bank, pcr, startupLocality)
      if (!bytesEqual(expected, value))
        out.push({ bank, pcr, quoted: value, replayed: expected, touched: replayed.has(pcr) })
    }
  }
  return out
}

function quirkEvents(quirk: EventLogQuirk, log: UnverifiedEventLog, banks: readonly HashAlg[]): LogEvent[] {
  return quirk.missingEvents.map((added, i) => {
    const data = new Uint8Array(Buffer.from(added.data, 'latin1'))
    const digests: Partial<Record<HashAlg, Uint8Array>> = {}
    for (const bank of banks) digests[bank] = digest(bank, data)
    return Object.freeze({
      index: log.events.length + i,
      offset: log.byteLength,
      pcr: added.pcr,
      type: added.type,
      typeName: eventTypeName(added.type),
      digests,
      data,
      addedBy: quirk.name
    })
  })
}

function refusal(first: Mismatch, tried: readonly string[]): EventLogReplayMismatchError {
  const args = [first.bank, first.pcr, toHex(first.quoted), toHex(first.replayed), tried] as const
  return first.touched ? new EventLogReplayMismatchError(...args) : new EventLogMissingEventsError(...args)
}

/**
 * The only way to a VerifiedEventLog. Only banks that are both quoted and replayable from the log
 * count; in them, every quoted PCR must equal the log's replay, and a quoted PCR that no event
 * extends must hold its reset value (so a log cannot leave events out). If the plain replay fails,
 * the quirks of EVENTLOG_QUIRKS for the failing PCRs are tried in order; otherwise the first
 * differing PCR is thrown as evidence.
 *
 * `quoted` MUST come from a verified quote (verifyQuote): this function trusts it entirely.
 *
 * @throws EventLogBankError when no quoted bank can be replayed from the log
 * @throws EventLogPcrNotQuotedError when a required PCR is not quoted
 * @throws EventLogReplayMismatchError / EventLogMissingEventsError when the log does not explain the quote
 */
export function verifyEventLog(
  log: UnverifiedEventLog,
  quoted: PcrValues,
  options: VerifyOptions = {}
): VerifiedEventLog {
  const banks = log.banks.filter((bank) => (quoted[bank]?.size ?? 0) > 0)
  if (banks.length === 0)
    throw new EventLogBankError(
      Object.keys(quoted).filter((bank) => (quoted[bank as HashAlg]?.size ?? 0) > 0),
      log.banks
    )
  for (const pcr of options.requiredPcrs ?? []) {
    if (!banks.some((bank) => quoted[bank]!.has(pcr))) throw new EventLogPcrNotQuotedError(pcr)
  }

  let events: readonly LogEvent[] = log.events
  let quirk: string | undefined
  const failed = mismatches(events, banks, quoted, log.startupLocality)
  if (failed.length > 0) {
    const tried: string[] = []
    for (const candidate of options.quirks ?? EVENTLOG_QUIRKS) {
      if (!failed.some((m) => m.pcr === candidate.pcr)) continue
      tried.push(candidate.name)
      const patched = [...log.events, ...quirkEvents(candidate, log, banks)]
      if (mismatches(patched, banks, quoted, log.startupLocality).length === 0) {
        events = patched
        quirk = candidate.name
        break
      }
    }
    if (quirk === undefined) throw refusal(failed[0]!, tried)
  }

  const pcrs: Partial<Record<HashAlg, number[]>> = {}
  for (const bank of banks) pcrs[bank] = [...quoted[bank]!.keys()].sort((a, b) => a - b)
  const kept: LogEvent[] = []
  for (const event of events) {
    if (event.type === EV.EV_NO_ACTION) continue
    const vouched = banks.filter((bank) => quoted[bank]!.has(event.pcr))
    if (vouched.length === 0) continue
    const digests: Partial<Record<HashAlg, Uint8Array>> = {}
    for (const bank of vouched) digests[bank] = event.digests[bank]
    kept.push(Object.freeze({ ...event, digests: Object.freeze(digests) }))
  }
  const pcr0Quoted = banks.some((bank) => quoted[bank]!.has(0))
  return new VerifiedEventLog(CONSTRUCT, {
    format: log.format,
    banks,
    pcrs,
    startupLocality: pcr0Quoted ? log.startupLocality : undefined,
    events: kept,
    quirk
  })
}
