/**
 * An actor proof as the control socket carries it: the encoded ActorProof (src/ledger) in
 * standard base64, canonical (padded, no whitespace, unused bits zero), so one proof has one text.
 */
import { fromBase64, toBase64 } from '../../common/index.js'
import { decodeActorProof } from '../../ledger/index.js'
import { ProofTextError } from './errors.js'
import { APPROVALS_LIMITS } from './limits.js'

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

export function proofToText(proof: Uint8Array): string {
  return toBase64(proof)
}

/**
 * The encoded proof `text` stands for, checked to decode as an ActorProof (MalformedActorProofError
 * otherwise); ProofTextError for text that is not canonical base64 within APPROVALS_LIMITS.maxProofText.
 */
export function proofFromText(text: unknown): Uint8Array {
  if (typeof text !== 'string') throw new ProofTextError('must be base64 text')
  if (text.length === 0 || text.length > APPROVALS_LIMITS.maxProofText)
    throw new ProofTextError(`must be 1 to ${APPROVALS_LIMITS.maxProofText} characters, not ${text.length}`)
  if (!BASE64.test(text)) throw new ProofTextError('is not base64')
  const proof = fromBase64(text)
  if (toBase64(proof) !== text) throw new ProofTextError('is not canonical base64')
  decodeActorProof(proof)
  return proof
}
