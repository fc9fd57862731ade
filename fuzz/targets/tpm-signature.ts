/** Input: TPMT_SIGNATURE. */
import { parseSignature } from '../../src/attest/tpm2/index.js'
import { bytes, typed } from '../common.js'

export function fuzz(data: Buffer): void {
  typed(() => parseSignature(bytes(data)))
}
