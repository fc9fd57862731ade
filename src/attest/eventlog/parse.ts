import { DIGEST_SIZE, HASH_ALGS, PCR_COUNT, hashAlgFromId, type HashAlg } from '../pcrs.js'
import { EVENTLOG_LIMITS } from './limits.js'
import { EventLogFormatError, EventLogLimitError, EventLogTruncatedError } from './errors.js'
import {
  EV,
  eventTypeName,
  type DeclaredAlgorithm,
  type LogEvent,
  type SpecIdEvent,
  type UnverifiedEventLog
} from './types.js'

export const SPEC_ID_SIGNATURE = 'Spec ID Event03\0'
export const STARTUP_LOCALITY_SIGNATURE = 'StartupLocality\0'
/** TCG_PCR_EVENT (legacy) header before the data: pcrIndex, eventType, SHA-1 digest, eventSize. */
const LEGACY_HEADER_BYTES = 4 + 4 + 20 + 4

/**
 * Bounds-checked little-endian reader. Running out of bytes is a truncated log; inside a
 * structure that sits in one event's data it is a format error (the event itself was complete).
 */
class Reader {
  readonly view: DataView
  offset = 0
  constructor(
    readonly bytes: Uint8Array,
    private readonly base = 0,
    private readonly nested?: string
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  get left(): number {
    return this.bytes.length - this.offset
  }

  need(count: number, what: string): void {
    if (count <= this.left) return
    if (this.nested !== undefined)
      throw new EventLogFormatError(this.base, `${this.nested}: ${what} runs past the end of the event data`)
    throw new EventLogTruncatedError(this.base + this.offset, what, count, this.left)
  }

  u8(what: string): number {
    this.need(1, what)
    return this.view.getUint8(this.offset++)
  }
  u16(what: string): number {
    this.need(2, what)
    const v = this.view.getUint16(this.offset, true)
    this.offset += 2
    return v
  }
  u32(what: string): number {
    this.need(4, what)
    const v = this.view.getUint32(this.offset, true)
    this.offset += 4
    return v
  }
  take(count: number, what: string): Uint8Array {
    this.need(count, what)
    const out = this.bytes.subarray(this.offset, this.offset + count)
    this.offset += count
    return out
  }
}

const latin1 = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')

function isSpecIdEvent(event: LogEvent): boolean {
  return (
    event.pcr === 0 &&
    event.type === EV.EV_NO_ACTION &&
    event.data.length >= 16 &&
    latin1(event.data.subarray(0, 16)) === SPEC_ID_SIGNATURE
  )
}

function parseSpecId(event: LogEvent): SpecIdEvent {
  const r = new Reader(event.data, event.offset, 'Spec ID event')
  r.offset = 16
  const platformClass = r.u32('platformClass')
  const minor = r.u8('specVersionMinor')
  const major = r.u8('specVersionMajor')
  const errata = r.u8('specErrata')
  const uintnSize = r.u8('uintnSize')
  // Event03 is the crypto-agile format of spec version 2.0; anything else is a layout we do not know.
  if (major !== 2 || minor !== 0)
    throw new EventLogFormatError(event.offset, `Spec ID event has version ${major}.${minor}, not 2.0`)
  const count = r.u32('numberOfAlgorithms')
  if (count === 0) throw new EventLogFormatError(event.offset, 'Spec ID event declares no algorithm')
  if (count > EVENTLOG_LIMITS.maxDigestsPerEvent)
    throw new EventLogLimitError(event.offset, 'numberOfAlgorithms', count, EVENTLOG_LIMITS.maxDigestsPerEvent)
  const declared: Array<{ id: number; digestSize: number; bank: HashAlg | undefined }> = []
  for (let i = 0; i < count; i++) {
    const id = r.u16('algorithmId')
    const digestSize = r.u16('digestSize')
    if (declared.some((a) => a.id === id))
      throw new EventLogFormatError(event.offset, `Spec ID event declares algorithm 0x${id.toString(16)} twice`)
    if (digestSize === 0)
      throw new EventLogFormatError(
        event.offset,
        `Spec ID event declares algorithm 0x${id.toString(16)} with digest size 0`
      )
    if (digestSize > EVENTLOG_LIMITS.maxDigestBytes)
      throw new EventLogLimitError(
        event.offset,
        `digest size of algorithm 0x${id.toString(16)}`,
        digestSize,
        EVENTLOG_LIMITS.maxDigestBytes
      )
    const bank = hashAlgFromId(id)
    if (bank !== undefined && digestSize !== DIGEST_SIZE[bank])
      throw new EventLogFormatError(event.offset, `Spec ID event declares ${bank} with digest size ${digestSize}`)
    // Unknown algorithms keep their declared size so that the events after them can still be read.
    declared.push({ id, digestSize, bank })
  }
  const vendorInfoSize = r.u8('vendorInfoSize')
  if (vendorInfoSize > EVENTLOG_LIMITS.maxVendorInfoBytes)
    throw new EventLogLimitError(event.offset, 'vendorInfoSize', vendorInfoSize, EVENTLOG_LIMITS.maxVendorInfoBytes)
  const vendorInfo = r.take(vendorInfoSize, 'vendorInfo')
  if (r.left !== 0) throw new EventLogFormatError(event.offset, `Spec ID event has ${r.left} bytes after vendorInfo`)
  return {
    platformClass,
    specVersion: { major, minor, errata },
    uintnSize,
    algorithms: declared.map((a) => ({ ...a, replayable: a.bank !== undefined })),
    vendorInfo
  }
}

/** The locality of a StartupLocality event, undefined for any other event. */
function startupLocalityOf(event: LogEvent): number | undefined {
  if (event.pcr !== 0 || event.type !== EV.EV_NO_ACTION || event.data.length < 16) return undefined
  if (latin1(event.data.subarray(0, 16)) !== STARTUP_LOCALITY_SIGNATURE) return undefined
  if (event.data.length !== 17)
    throw new EventLogFormatError(event.offset, `StartupLocality event has ${event.data.length} bytes of data, not 17`)
  return event.data[16]
}

function eventData(r: Reader, start: number): Uint8Array {
  const size = r.u32('event size')
  if (size > EVENTLOG_LIMITS.maxEventDataBytes)
    throw new EventLogLimitError(start, 'event data size', size, EVENTLOG_LIMITS.maxEventDataBytes)
  return r.take(size, 'event data')
}

/**
 * The PCR index and type of an event. EV_NO_ACTION events extend nothing (PC Client PFP, "Event
 * Types": they MUST NOT be extended), so their index is not a PCR and may hold any value: Windows
 * logs end with such events at 0xFFFFFFFF. Any other event must name one of the PCR_COUNT PCRs.
 */
function pcrAndType(r: Reader, start: number): { pcr: number; type: number } {
  const pcr = r.u32('PCR index')
  const type = r.u32('event type')
  if (pcr >= PCR_COUNT && type !== EV.EV_NO_ACTION)
    throw new EventLogFormatError(start, `PCR index ${pcr} is out of range for an event of type ${eventTypeName(type)}`)
  return { pcr, type }
}

function readLegacyEvent(r: Reader, index: number): LogEvent {
  const offset = r.offset
  // Check the whole fixed header first, so that a cut anywhere in it reports the header.
  r.need(LEGACY_HEADER_BYTES, 'event header')
  const { pcr, type } = pcrAndType(r, offset)
  const sha1 = r.take(20, 'SHA-1 digest')
  const data = eventData(r, offset)
  return Object.freeze({
    index,
    offset,
    pcr,
    type,
    typeName: eventTypeName(type),
    digests: Object.freeze({ sha1 }),
    data
  })
}

function readAgileEvent(r: Reader, index: number, algorithms: readonly DeclaredAlgorithm[]): LogEvent {
  const offset = r.offset
  r.need(12, 'event header')
  const { pcr, type } = pcrAndType(r, offset)
  const count = r.u32('digest count')
  if (count > EVENTLOG_LIMITS.maxDigestsPerEvent)
    throw new EventLogLimitError(offset, 'digest count', count, EVENTLOG_LIMITS.maxDigestsPerEvent)
  const digests: Partial<Record<HashAlg, Uint8Array>> = {}
  const seen: number[] = []
  for (let i = 0; i < count; i++) {
    const at = r.offset
    const id = r.u16('digest algorithm')
    const declared = algorithms.find((a) => a.id === id)
    if (declared === undefined)
      throw new EventLogFormatError(
        at,
        `digest of algorithm 0x${id.toString(16)}, which the Spec ID event does not declare`
      )
    if (seen.includes(id))
      throw new EventLogFormatError(at, `two digests of algorithm 0x${id.toString(16)} in one event`)
    seen.push(id)
    const value = r.take(declared.digestSize, 'digest')
    if (declared.bank !== undefined) digests[declared.bank] = value
  }
  const data = eventData(r, offset)
  return Object.freeze({
    index,
    offset,
    pcr,
    type,
    typeName: eventTypeName(type),
    digests: Object.freeze(digests),
    data
  })
}

/**
 * Parses a TCG PC Client binary event log (Linux: /sys/kernel/security/tpm0/binary_bios_measurements):
 * crypto-agile (a legacy-format Spec ID Event03 header, then TCG_PCR_EVENT2 entries with any mix of
 * SHA-1/256/384/512 digests) or legacy SHA-1 (TCG_PCR_EVENT only). EV_NO_ACTION events may name
 * any PCR index (they extend nothing); every other event must name PCR 0 to 23.
 *
 * The result is UNVERIFIED: only verifyEventLog, against quoted PCRs, makes its events usable.
 * Strict and bounded: a truncated, oversized or malformed log throws a MalformedEventLogError
 * subclass, after at most one pass over the bytes and one copy of them (the events are views into
 * that private copy, so later changes to `bytes` do not reach the parsed log).
 */
export function parseEventLog(bytes: Uint8Array): UnverifiedEventLog {
  if (bytes.length > EVENTLOG_LIMITS.maxLogBytes)
    throw new EventLogLimitError(0, 'log size', bytes.length, EVENTLOG_LIMITS.maxLogBytes)
  if (bytes.length === 0) throw new EventLogTruncatedError(0, 'log (it is empty)', LEGACY_HEADER_BYTES, 0)
  const r = new Reader(bytes.slice())
  const events: LogEvent[] = []
  let startupLocality: number | undefined
  let pcr0Extended = false

  // The first event is always a legacy TCG_PCR_EVENT; in crypto-agile logs it carries the Spec ID.
  const first = readLegacyEvent(r, 0)
  events.push(first)
  const specId = isSpecIdEvent(first) ? parseSpecId(first) : undefined
  const missing = new Set<HashAlg>()
  const account = (event: LogEvent): void => {
    const locality = startupLocalityOf(event)
    if (locality !== undefined) {
      if (startupLocality !== undefined) throw new EventLogFormatError(event.offset, 'second StartupLocality event')
      // PCR0's starting value must be known before its first extension is replayed.
      if (pcr0Extended) throw new EventLogFormatError(event.offset, 'StartupLocality event after PCR0 was extended')
      startupLocality = locality
    }
    if (event.type === EV.EV_NO_ACTION) return
    if (event.pcr === 0) pcr0Extended = true
    if (specId !== undefined)
      for (const a of specId.algorithms)
        if (a.bank !== undefined && event.digests[a.bank] === undefined) missing.add(a.bank)
  }
  if (specId === undefined) account(first)

  while (r.left > 0) {
    if (events.length >= EVENTLOG_LIMITS.maxEvents)
      throw new EventLogLimitError(r.offset, 'event count', events.length + 1, EVENTLOG_LIMITS.maxEvents)
    const event =
      specId === undefined ? readLegacyEvent(r, events.length) : readAgileEvent(r, events.length, specId.algorithms)
    account(event)
    events.push(event)
  }

  let banks: HashAlg[] = ['sha1']
  let declared = specId
  if (specId !== undefined) {
    const algorithms = specId.algorithms.map((a) =>
      Object.freeze({ ...a, replayable: a.bank !== undefined && !missing.has(a.bank) })
    )
    banks = HASH_ALGS.filter((bank) => algorithms.some((a) => a.bank === bank && a.replayable))
    declared = Object.freeze({
      ...specId,
      specVersion: Object.freeze(specId.specVersion),
      algorithms: Object.freeze(algorithms)
    })
  }
  return Object.freeze({
    format: specId === undefined ? 'sha1-legacy' : 'crypto-agile',
    specId: declared,
    banks: Object.freeze(banks),
    startupLocality,
    events: Object.freeze(events),
    byteLength: bytes.length
  }) as unknown as UnverifiedEventLog
}
