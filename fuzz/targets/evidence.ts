/** Input: equivocation evidence bytes (an alert.equivocation body's evidence), decoded and verified against a fixed feed key. */
import { decodeEvidence, verifyEquivocationEvidence } from '../../src/ledger/equivocation.js'
import { bytes, typed } from '../common.js'
import { fixedFeedSigner } from './proof-bundle.js'

let feedKey: ReturnType<typeof fixedFeedSigner>['publicKey'] | undefined

export function fuzz(data: Buffer): void {
  feedKey ??= fixedFeedSigner().publicKey
  const key = feedKey
  typed(() => verifyEquivocationEvidence(decodeEvidence(bytes(data)), key))
}
