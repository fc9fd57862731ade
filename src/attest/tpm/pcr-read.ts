/** Reading PCRs as one snapshot, across as many TPM2_PCR_Read calls as the selection needs. */
import { MalformedInputError } from '../../common/index.js'
import type { HashAlg, PcrSelection, PcrValues } from '../pcrs.js'
import { marshalPcrSelection, parsePcrSelection } from '../tpm2/index.js'
import { TpmCommandError } from './errors.js'
import type { NativeContext } from './native.js'
import { parseDigestList } from './wire.js'

/** The values of `selection`, all read under one PCR update counter (else read again, up to 5 times). */
export async function readPcrSnapshot(c: NativeContext, tcti: string, selection: PcrSelection): Promise<PcrValues> {
  // The TPM answers at most 8 digests per call; all calls must see one update counter,
  // or a PCR changed in between and the set is not a snapshot: start again.
  for (let attempt = 0; attempt < 5; attempt++) {
    const values: PcrValues = {}
    const remaining = new Map<HashAlg, Set<number>>(selection.map((bank) => [bank.hash, new Set(bank.pcrs)]))
    let counter: number | undefined
    let consistent = true
    while ([...remaining.values()].some((set) => set.size > 0)) {
      const request: PcrSelection = [...remaining]
        .filter(([, set]) => set.size > 0)
        .map(([hash, set]) => ({ hash, pcrs: [...set].sort((a, b) => a - b) }))
      const answer = await c.pcrRead(marshalPcrSelection(request))
      if (counter !== undefined && counter !== answer.updateCounter) {
        consistent = false
        break
      }
      counter = answer.updateCounter
      const returned = parsePcrSelection(answer.selection)
      const digests = parseDigestList(answer.values)
      let index = 0
      for (const bank of returned) {
        for (const pcr of bank.pcrs) {
          const value = digests[index++]
          if (value === undefined) throw new MalformedInputError('the TPM returned fewer PCR values than selected')
          const bankValues = values[bank.hash] ?? new Map<number, Uint8Array>()
          values[bank.hash] = bankValues
          bankValues.set(pcr, value)
          remaining.get(bank.hash)?.delete(pcr)
        }
      }
      if (index === 0) {
        const missing = request.map((bank) => `${bank.hash}:${bank.pcrs.join(',')}`).join(' ')
        throw new TpmCommandError(tcti, 'pcrRead', 0, `PCRs not available in this TPM: ${missing}`)
      }
    }
    if (consistent) return values
  }
  throw new TpmCommandError(tcti, 'pcrRead', 0, 'PCRs kept changing while being read')
}
