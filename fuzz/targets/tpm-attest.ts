/** Input: TPMS_ATTEST, as tpm2_quote writes it. */
import { parseAttest } from '../../src/attest/tpm2/index.js'
import { bytes, typed } from '../common.js'

export function fuzz(data: Buffer): void {
  typed(() => parseAttest(bytes(data)))
}
