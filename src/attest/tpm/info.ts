import { MalformedInputError } from '../../common/index.js'
import type { CapabilityData } from '../tpm2/index.js'
import type { TpmInfo } from './tpm.js'

/** TPM_PT properties (TPM 2.0 Part 2, §6.13). */
const TPM_PT = {
  REVISION: 0x102,
  MANUFACTURER: 0x105,
  VENDOR_STRING_1: 0x106,
  FIRMWARE_VERSION_1: 0x10b,
  FIRMWARE_VERSION_2: 0x10c
} as const

/** Manufacturer, vendor, firmware and allocated banks from the fixed properties and TPM_CAP_PCRS. */
export function decodeTpmInfo(fixed: CapabilityData, pcrs: CapabilityData): TpmInfo {
  if (fixed.kind !== 'properties' || pcrs.kind !== 'pcrs')
    throw new MalformedInputError('unexpected capability data from the TPM')
  const property = (id: number): number => fixed.properties.find((p) => p.property === id)?.value ?? 0
  // Vendor strings are 4 ASCII characters per property, zero-padded.
  const ascii = (...ids: number[]): string =>
    Buffer.concat(
      ids.map((id) => {
        const b = Buffer.alloc(4)
        b.writeUInt32BE(property(id) >>> 0, 0)
        return b
      })
    )
      .toString('latin1')
      .replace(/[^\x20-\x7e]/g, '')
      .trim()
  const fw1 = property(TPM_PT.FIRMWARE_VERSION_1) >>> 0
  const fw2 = property(TPM_PT.FIRMWARE_VERSION_2) >>> 0
  return {
    manufacturer: ascii(TPM_PT.MANUFACTURER),
    vendor: ascii(
      TPM_PT.VENDOR_STRING_1,
      TPM_PT.VENDOR_STRING_1 + 1,
      TPM_PT.VENDOR_STRING_1 + 2,
      TPM_PT.VENDOR_STRING_1 + 3
    ),
    firmwareVersion: `${fw1 >>> 16}.${fw1 & 0xffff}.${fw2 >>> 16}.${fw2 & 0xffff}`,
    specRevision: (property(TPM_PT.REVISION) / 100).toFixed(2),
    banks: pcrs.selection.filter((bank) => bank.pcrs.length > 0).map((bank) => bank.hash)
  }
}
