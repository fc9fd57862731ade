import type { PcrSelection } from '../pcrs.js'
import { TPM2_LIMITS } from './limits.js'
import { TpmReader } from './reader.js'
import { readPcrSelection } from './pcr-selection.js'

const TPM_CAP_PCRS = 0x00000005
const TPM_CAP_TPM_PROPERTIES = 0x00000006

export type CapabilityData =
  | { kind: 'properties', properties: Array<{ property: number, value: number }> }
  | { kind: 'pcrs', selection: PcrSelection }

/** Parses TPMS_CAPABILITY_DATA for TPM properties and PCR allocation. */
export function parseCapabilityData (bytes: Uint8Array): CapabilityData {
  const r: TpmReader = new TpmReader(bytes, 'TPMS_CAPABILITY_DATA')
  const capability = r.u32()
  let out: CapabilityData
  if (capability === TPM_CAP_TPM_PROPERTIES) {
    const count = r.u32()
    if (count > TPM2_LIMITS.maxCapabilityEntries) r.fail(`${count} properties exceed ${TPM2_LIMITS.maxCapabilityEntries}`)
    const properties: Array<{ property: number, value: number }> = []
    for (let i = 0; i < count; i++) properties.push({ property: r.u32(), value: r.u32() })
    out = { kind: 'properties', properties }
  } else if (capability === TPM_CAP_PCRS) {
    out = { kind: 'pcrs', selection: readPcrSelection(r) }
  } else {
    r.fail(`capability 0x${capability.toString(16)} unsupported`)
  }
  r.end()
  return out
}
