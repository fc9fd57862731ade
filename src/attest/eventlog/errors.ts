import { FleetError, MalformedInputError } from '../../common/index.js'
import type { HashAlg } from '../pcrs.js'

/**
 * Parent of every refusal to decode a log (exit code 2). Never thrown itself: catch it to handle
 * all of its subclasses, match on `name` to tell them apart.
 */
export class MalformedEventLogError extends MalformedInputError {
  /** Byte offset in the log of the event (or field) that could not be decoded. */
  readonly offset: number
  constructor(offset: number, reason: string, code: string) {
    super(`event log: ${reason} (at byte ${offset})`, { code })
    this.offset = offset
  }
}

/** Thrown when the log ends inside an event (or is empty): a cut-off copy, or a corrupted size field. */
export class EventLogTruncatedError extends MalformedEventLogError {
  constructor(offset: number, what: string, needed: number, left: number) {
    super(offset, `truncated ${what}: needs ${needed} bytes, ${left} left`, 'ERR_EVENT_LOG_TRUNCATED')
  }
}

/** Thrown when a size or count in the log exceeds its cap in EVENTLOG_LIMITS. */
export class EventLogLimitError extends MalformedEventLogError {
  readonly limit: string
  readonly value: number
  readonly max: number
  constructor(offset: number, limit: string, value: number, max: number) {
    super(offset, `${limit} is ${value}, more than the limit of ${max}`, 'ERR_EVENT_LOG_LIMIT')
    this.limit = limit
    this.value = value
    this.max = max
  }
}

/**
 * Thrown when a field holds a value the TCG PC Client format does not allow: a PCR index out of
 * range, a malformed Spec ID event, a digest of an algorithm the header did not declare, a second
 * or misplaced StartupLocality event.
 */
export class EventLogFormatError extends MalformedEventLogError {
  constructor(offset: number, reason: string) {
    super(offset, reason, 'ERR_EVENT_LOG_FORMAT')
  }
}

/**
 * Thrown when a log does not replay to the quoted value of a PCR that its events extend: it is not
 * the log of the measured boot (or a workaround-free firmware bug hides that it is). Carries the
 * first differing PCR, and the workarounds that were tried.
 */
export class EventLogReplayMismatchError extends FleetError {
  readonly bank: HashAlg
  readonly pcr: number
  /** Hex of the quoted value. */
  readonly quoted: string
  /** Hex of the value the log replays to. */
  readonly replayed: string
  readonly workaroundsTried: readonly string[]
  constructor(
    bank: HashAlg,
    pcr: number,
    quoted: string,
    replayed: string,
    workaroundsTried: readonly string[] = [],
    subclass?: { message: string; code: string }
  ) {
    super(
      subclass?.message ??
        `the event log does not match the quote: ${bank} PCR ${pcr} is ${quoted} in the quote but replays to ${replayed}`,
      { code: subclass?.code ?? 'ERR_EVENT_LOG_REPLAY_MISMATCH' }
    )
    this.bank = bank
    this.pcr = pcr
    this.quoted = quoted
    this.replayed = replayed
    this.workaroundsTried = workaroundsTried
  }
}

/**
 * Thrown when a quoted PCR has no events in the log but is not at its reset value: the log leaves
 * out events that were measured. `replayed` is the reset value.
 */
export class EventLogMissingEventsError extends EventLogReplayMismatchError {
  constructor(bank: HashAlg, pcr: number, quoted: string, initial: string, workaroundsTried: readonly string[] = []) {
    super(bank, pcr, quoted, initial, workaroundsTried, {
      message: `the event log leaves out events: ${bank} PCR ${pcr} is ${quoted} in the quote, but the log has no events for it (reset value ${initial})`,
      code: 'ERR_EVENT_LOG_MISSING_EVENTS'
    })
  }
}

/** Thrown when none of the quoted banks can be replayed from the log (absent, or some event lacks its digest). */
export class EventLogBankError extends FleetError {
  readonly quotedBanks: readonly string[]
  readonly logBanks: readonly string[]
  constructor(quotedBanks: readonly string[], logBanks: readonly string[]) {
    super(
      `event log: none of the quoted banks (${quotedBanks.join(', ') || 'none'}) can be replayed from the log (${logBanks.join(', ') || 'no replayable bank'})`,
      { code: 'ERR_EVENT_LOG_BANK' }
    )
    this.quotedBanks = quotedBanks
    this.logBanks = logBanks
  }
}

/** Thrown when the caller requires a PCR that the quote does not cover in any replayable bank. */
export class EventLogPcrNotQuotedError extends FleetError {
  readonly pcr: number
  constructor(pcr: number) {
    super(`event log: PCR ${pcr} is required but not in the quote`, { code: 'ERR_EVENT_LOG_PCR_NOT_QUOTED' })
    this.pcr = pcr
  }
}

/** Thrown when a function that needs a verified log gets anything that verifyEventLog did not return. */
export class EventLogNotVerifiedError extends FleetError {
  constructor() {
    super('event log: only a log returned by verifyEventLog can be used here', { code: 'ERR_EVENT_LOG_NOT_VERIFIED' })
  }
}

/** Thrown when encodeEventLog or a builder gets a value it cannot write into a valid log. */
export class EventLogEncodeError extends FleetError {
  constructor(reason: string) {
    super(`event log encoding: ${reason}`, { code: 'ERR_EVENT_LOG_ENCODE' })
  }
}
