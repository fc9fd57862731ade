/** Input: a TCTI string (latin1). */
import { parseTcti } from '../../src/attest/tpm/tcti.js'
import { typed } from '../common.js'

export function fuzz(data: Buffer): void {
  typed(() => parseTcti(data.toString('latin1')))
}
