import { DIGEST_SIZE, HASH_ALG_ID, digest, type HashAlg, type PcrValues } from '../pcrs.js'
import { EV } from './types.js'
import { initialPcrValue } from './replay.js'

export interface EventToWrite {
  pcr: number
  type: number
  data: Uint8Array
  /** For events that measure something other than their data (e.g. a PE image): digest per bank. */
  digests?: Partial<Record<HashAlg, Uint8Array>>
}

function u32 (value: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(value >>> 0)
  return b
}

function specIdEvent (algorithms: HashAlg[]): Buffer {
  const parts = [Buffer.from('Spec ID Event03\0', 'latin1'), u32(0), Buffer.of(0, 2, 0, 2), u32(algorithms.length)]
  for (const alg of algorithms) {
    const entry = Buffer.alloc(4)
    entry.writeUInt16LE(HASH_ALG_ID[alg], 0)
    entry.writeUInt16LE(DIGEST_SIZE[alg], 2)
    parts.push(entry)
  }
  parts.push(Buffer.of(0))
  const data = Buffer.concat(parts)
  return Buffer.concat([u32(0), u32(EV.EV_NO_ACTION), Buffer.alloc(20), u32(data.length), data])
}

/**
 * Writes a crypto-agile TCG PC Client log (Spec ID Event03 header, optional StartupLocality event,
 * TCG_PCR_EVENT2 entries) and the PCR values it replays to, so a boot simulator can extend a
 * software TPM to match.
 */
export function encodeEventLog (input: { algorithms: HashAlg[], startupLocality?: number, events: EventToWrite[] }): { log: Uint8Array, pcrs: PcrValues, measurements: Array<{ pcr: number, digests: Partial<Record<HashAlg, Uint8Array>> }> } {
  const parts: Buffer[] = [specIdEvent(input.algorithms)]
  const event2 = (pcr: number, type: number, digests: Partial<Record<HashAlg, Uint8Array>>, data: Uint8Array): Buffer => {
    const chunks = [u32(pcr), u32(type), u32(input.algorithms.length)]
    for (const alg of input.algorithms) {
      const id = Buffer.alloc(2)
      id.writeUInt16LE(HASH_ALG_ID[alg])
      chunks.push(id, Buffer.from(digests[alg] ?? new Uint8Array(DIGEST_SIZE[alg])))
    }
    chunks.push(u32(data.length), Buffer.from(data))
    return Buffer.concat(chunks)
  }
  if (input.startupLocality !== undefined) {
    parts.push(event2(0, EV.EV_NO_ACTION, {}, Buffer.concat([Buffer.from('StartupLocality\0', 'latin1'), Buffer.of(input.startupLocality)])))
  }
  const pcrs: PcrValues = {}
  const measurements: Array<{ pcr: number, digests: Partial<Record<HashAlg, Uint8Array>> }> = []
  for (const event of input.events) {
    const digests: Partial<Record<HashAlg, Uint8Array>> = {}
    for (const alg of input.algorithms) digests[alg] = event.digests?.[alg] ?? digest(alg, event.data)
    parts.push(event2(event.pcr, event.type, digests, event.data))
    if (event.type === EV.EV_NO_ACTION) continue
    measurements.push({ pcr: event.pcr, digests })
    for (const alg of input.algorithms) {
      const bank = pcrs[alg] ??= new Map()
      bank.set(event.pcr, digest(alg, bank.get(event.pcr) ?? initialPcrValue(alg, event.pcr, input.startupLocality), digests[alg]!))
    }
  }
  return { log: new Uint8Array(Buffer.concat(parts)), pcrs, measurements }
}

/** UEFI_VARIABLE_DATA for EV_EFI_VARIABLE_* events. */
export function uefiVariableData (guid: Uint8Array, name: string, data: Uint8Array): Uint8Array {
  const unicode = Buffer.from(name, 'utf16le')
  const lengths = Buffer.alloc(16)
  lengths.writeBigUInt64LE(BigInt(name.length), 0)
  lengths.writeBigUInt64LE(BigInt(data.length), 8)
  return new Uint8Array(Buffer.concat([Buffer.from(guid), lengths, unicode, Buffer.from(data)]))
}
