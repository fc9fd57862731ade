/** Input: a stored run of entries (entry-runs.ts), decoded; every entry it yields must lie inside the input and re-encode to it. */
import { decodeRun, encodeRun } from '../../src/ledger/entry-runs.js'
import { bytes, typed } from '../common.js'

export function fuzz(data: Buffer): void {
  typed(() => {
    const input = bytes(data)
    const entries = decodeRun('0000000000000000', input)
    const again = encodeRun(entries)
    if (Buffer.compare(Buffer.from(again), Buffer.from(input)) !== 0)
      throw new Error('a decoded run does not encode back to its bytes')
  })
}
