/**
 * Input: what an external witness (or whoever answers at its URL) sends. The first byte picks the
 * reader: 0, a 200's body (signature lines, then the cosignature check against a fixed key and
 * checkpoint); 1, a 409's body as text/x.tlog.size; 2, a verifier key as an owner's statement
 * holds it. The rest is the text, UTF-8.
 */
import {
  parseConflictSize,
  parseCosignatureLines,
  parseWitnessKey,
  verifyCosignature
} from '../../src/ledger/tlog-witness/index.js'
import { typed, utf8 } from '../common.js'

/** The witness key of the seeds: the vector's (test/vectors/tlog-witness). */
export const WITNESS_VKEY = 'witness.example.com/w1+7e6f4aaa+BNdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea'
export const WITNESS_CHECKPOINT =
  'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n'
const key = parseWitnessKey(WITNESS_VKEY)

export function fuzz(data: Buffer): void {
  const text = utf8(data.subarray(1))
  switch (data[0]) {
    case 0:
      typed(() =>
        verifyCosignature(parseCosignatureLines(text), WITNESS_CHECKPOINT, key, {
          nowSeconds: 1679315147,
          notBeforeSeconds: 1679315147
        })
      )
      break
    case 1:
      typed(() => parseConflictSize(text, 'text/x.tlog.size'))
      break
    default:
      typed(() => parseWitnessKey(text))
  }
}
