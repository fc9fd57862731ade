import { DIGEST_SIZE, HASH_ALG_ID, HASH_ALGS, PCR_COUNT, digest, type HashAlg, type PcrValues } from '../pcrs.js'
import { EventLogEncodeError } from './errors.js'
import { EVENTLOG_LIMITS } from './limits.js'
import { SPEC_ID_SIGNATURE, STARTUP_LOCALITY_SIGNATURE } from './parse.js'
import { replayBank } from './replay.js'
import { EV, eventTypeName, type LogEvent } from './types.js'

export interface EventToWrite {
  pcr: number
  type: number
  data: Uint8Array
  /** The bytes the digests are computed over, when they are not `data` (GRUB hashes the text after its label). */
  measured?: Uint8Array
  /**
   * Explicit digests, for events whose measured bytes are not at hand (EV_EFI_BOOT_SERVICES_APPLICATION
   * measures the PE image's Authenticode hash, not the event data). MUST cover every algorithm of the log.
   */
  digests?: Partial<Record<HashAlg, Uint8Array>>
}

export interface EventLogToWrite {
  /** The banks of the log, in the order the Spec ID event declares them. */
  algorithms: readonly HashAlg[]
  /** Writes a StartupLocality event first: PCR0 then starts at 0…0L (use the locality the TPM was started from). */
  startupLocality?: number
  events: readonly EventToWrite[]
}

export interface EncodedEventLog {
  log: Uint8Array
  /** What replayEventLog gives for `log`: the PCRs a TPM that measured these events holds (touched PCRs only). */
  pcrs: PcrValues
  /** The extends to perform on a freshly started TPM, in order, to make it match `log`. */
  measurements: Array<{ pcr: number; digests: Partial<Record<HashAlg, Uint8Array>> }>
}

function u32(value: number): Uint8Array {
  const out = new Uint8Array(4)
  new DataView(out.buffer).setUint32(0, value, true)
  return out
}

function u16(value: number): Uint8Array {
  return Uint8Array.of(value & 0xff, value >>> 8)
}

/** TCG_EfiSpecIdEvent in a legacy TCG_PCR_EVENT: PC Client class 0, spec 2.0 errata 0, UINTN of 8 bytes, no vendor info. */
function specIdEvent(algorithms: readonly HashAlg[]): Uint8Array[] {
  const body = [Buffer.from(SPEC_ID_SIGNATURE, 'latin1'), u32(0), Uint8Array.of(0, 2, 0, 2), u32(algorithms.length)]
  for (const alg of algorithms) body.push(u16(HASH_ALG_ID[alg]), u16(DIGEST_SIZE[alg]))
  body.push(Uint8Array.of(0))
  const size = body.reduce((n, part) => n + part.length, 0)
  return [u32(0), u32(EV.EV_NO_ACTION), new Uint8Array(20), u32(size), ...body]
}

function isStartupLocality(event: EventToWrite): boolean {
  return (
    event.pcr === 0 &&
    event.type === EV.EV_NO_ACTION &&
    Buffer.from(event.data.subarray(0, 16)).toString('latin1') === STARTUP_LOCALITY_SIGNATURE
  )
}

function check(condition: boolean, reason: string): void {
  if (!condition) throw new EventLogEncodeError(reason)
}

function digestsOf(event: EventToWrite, algorithms: readonly HashAlg[], at: number): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {}
  for (const alg of algorithms) {
    const explicit = event.digests?.[alg]
    check(event.digests === undefined || explicit !== undefined, `event ${at} has explicit digests but none for ${alg}`)
    check(
      explicit === undefined || explicit.length === DIGEST_SIZE[alg],
      `event ${at} has a ${alg} digest of ${explicit?.length} bytes`
    )
    // EV_NO_ACTION digests are zero by the spec: they are never extended.
    out[alg] =
      explicit ??
      (event.type === EV.EV_NO_ACTION ? new Uint8Array(DIGEST_SIZE[alg]) : digest(alg, event.measured ?? event.data))
  }
  return out
}

function eventBytes(
  event: EventToWrite,
  algorithms: readonly HashAlg[],
  at: number
): { parts: Uint8Array[]; digests: Record<string, Uint8Array> } {
  // EV_NO_ACTION events extend nothing, so their PCR index may be any 32-bit value (Windows writes 0xFFFFFFFF).
  const pcrInRange = event.pcr < PCR_COUNT || (event.type === EV.EV_NO_ACTION && event.pcr <= 0xffffffff)
  check(Number.isInteger(event.pcr) && event.pcr >= 0 && pcrInRange, `event ${at} has PCR ${event.pcr}`)
  check(
    Number.isInteger(event.type) && event.type >= 0 && event.type <= 0xffffffff,
    `event ${at} has type ${event.type}`
  )
  check(event.data.length <= EVENTLOG_LIMITS.maxEventDataBytes, `event ${at} has ${event.data.length} bytes of data`)
  const digests = digestsOf(event, algorithms, at)
  const parts = [u32(event.pcr), u32(event.type), u32(algorithms.length)]
  for (const alg of algorithms) parts.push(u16(HASH_ALG_ID[alg]), digests[alg]!)
  parts.push(u32(event.data.length), event.data)
  return { parts, digests }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

/**
 * One TCG_PCR_EVENT2, to append to a crypto-agile log whose Spec ID event declares exactly
 * `algorithms` in this order (e.g. what a real log's header declares): digests as encodeEventLog
 * computes them, zero for EV_NO_ACTION events.
 *
 * @throws EventLogEncodeError for an event that would not be valid in a log
 */
export function encodeEvent(event: EventToWrite, algorithms: readonly HashAlg[]): Uint8Array {
  check(
    algorithms.length > 0 && algorithms.length <= EVENTLOG_LIMITS.maxDigestsPerEvent,
    `needs 1 to ${EVENTLOG_LIMITS.maxDigestsPerEvent} algorithms`
  )
  check(
    algorithms.every((alg) => HASH_ALGS.includes(alg)) && new Set(algorithms).size === algorithms.length,
    `algorithms must be distinct, from ${HASH_ALGS.join(', ')}`
  )
  return concat(eventBytes(event, algorithms, 0).parts)
}

/**
 * Writes a crypto-agile TCG PC Client log: the Spec ID Event03 header, an optional StartupLocality
 * event, then one TCG_PCR_EVENT2 per event with a digest per algorithm (over `measured`, else
 * `data`, unless explicit `digests` are given). Returns the PCR values it replays to and the
 * extends that produce them, so a boot simulator can bring a software TPM to match.
 *
 * @throws EventLogEncodeError for input that would not make a valid log
 */
export function encodeEventLog(input: EventLogToWrite): EncodedEventLog {
  const algorithms = input.algorithms
  check(
    algorithms.length > 0 && algorithms.length <= EVENTLOG_LIMITS.maxDigestsPerEvent,
    `needs 1 to ${EVENTLOG_LIMITS.maxDigestsPerEvent} algorithms`
  )
  check(
    algorithms.every((alg) => HASH_ALGS.includes(alg)) && new Set(algorithms).size === algorithms.length,
    `algorithms must be distinct, from ${HASH_ALGS.join(', ')}`
  )
  const locality = input.startupLocality
  check(
    locality === undefined || (Number.isInteger(locality) && locality >= 0 && locality <= 255),
    'startupLocality must be an integer from 0 to 255'
  )
  check(input.events.length + 2 <= EVENTLOG_LIMITS.maxEvents, `more than ${EVENTLOG_LIMITS.maxEvents} events`)

  const parts: Uint8Array[] = specIdEvent(algorithms)
  const written: LogEvent[] = []
  const append = (event: EventToWrite, at: number): void => {
    check(at < 0 || !isStartupLocality(event), `event ${at} is a StartupLocality event: pass startupLocality instead`)
    const encoded = eventBytes(event, algorithms, at)
    parts.push(...encoded.parts)
    written.push({
      index: written.length + 1,
      offset: 0,
      pcr: event.pcr,
      type: event.type,
      typeName: eventTypeName(event.type),
      digests: encoded.digests,
      data: event.data
    })
  }
  if (locality !== undefined) {
    append(
      {
        pcr: 0,
        type: EV.EV_NO_ACTION,
        data: Uint8Array.from([...Buffer.from(STARTUP_LOCALITY_SIGNATURE, 'latin1'), locality])
      },
      -1
    )
  }
  input.events.forEach(append)

  const size = parts.reduce((n, part) => n + part.length, 0)
  check(size <= EVENTLOG_LIMITS.maxLogBytes, `the log would be ${size} bytes, more than ${EVENTLOG_LIMITS.maxLogBytes}`)
  const log = concat(parts)

  const pcrs: PcrValues = {}
  for (const alg of algorithms) pcrs[alg] = replayBank(written, alg, locality)
  const measurements = written
    .filter((event) => event.type !== EV.EV_NO_ACTION)
    .map((event) => ({ pcr: event.pcr, digests: { ...event.digests } }))
  return { log, pcrs, measurements }
}
