import { HASH_ALGS, PCR_COUNT, hashAlgFromId, type HashAlg } from '../pcrs.js'
import { EVENTLOG_LIMITS } from './limits.js'
import { MalformedEventLogError } from './errors.js'
import { EV, eventTypeName, type LogEvent, type UnverifiedEventLog } from './types.js'

const SPEC_ID_SIGNATURE = 'Spec ID Event03\0'
const STARTUP_LOCALITY_SIGNATURE = 'StartupLocality\0'

class LogReader {
  readonly view: DataView
  offset = 0
  constructor (readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  need (count: number, what: string): void {
    if (count < 0 || this.offset + count > this.bytes.length) throw new MalformedEventLogError(this.offset, `truncated ${what}: needs ${count} bytes, ${this.bytes.length - this.offset} left`)
  }

  u8 (what: string): number { this.need(1, what); return this.view.getUint8(this.offset++) }
  u16 (what: string): number { this.need(2, what); const v = this.view.getUint16(this.offset, true); this.offset += 2; return v }
  u32 (what: string): number { this.need(4, what); const v = this.view.getUint32(this.offset, true); this.offset += 4; return v }
  /** A view, not a copy: a parsed log refers to the caller's bytes, which MUST NOT change after. */
  take (count: number, what: string): Uint8Array {
    this.need(count, what)
    const out = this.bytes.subarray(this.offset, this.offset + count)
    this.offset += count
    return out
  }
}

interface SpecId {
  /** Every declared algorithm with its digest size, in log order (unknown ones too). */
  algorithms: Array<{ id: number, size: number, alg: HashAlg | undefined }>
}

function parseSpecId (data: Uint8Array, offset: number): SpecId | undefined {
  if (data.length < 16 || Buffer.from(data.subarray(0, 16)).toString('latin1') !== SPEC_ID_SIGNATURE) return undefined
  const r = new LogReader(data)
  r.offset = 16
  r.u32('platformClass')
  r.take(4, 'spec version')
  const count = r.u32('numberOfAlgorithms')
  if (count === 0 || count > EVENTLOG_LIMITS.maxAlgorithms) throw new MalformedEventLogError(offset, `Spec ID event declares ${count} algorithms`)
  const algorithms: SpecId['algorithms'] = []
  for (let i = 0; i < count; i++) {
    const id = r.u16('algorithmId')
    const size = r.u16('digestSize')
    if (size === 0 || size > 64) throw new MalformedEventLogError(offset, `algorithm 0x${id.toString(16)} has digest size ${size}`)
    const alg = hashAlgFromId(id)
    if (alg !== undefined && size !== { sha1: 20, sha256: 32, sha384: 48, sha512: 64 }[alg]) throw new MalformedEventLogError(offset, `${alg} declared with digest size ${size}`)
    algorithms.push({ id, size, alg })
  }
  const vendorSize = r.u8('vendorInfoSize')
  r.take(vendorSize, 'vendorInfo')
  return { algorithms }
}

function startupLocality (event: { pcr: number, type: number, data: Uint8Array }): number | undefined {
  if (event.pcr !== 0 || event.type !== EV.EV_NO_ACTION || event.data.length !== 17) return undefined
  if (Buffer.from(event.data.subarray(0, 16)).toString('latin1') !== STARTUP_LOCALITY_SIGNATURE) return undefined
  return event.data[16]
}

/**
 * Parses a TCG PC Client binary event log (binary_bios_measurements): crypto-agile (first event a
 * Spec ID Event03 header, then TCG_PCR_EVENT2 with any mix of SHA-1/256/384/512) or legacy SHA-1.
 * The result is UNVERIFIED: only verifyEventLog against quoted PCRs makes its events usable.
 * Events are views into `bytes`: the caller MUST NOT modify them afterwards.
 */
export function parseEventLog (bytes: Uint8Array): UnverifiedEventLog {
  if (bytes.length > EVENTLOG_LIMITS.maxLogBytes) throw new MalformedEventLogError(0, `larger than ${EVENTLOG_LIMITS.maxLogBytes} bytes`)
  if (bytes.length === 0) throw new MalformedEventLogError(0, 'empty')
  const r = new LogReader(bytes)
  const events: LogEvent[] = []
  let locality: number | undefined

  // The first event is always in the legacy TCG_PCR_EVENT format.
  const first = readLegacyEvent(r, 0)
  const spec = first.type === EV.EV_NO_ACTION && first.pcr === 0 ? parseSpecId(first.data, first.offset) : undefined
  events.push(first)
  if (spec === undefined) {
    while (r.offset < bytes.length) {
      if (events.length >= EVENTLOG_LIMITS.maxEvents) throw new MalformedEventLogError(r.offset, `more than ${EVENTLOG_LIMITS.maxEvents} events`)
      events.push(readLegacyEvent(r, events.length))
    }
    return { format: 'sha1-legacy', banks: ['sha1'], startupLocality: undefined, events } as unknown as UnverifiedEventLog
  }

  while (r.offset < bytes.length) {
    if (events.length >= EVENTLOG_LIMITS.maxEvents) throw new MalformedEventLogError(r.offset, `more than ${EVENTLOG_LIMITS.maxEvents} events`)
    const offset = r.offset
    const pcr = r.u32('PCR index')
    if (pcr >= PCR_COUNT) throw new MalformedEventLogError(offset, `PCR index ${pcr} out of range`)
    const type = r.u32('event type')
    const count = r.u32('digest count')
    if (count > EVENTLOG_LIMITS.maxAlgorithms) throw new MalformedEventLogError(offset, `event has ${count} digests`)
    const digests: Partial<Record<HashAlg, Uint8Array>> = {}
    for (let i = 0; i < count; i++) {
      const id = r.u16('digest algorithm')
      const declared = spec.algorithms.find((a) => a.id === id)
      if (declared === undefined) throw new MalformedEventLogError(r.offset - 2, `digest algorithm 0x${id.toString(16)} not declared in the Spec ID event`)
      const value = r.take(declared.size, 'digest')
      if (declared.alg !== undefined) digests[declared.alg] = value
    }
    const size = r.u32('event size')
    if (size > EVENTLOG_LIMITS.maxEventDataBytes) throw new MalformedEventLogError(offset, `event data of ${size} bytes`)
    const data = r.take(size, 'event data')
    const event: LogEvent = { index: events.length, offset, pcr, type, typeName: eventTypeName(type), digests, data }
    const found = startupLocality(event)
    if (found !== undefined) locality = found
    events.push(event)
  }
  const banks = HASH_ALGS.filter((alg) => spec.algorithms.some((a) => a.alg === alg))
  return { format: 'crypto-agile', banks, startupLocality: locality, events } as unknown as UnverifiedEventLog
}

function readLegacyEvent (r: LogReader, index: number): LogEvent {
  const offset = r.offset
  const pcr = r.u32('PCR index')
  if (pcr >= PCR_COUNT) throw new MalformedEventLogError(offset, `PCR index ${pcr} out of range`)
  const type = r.u32('event type')
  const digest = r.take(20, 'SHA-1 digest')
  const size = r.u32('event size')
  if (size > EVENTLOG_LIMITS.maxEventDataBytes) throw new MalformedEventLogError(offset, `event data of ${size} bytes`)
  const data = r.take(size, 'event data')
  return { index, offset, pcr, type, typeName: eventTypeName(type), digests: { sha1: digest }, data }
}
