/** Input: TPM2B_PUBLIC. */
import { parsePublic } from '../../src/attest/tpm2/index.js'
import { bytes, typed } from '../common.js'

export function fuzz (data: Buffer): void {
  typed(() => parsePublic(bytes(data)))
}
