/** Input: a ledger entry's canonical CBOR. */
import { decodeEntry } from '../../src/ledger/entry.js'
import { bytes, typed } from '../common.js'

export function fuzz(data: Buffer): void {
  typed(() => decodeEntry(bytes(data)))
}
