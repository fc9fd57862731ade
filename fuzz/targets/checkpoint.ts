/** Input: a checkpoint signed note, UTF-8. */
import { parseCheckpoint } from '../../src/ledger/checkpoint.js'
import { typed, utf8 } from '../common.js'

export function fuzz(data: Buffer): void {
  typed(() => parseCheckpoint(utf8(data)))
}
