import type { PcrSelection } from '../pcrs.js'
import { TPM_CAP, TPM_PT } from './constants.js'
import { TPM2_LIMITS } from './limits.js'
import { TpmReader } from './reader.js'
import { readPcrSelection } from './pcr-selection.js'
import { MalformedTpmStructureError } from './errors.js'

/** TPMS_CAPABILITY_DATA for the two groups this project reads. */
export type CapabilityData =
  | { kind: 'properties'; properties: Array<{ property: number; value: number }> }
  | { kind: 'pcrs'; selection: PcrSelection }

/**
 * Parses TPMS_CAPABILITY_DATA (the part of a TPM2_GetCapability response after moreData) for
 * TPM_CAP_TPM_PROPERTIES (TPML_TAGGED_TPM_PROPERTY) and TPM_CAP_PCRS (TPML_PCR_SELECTION; banks
 * the TPM implements but has not allocated come with no PCR selected).
 */
export function parseCapabilityData(bytes: Uint8Array): CapabilityData {
  const r: TpmReader = new TpmReader(bytes, 'TPMS_CAPABILITY_DATA')
  const capability = r.u32()
  let out: CapabilityData
  if (capability === TPM_CAP.TPM_PROPERTIES) {
    const count = r.u32()
    if (count > TPM2_LIMITS.maxCapabilityEntries) {
      r.offset -= 4
      r.fail(`${count} properties exceed ${TPM2_LIMITS.maxCapabilityEntries}`)
    }
    const properties: Array<{ property: number; value: number }> = []
    for (let i = 0; i < count; i++) properties.push({ property: r.u32(), value: r.u32() })
    out = { kind: 'properties', properties }
  } else if (capability === TPM_CAP.PCRS) {
    out = { kind: 'pcrs', selection: readPcrSelection(r) }
  } else {
    r.offset -= 4
    r.fail(`capability 0x${capability.toString(16)} unsupported`)
  }
  r.end()
  return out
}

/** Property values are 4 characters each, big-endian, padded with NULs (or spaces). */
function ascii(values: number[]): string {
  const bytes = Buffer.alloc(values.length * 4)
  for (const [i, v] of values.entries()) bytes.writeUInt32BE(v >>> 0, i * 4)
  return bytes
    .toString('latin1')
    .replace(/[^\x20-\x7e]/g, '')
    .trim()
}

/** TPM_PT_MANUFACTURER → its vendor ID ("IBM", "IFX", "STM", "NTC", "INTC", "AMD", …). */
export function decodeManufacturer(value: number): string {
  return ascii([value])
}

/** TPM_PT_VENDOR_STRING_1..4 → the vendor's free-form string (e.g. "SW  TPM" for swtpm). */
export function decodeVendorString(values: number[]): string {
  return ascii(values.slice(0, 4))
}

/** TPM_PT_FIRMWARE_VERSION_1 and _2 → the 64-bit value TPMS_ATTEST.firmwareVersion carries. */
export function firmwareVersion(v1: number, v2: number): bigint {
  return (BigInt(v1 >>> 0) << 32n) | BigInt(v2 >>> 0)
}

/**
 * The usual rendering (vendor-specific in meaning): four 16-bit fields, as tpm2_getcap and most
 * vendors' tools show them, e.g. 0x0007005500111000 → "7.85.17.4096".
 */
export function formatFirmwareVersion(version: bigint): string {
  const part = (shift: bigint): bigint => (version >> shift) & 0xffffn
  return `${part(48n)}.${part(32n)}.${part(16n)}.${part(0n)}`
}

/** The identity of a TPM from its TPM_PT_FIXED properties. */
export interface TpmProperties {
  /** "2.0" for a TPM 2.0 (TPM_PT_FAMILY_INDICATOR). */
  family: string
  level: number
  /** Specification revision × 100 (e.g. 164 for 1.64). */
  revision: number
  manufacturer: string
  vendor: string
  firmwareVersion: bigint
  /** PCRs in each bank (TPM_PT_PCR_COUNT), when reported. */
  pcrCount?: number
}

/** Decodes what a caller needs from TPM_PT_FIXED properties; absent properties read as zero. */
export function decodeTpmProperties(data: CapabilityData): TpmProperties {
  if (data.kind !== 'properties')
    throw new MalformedTpmStructureError('TPMS_CAPABILITY_DATA', 0, 'TPM properties expected, got the PCR allocation')
  const properties = data.properties
  const value = (id: number): number => properties.find((p) => p.property === id)?.value ?? 0
  const pcrCount = properties.find((p) => p.property === TPM_PT.PCR_COUNT)?.value
  const out: TpmProperties = {
    family: ascii([value(TPM_PT.FAMILY_INDICATOR)]),
    level: value(TPM_PT.LEVEL),
    revision: value(TPM_PT.REVISION),
    manufacturer: decodeManufacturer(value(TPM_PT.MANUFACTURER)),
    vendor: decodeVendorString([
      value(TPM_PT.VENDOR_STRING_1),
      value(TPM_PT.VENDOR_STRING_2),
      value(TPM_PT.VENDOR_STRING_3),
      value(TPM_PT.VENDOR_STRING_4)
    ]),
    firmwareVersion: firmwareVersion(value(TPM_PT.FIRMWARE_VERSION_1), value(TPM_PT.FIRMWARE_VERSION_2))
  }
  if (pcrCount !== undefined) out.pcrCount = pcrCount
  return out
}
