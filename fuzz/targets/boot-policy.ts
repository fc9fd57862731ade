/** Input: boot policy JSON. */
import { parseBootPolicy } from '../../src/attest/policy/index.js'
import { bytes, typed } from '../common.js'

export function fuzz(data: Buffer): void {
  typed(() => parseBootPolicy(bytes(data)))
}
