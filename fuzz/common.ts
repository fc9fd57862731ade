/**
 * Helpers of the fuzz targets in targets/: each target module exports `fuzz(data)`, which may
 * return or throw one of the project's typed errors (a FleetError). Anything else it throws
 * (TypeError, RangeError, …) propagates and is reported by the fuzzer as a finding; so is a hang
 * (per-input timeout) or a crash of the process.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { FleetError } from '../src/common/errors.js'

/** Runs `decode`, swallowing only typed errors. */
export function typed(decode: () => unknown): void {
  try {
    decode()
  } catch (err) {
    if (!(err instanceof FleetError)) throw err
  }
}

export async function typedAsync(decode: () => Promise<unknown>): Promise<void> {
  try {
    await decode()
  } catch (err) {
    if (!(err instanceof FleetError)) throw err
  }
}

export const bytes = (data: Uint8Array): Uint8Array => new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
export const utf8 = (data: Uint8Array): string =>
  Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8')

let scratch: string | undefined
/** A private temporary folder of this process, for targets whose decoder reads a file. */
export const scratchDir = (): string => (scratch ??= mkdtempSync(path.join(tmpdir(), 'fleet-fuzz-')))
