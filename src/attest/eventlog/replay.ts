import { hash } from 'node:crypto'
import { DIGEST_SIZE, type HashAlg, type PcrBank, type PcrValues } from '../pcrs.js'
import { EV, type LogEvent, type UnverifiedEventLog } from './types.js'

/**
 * The value a PCR holds after TPM2_Startup, before any event. PC Client TPMs reset PCRs 17-22 (the
 * DRTM PCRs) to all ones and the others to zero; PCR0 ends in the startup locality when the
 * firmware started the TPM from a locality other than 0 (StartupLocality event).
 */
export function initialPcrValue(bank: HashAlg, pcr: number, startupLocality: number | undefined): Uint8Array {
  const value = new Uint8Array(DIGEST_SIZE[bank])
  if (pcr >= 17 && pcr <= 22) value.fill(0xff)
  if (pcr === 0 && startupLocality !== undefined) value[value.length - 1] = startupLocality
  return value
}

/**
 * Replays one bank: PCR = H(PCR ‖ digest) for every event but EV_NO_ACTION ones (never extended).
 * Events without a digest of `bank` are skipped; parseEventLog leaves such banks out of `banks`.
 * Only PCRs with at least one event are in the result.
 */
export function replayBank(events: readonly LogEvent[], bank: HashAlg, startupLocality: number | undefined): PcrBank {
  const size = DIGEST_SIZE[bank]
  // Hot path (a verifier replays every log it gets): one scratch buffer and one-shot hashing.
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
  current.forEach((value, pcr) => {
    if (value !== undefined) values.set(pcr, value)
  })
  return values
}

export interface ReplayOptions {
  /** Replay only these banks (those the log cannot replay are left out). Default: every replayable bank. */
  banks?: readonly HashAlg[]
  /** Replay as if PCR0 started from this locality, whatever the log says (undefined: from zero). */
  startupLocality?: number | undefined
}

/**
 * The PCR values the log's events produce, per replayable bank: what a TPM that measured exactly
 * these events holds. PCRs without events are absent (they hold initialPcrValue). Replaying proves
 * nothing about the log: compare with a verified quote through verifyEventLog.
 */
export function replayEventLog(log: UnverifiedEventLog, options: ReplayOptions = {}): PcrValues {
  const out: PcrValues = {}
  const startupLocality = 'startupLocality' in options ? options.startupLocality : log.startupLocality
  for (const bank of log.banks) {
    if (options.banks === undefined || options.banks.includes(bank))
      out[bank] = replayBank(log.events, bank, startupLocality)
  }
  return out
}
