/** Input: any canonical CBOR. */
import { decodeCanonical } from '../../src/ledger/cbor.js'
import { bytes, typed } from '../common.js'

export function fuzz (data: Buffer): void {
  typed(() => decodeCanonical(bytes(data)))
}
