/** Input: TPMS_CAPABILITY_DATA. */
import { parseCapabilityData } from '../../src/attest/tpm2/index.js'
import { bytes, typed } from '../common.js'

export function fuzz(data: Buffer): void {
  typed(() => parseCapabilityData(bytes(data)))
}
