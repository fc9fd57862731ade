/**
 * TCG PC Client event logs (binary_bios_measurements): parse, replay, verify against a quote, read
 * boot facts, and write logs for a boot simulator.
 *
 * Parsing is not verification. parseEventLog gives an UnverifiedEventLog; only verifyEventLog,
 * against PCR values from a VERIFIED quote, gives a VerifiedEventLog, and only a VerifiedEventLog
 * yields facts (a runtime brand: copies and look-alikes are refused). Firmware quirks are named
 * workarounds (EVENTLOG_QUIRKS), tried only after the plain replay failed; the verified log names
 * the one applied. Facts read from event data are used only when the data hashes to its verified
 * digest. Every cap is in EVENTLOG_LIMITS; every decoding failure is a MalformedEventLogError
 * subclass (exit code 2).
 *
 * @example
 * const log = parseEventLog(bytes)                           // strict and bounded; typed errors
 * const verified = verifyEventLog(log, verifiedQuote.pcrs)   // EventLogReplayMismatchError, …
 * const facts = bootFacts(verified)                          // facts.secureBoot, facts.kernelCommandLine
 * formatEvents(log).map((row) => `${row.pcr} ${row.typeName} ${row.summary}`)
 *
 * const { log: written, pcrs, measurements } = encodeEventLog({
 *   algorithms: ['sha256'],
 *   events: [sCrtmVersionEvent('sim 1.0'), secureBootVariableEvent('SecureBoot', Uint8Array.of(1)), separatorEvent(7)]
 * })                                                         // extend `measurements` into a TPM to match
 */
export { parseEventLog } from './parse.js'
export { replayEventLog, initialPcrValue } from './replay.js'
export type { ReplayOptions } from './replay.js'
export { verifyEventLog, VerifiedEventLog } from './verify.js'
export type { VerifyOptions } from './verify.js'
export { EVENTLOG_QUIRKS } from './quirks.js'
export type { EventLogQuirk } from './quirks.js'
export { bootFacts, secureBootState, bootApplications, separators, kernelCommandLine, sCrtmVersion } from './facts.js'
export type {
  BootFacts,
  SecureBootState,
  SecureBootKeyDatabase,
  BootApplication,
  Separator,
  KernelCommandLine,
  SCrtmVersion
} from './facts.js'
export { formatEvents, describeEvent } from './format.js'
export type { EventRow } from './format.js'
export {
  EFI_GLOBAL_VARIABLE,
  EFI_IMAGE_SECURITY_DATABASE,
  decodeUefiVariable,
  decodeImageLoad,
  decodeLoadOption,
  devicePathText,
  formatGuid,
  guidBytes
} from './uefi.js'
export type { UefiVariable, UefiImageLoad, LoadOption } from './uefi.js'
export { encodeEventLog, encodeEvent } from './writer.js'
export type { EventToWrite, EventLogToWrite, EncodedEventLog } from './writer.js'
export {
  uefiVariableData,
  secureBootVariableEvent,
  filePathDevicePath,
  imageLoadEventData,
  bootApplicationEvent,
  separatorEvent,
  sCrtmVersionEvent,
  efiActionEvent,
  exitBootServicesEvents,
  kernelCommandLineEvent
} from './builders.js'
export { EV, EVENT_TYPES, eventTypeName } from './types.js'
export type {
  EventTypeName,
  LogEvent,
  UnverifiedEventLog,
  EventLogFormat,
  DeclaredAlgorithm,
  SpecIdEvent
} from './types.js'
export {
  MalformedEventLogError,
  EventLogTruncatedError,
  EventLogLimitError,
  EventLogFormatError,
  EventLogReplayMismatchError,
  EventLogMissingEventsError,
  EventLogBankError,
  EventLogPcrNotQuotedError,
  EventLogNotVerifiedError,
  EventLogEncodeError
} from './errors.js'
export { EVENTLOG_LIMITS } from './limits.js'
