import { bytesEqual, toHex } from '../../common/bytes.js'
import { hash } from 'node:crypto'
import { DIGEST_SIZE, type HashAlg, type PcrBank, type PcrValues } from '../pcrs.js'
import { EventLogBankError, EventLogReplayMismatchError } from './errors.js'
import { EV, type LogEvent, type UnverifiedEventLog, type VerifiedEventLog } from './types.js'

/** PC Client reset values: PCRs 17-22 (DRTM) reset to all ones, the rest to zero; PCR0 ends in the startup locality. */
export function initialPcrValue (bank: HashAlg, pcr: number, startupLocality: number | undefined): Uint8Array {
  const value = new Uint8Array(DIGEST_SIZE[bank])
  if (pcr >= 17 && pcr <= 22) value.fill(0xff)
  if (pcr === 0 && startupLocality !== undefined) value[value.length - 1] = startupLocality
  return value
}

function replayBank (events: readonly LogEvent[], bank: HashAlg, startupLocality: number | undefined): PcrBank {
  const size = DIGEST_SIZE[bank]
  // Hot path (verifiers replay every log they see): a PCR array, one scratch buffer, one-shot hashing.
  const current: Array<Uint8Array | undefined> = []
  const scratch = Buffer.alloc(size * 2)
  for (const event of events) {
    if (event.type === EV.EV_NO_ACTION) continue
    const measurement = event.digests[bank]
    if (measurement === undefined) continue
    scratch.set(current[event.pcr] ?? initialPcrValue(bank, event.pcr, startupLocality), 0)
    scratch.set(measurement, size)
    const next = hash(bank, scratch, 'buffer')
    current[event.pcr] = new Uint8Array(next.buffer, next.byteOffset, next.length)
  }
  const values: PcrBank = new Map()
  current.forEach((value, pcr) => { if (value !== undefined) values.set(pcr, value) })
  return values
}

/**
 * Replays the log's banks (all of them, or those in `banks`). PCRs without events are absent
 * (they hold their reset value).
 */
export function replayEventLog (log: UnverifiedEventLog, options: { banks?: readonly HashAlg[], startupLocality?: number } = {}): PcrValues {
  const out: PcrValues = {}
  const startupLocality = 'startupLocality' in options ? options.startupLocality : log.startupLocality
  for (const bank of log.banks) if (options.banks === undefined || options.banks.includes(bank)) out[bank] = replayBank(log.events, bank, startupLocality)
  return out
}

/**
 * Named workarounds for firmware whose logs do not replay as the spec says. Each is tried only
 * after the plain replay failed, and the verified log names the one that was needed.
 */
const QUIRKS: Array<{ name: string, applies: (log: UnverifiedEventLog) => boolean, startupLocality: (log: UnverifiedEventLog) => number | undefined }> = [
  {
    // Platforms with an H-CRTM start PCR0 from locality 3 (…03); some omit the StartupLocality
    // event that says so, and a plain replay from zero then fails on PCR0 only.
    name: 'pcr0-locality-3-without-startup-locality-event',
    applies: (log) => log.startupLocality === undefined,
    startupLocality: () => 3
  }
]

function firstMismatch (log: UnverifiedEventLog, banks: HashAlg[], quoted: PcrValues, startupLocality: number | undefined): EventLogReplayMismatchError | undefined {
  for (const bank of banks) {
    const replayed = replayBank(log.events, bank, startupLocality)
    for (const [pcr, value] of [...(quoted[bank] ?? new Map<number, Uint8Array>())].sort((a, b) => a[0] - b[0])) {
      const expected = replayed.get(pcr) ?? initialPcrValue(bank, pcr, startupLocality)
      if (!bytesEqual(expected, value)) return new EventLogReplayMismatchError(bank, pcr, toHex(value), toHex(expected))
    }
  }
  return undefined
}

/**
 * The only way to a VerifiedEventLog: the log's replay must give exactly the quoted values for
 * every quoted PCR of every quoted bank the log carries (a quoted PCR without events must hold its
 * reset value, so a log cannot leave events out). Only events of quoted PCRs are kept.
 * `quoted` MUST come from a verified quote.
 */
export function verifyEventLog (log: UnverifiedEventLog, quoted: PcrValues): VerifiedEventLog {
  const banks = log.banks.filter((bank) => (quoted[bank]?.size ?? 0) > 0)
  if (banks.length === 0) throw new EventLogBankError(`none of the quoted banks (${Object.keys(quoted).join(', ') || 'none'}) is in the log (${log.banks.join(', ')})`)
  let quirk: string | undefined
  const mismatch = firstMismatch(log, banks, quoted, log.startupLocality)
  if (mismatch !== undefined) {
    const fix = QUIRKS.find((q) => q.applies(log) && firstMismatch(log, banks, quoted, q.startupLocality(log)) === undefined)
    if (fix === undefined) throw mismatch
    quirk = fix.name
  }
  const pcrs = new Set<number>(banks.flatMap((bank) => [...(quoted[bank]?.keys() ?? [])]))
  const events = log.events.filter((event) => pcrs.has(event.pcr))
  return { format: log.format, banks, events, quirk } as unknown as VerifiedEventLog
}
