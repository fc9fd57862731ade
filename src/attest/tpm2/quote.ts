import crypto from 'node:crypto'
import { bytesEqual, toHex } from '../../common/bytes.js'
import { digest, type PcrSelection, type PcrValues } from '../pcrs.js'
import { TPM_GENERATED_VALUE, TPM_ST } from './constants.js'
import { parseAttest, type ClockInfo, type UnverifiedAttest } from './attest.js'
import { parseSignature, signatureToDer, type TpmSignature } from './signature.js'
import { isRestrictedSigningKey, objectName, parsePublic, publicKey, type TpmPublic } from './public.js'
import {
  AttestMagicError, AttestTypeError, QuoteNonceMismatchError, QuotePcrDigestMismatchError, QuotePcrMissingError, QuoteSignatureError,
  Sha1NotAllowedError, NotRestrictedKeyError, CertifiedNameMismatchError
} from './errors.js'

declare const verified: unique symbol
/** A quote that passed verifyQuote. Only verifyQuote makes one. */
export interface VerifiedQuote {
  readonly [verified]: true
  readonly attest: UnverifiedAttest
  readonly clockInfo: ClockInfo
  readonly selection: PcrSelection
  /** The quoted PCR values (only those the quote covers). */
  readonly pcrs: PcrValues
  /** False when the AK was given as a bare public key, so its restricted attribute is unknown. */
  readonly akRestrictionChecked: boolean
}

export interface VerifyQuoteInput {
  /** The AK: its TPMT_PUBLIC (then it must be a restricted signing key) or a bare public key. */
  ak: TpmPublic | crypto.KeyObject
  attest: Uint8Array
  signature: Uint8Array
  nonce: Uint8Array
  pcrs: PcrValues
  allowSha1?: boolean
}

function signingKey (ak: TpmPublic | crypto.KeyObject): { key: crypto.KeyObject, restrictionChecked: boolean } {
  if (ak instanceof crypto.KeyObject) return { key: ak, restrictionChecked: false }
  if (!isRestrictedSigningKey(ak)) throw new NotRestrictedKeyError()
  return { key: publicKey(ak), restrictionChecked: true }
}

/** Verifies a TPM signature over `message` with the signature's own hash algorithm. */
export function verifyTpmSignature (key: crypto.KeyObject, message: Uint8Array, sig: TpmSignature): boolean {
  try {
    if (sig.kind === 'ecdsa') return crypto.verify(sig.hash, message, key, signatureToDer(sig))
    if (sig.kind === 'rsassa') return crypto.verify(sig.hash, message, { key, padding: crypto.constants.RSA_PKCS1_PADDING }, sig.signature)
    return crypto.verify(sig.hash, message, { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: crypto.constants.RSA_PSS_SALTLEN_AUTO }, sig.signature)
  } catch {
    return false
  }
}

/**
 * Called after strict parsing (unreadable input is exit 2, not a refusal) and before any field of
 * the attestation is believed.
 */
function checkSigned (key: crypto.KeyObject, attest: Uint8Array, signatureBytes: Uint8Array, allowSha1: boolean): TpmSignature {
  const sig = parseSignature(signatureBytes)
  if (sig.hash === 'sha1' && !allowSha1) throw new Sha1NotAllowedError('signature hash')
  if (!verifyTpmSignature(key, attest, sig)) throw new QuoteSignatureError(`${sig.kind}/${sig.hash} signature invalid for this key`)
  return sig
}

function checkHeader (parsed: UnverifiedAttest, type: number, nonce: Uint8Array): void {
  if (parsed.magic !== TPM_GENERATED_VALUE) throw new AttestMagicError(parsed.magic)
  if (parsed.type !== type) throw new AttestTypeError(type, parsed.type)
  if (!bytesEqual(parsed.extraData, nonce)) throw new QuoteNonceMismatchError(toHex(nonce), toHex(parsed.extraData))
}

/**
 * Verifies a TPM2_Quote: signature, magic, type, nonce (extraData), and that the given PCR values
 * hash to the quoted pcrDigest (selected banks in order, PCRs ascending, hashed with the
 * signature's hash algorithm). SHA-1 anywhere is refused unless `allowSha1`.
 */
export function verifyQuote (input: VerifyQuoteInput): VerifiedQuote {
  const { key, restrictionChecked } = signingKey(input.ak)
  const parsed = parseAttest(input.attest)
  const sig = checkSigned(key, input.attest, input.signature, input.allowSha1 === true)
  checkHeader(parsed, TPM_ST.ATTEST_QUOTE, input.nonce)
  if (parsed.attested.kind !== 'quote') throw new AttestTypeError(TPM_ST.ATTEST_QUOTE, parsed.type)
  const quoted: PcrValues = {}
  const parts: Uint8Array[] = []
  for (const bank of parsed.attested.pcrSelect) {
    if (bank.hash === 'sha1' && input.allowSha1 !== true) throw new Sha1NotAllowedError('quoted PCR bank')
    const map = new Map<number, Uint8Array>()
    for (const pcr of bank.pcrs) {
      const value = input.pcrs[bank.hash]?.get(pcr)
      if (value === undefined) throw new QuotePcrMissingError(bank.hash, pcr)
      parts.push(value)
      map.set(pcr, value)
    }
    quoted[bank.hash] = map
  }
  const computed = digest(sig.hash, ...parts)
  if (!bytesEqual(computed, parsed.attested.pcrDigest)) throw new QuotePcrDigestMismatchError(toHex(parsed.attested.pcrDigest), toHex(computed))
  return { attest: parsed, clockInfo: parsed.clockInfo, selection: parsed.attested.pcrSelect, pcrs: quoted, akRestrictionChecked: restrictionChecked } as unknown as VerifiedQuote
}

export interface VerifyCertifyInput {
  signer: TpmPublic
  attest: Uint8Array
  signature: Uint8Array
  nonce: Uint8Array
  /** The object that must have been certified: TPMT_PUBLIC or TPM2B_PUBLIC bytes, or parsed. */
  certifiedPublic: TpmPublic | Uint8Array
}

/** Verifies a TPM2_Certify: the signer (a restricted key) attests that the named object is loaded in its TPM. */
export function verifyCertify (input: VerifyCertifyInput): UnverifiedAttest {
  const { key } = signingKey(input.signer)
  const parsed = parseAttest(input.attest)
  checkSigned(key, input.attest, input.signature, false)
  checkHeader(parsed, TPM_ST.ATTEST_CERTIFY, input.nonce)
  if (parsed.attested.kind !== 'certify') throw new AttestTypeError(TPM_ST.ATTEST_CERTIFY, parsed.type)
  const certified = input.certifiedPublic instanceof Uint8Array ? parsePublic(input.certifiedPublic) : input.certifiedPublic
  const expected = objectName(certified)
  if (!bytesEqual(expected, parsed.attested.name)) throw new CertifiedNameMismatchError(toHex(expected), toHex(parsed.attested.name))
  return parsed
}
