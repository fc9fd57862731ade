/** Input: a TCG PC Client event log (TCG 2.0 crypto-agile or SHA-1 format), parsed then replayed. */
import { parseEventLog, replayEventLog } from '../../src/attest/eventlog/index.js'
import { bytes, typed } from '../common.js'

export function fuzz(data: Buffer): void {
  typed(() => replayEventLog(parseEventLog(bytes(data))))
}
