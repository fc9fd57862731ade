import { FleetError, MalformedInputError } from '../../common/errors.js'

/** Thrown when an event log is truncated, oversized or not in a TCG PC Client format. Exit code 2. */
export class MalformedEventLogError extends MalformedInputError {
  readonly offset: number
  constructor (offset: number, reason: string) {
    super(`event log: ${reason} (at byte ${offset})`, { code: 'ERR_MALFORMED_EVENT_LOG' })
    this.offset = offset
  }
}

/**
 * Thrown when a log does not replay to the quoted PCR values: the log is not the one that was
 * measured (or events are missing). Carries the first differing PCR.
 */
export class EventLogReplayMismatchError extends FleetError {
  readonly bank: string
  readonly pcr: number
  readonly quoted: string
  readonly replayed: string
  constructor (bank: string, pcr: number, quoted: string, replayed: string) {
    super(`the event log does not match the quote: ${bank} PCR ${pcr} is ${quoted} in the quote but replays to ${replayed}`, { code: 'ERR_EVENT_LOG_REPLAY_MISMATCH' })
    this.bank = bank
    this.pcr = pcr
    this.quoted = quoted
    this.replayed = replayed
  }
}

/** Thrown when none of the quoted banks can be replayed from the log. */
export class EventLogBankError extends FleetError {
  constructor (reason: string) {
    super(`event log: ${reason}`, { code: 'ERR_EVENT_LOG_BANK' })
  }
}
