/**
 * TCG PC Client event logs. Parsing is not verification: parseEventLog gives an
 * UnverifiedEventLog; only verifyEventLog, against PCR values from a verified quote, gives a
 * VerifiedEventLog, and only verified logs yield boot facts.
 *
 * @example
 * const log = parseEventLog(bytes)                       // strict, bounded; typed errors
 * const verified = verifyEventLog(log, verifiedQuote.pcrs) // throws EventLogReplayMismatchError
 * bootFacts(verified).secureBoot
 */
export { parseEventLog } from './parse.js'
export { replayEventLog, verifyEventLog, initialPcrValue } from './replay.js'
export { bootFacts, decodeUefiVariable, describeEvent } from './facts.js'
export type { BootFacts, UefiVariable } from './facts.js'
export { encodeEventLog, uefiVariableData } from './writer.js'
export type { EventToWrite } from './writer.js'
export { EV, EVENT_TYPES, eventTypeName } from './types.js'
export type { LogEvent, UnverifiedEventLog, VerifiedEventLog, EventLogFormat } from './types.js'
export { MalformedEventLogError, EventLogReplayMismatchError, EventLogBankError } from './errors.js'
export { EVENTLOG_LIMITS } from './limits.js'
