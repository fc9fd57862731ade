/** Input: a tpm2-tools serialized PCR file (TPML_PCR_SELECTION + TPML_DIGEST values). */
import { parseSerializedPcrs } from '../../src/attest/tpm2/index.js'
import { bytes, typed } from '../common.js'

export function fuzz(data: Buffer): void {
  typed(() => parseSerializedPcrs(bytes(data)))
}
