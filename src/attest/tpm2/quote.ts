import crypto from 'node:crypto'
import { toHex } from '../../common/index.js'
import { digest, DIGEST_SIZE, hashAlgFromId, type PcrSelection, type PcrValues } from '../pcrs.js'
import { TPM_ALG, TPM_GENERATED_VALUE, TPM_ST } from './constants.js'
import { parseAttest, type ClockInfo, type UnverifiedAttest } from './attest.js'
import { parseSignature, verifyTpmSignature, type TpmSignature } from './signature.js'
import { objectName, parsePublic, publicKey, type TpmPublic } from './public.js'
import { checkAttestationKey } from './key-attributes.js'
import {
  AttestMagicError,
  AttestTypeError,
  QuoteNonceMismatchError,
  QuotePcrDigestMismatchError,
  QuotePcrMissingError,
  QuoteSignatureError,
  Sha1NotAllowedError,
  NotRestrictedKeyError,
  CertifiedNameMismatchError,
  CertifySignatureError,
  CertifyNonceMismatchError,
  SignatureSchemeMismatchError
} from './verification-errors.js'
import { InvalidPcrSelectionError, InvalidPublicKeyError } from './errors.js'

declare const verifiedQuote: unique symbol
declare const verifiedCertification: unique symbol

/** A quote that passed verifyQuote. Only verifyQuote makes one. */
export interface VerifiedQuote {
  readonly [verifiedQuote]: true
  readonly attest: UnverifiedAttest
  readonly clockInfo: ClockInfo
  readonly firmwareVersion: bigint
  readonly signature: TpmSignature
  /** The banks and PCRs the quote covers, in the quote's order. */
  readonly selection: PcrSelection
  /** The quoted PCR values (only those the quote covers). */
  readonly pcrs: PcrValues
  /**
   * False when the AK was given as a bare public key, so whether it was made inside the TPM and is
   * restricted (checkAttestationKey) is unknown: no trust decision may rest on such a quote.
   */
  readonly akRestrictionChecked: boolean
}

export interface VerifyQuoteInput {
  /** The AK: its TPMT_PUBLIC (then it must pass checkAttestationKey) or a bare public key. */
  ak: TpmPublic | crypto.KeyObject
  /** TPMS_ATTEST bytes (`tpm2_quote -m`). */
  attest: Uint8Array
  /** TPMT_SIGNATURE bytes (`tpm2_quote -s`). */
  signature: Uint8Array
  nonce: Uint8Array
  /** Values for (at least) every quoted PCR. */
  pcrs: PcrValues
  /** Accept SHA-1 signatures and SHA-1 banks. Off by default: SHA-1 collisions are practical. */
  allowSha1?: boolean
}

const SCHEME_KIND: Record<number, TpmSignature['kind'] | undefined> = {
  [TPM_ALG.RSASSA]: 'rsassa',
  [TPM_ALG.RSAPSS]: 'rsapss',
  [TPM_ALG.ECDSA]: 'ecdsa'
}

function signingKey(ak: TpmPublic | crypto.KeyObject): { key: crypto.KeyObject; public?: TpmPublic } {
  if (ak instanceof crypto.KeyObject) {
    if (ak.type !== 'public') throw new InvalidPublicKeyError(`a ${ak.type} key was given where a public key belongs`)
    return { key: ak }
  }
  checkAttestationKey(ak)
  return { key: publicKey(ak), public: ak }
}

/** A TPM signs only with the scheme its key's public area fixes (when it fixes one). */
function checkScheme(pub: TpmPublic | undefined, sig: TpmSignature): void {
  if (pub === undefined || pub.type === 'keyedhash' || pub.scheme.scheme === TPM_ALG.NULL) return
  const kind = SCHEME_KIND[pub.scheme.scheme] ?? `scheme 0x${pub.scheme.scheme.toString(16)}`
  const hash = hashAlgFromId(pub.scheme.hash ?? 0) ?? `hash 0x${(pub.scheme.hash ?? 0).toString(16)}`
  if (kind !== sig.kind || hash !== sig.hash)
    throw new SignatureSchemeMismatchError(`${kind}/${hash}`, `${sig.kind}/${sig.hash}`)
}

/** Parses and checks the signature; nothing of the attestation is believed before this passed. */
function checkSigned(
  key: crypto.KeyObject,
  pub: TpmPublic | undefined,
  attest: Uint8Array,
  signatureBytes: Uint8Array,
  allowSha1: boolean,
  onBad: (sig: TpmSignature) => Error
): TpmSignature {
  const sig = parseSignature(signatureBytes)
  if (sig.hash === 'sha1' && !allowSha1) throw new Sha1NotAllowedError('signature hash')
  checkScheme(pub, sig)
  if (!verifyTpmSignature(key, attest, sig)) throw onBad(sig)
  return sig
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  // The length is not secret (it is in the quote); the content comparison is constant-time.
  return a.length === b.length && crypto.timingSafeEqual(a, b)
}

function checkHeader(parsed: UnverifiedAttest, type: number): void {
  if (parsed.magic !== TPM_GENERATED_VALUE) throw new AttestMagicError(TPM_GENERATED_VALUE, parsed.magic)
  if (parsed.type !== type) throw new AttestTypeError(type, parsed.type)
}

/**
 * Verifies a TPM2_Quote: signature (with the signature's hash), magic, type, nonce (extraData),
 * and that the given PCR values hash to the quoted pcrDigest — selected banks in the quote's order,
 * PCRs ascending, hashed with the signing scheme's hash as the TPM does. SHA-1 anywhere is refused
 * unless `allowSha1`.
 */
export function verifyQuote(input: VerifyQuoteInput): VerifiedQuote {
  const allowSha1 = input.allowSha1 === true
  const { key, public: akPublic } = signingKey(input.ak)
  const parsed = parseAttest(input.attest)
  const sig = checkSigned(
    key,
    akPublic,
    input.attest,
    input.signature,
    allowSha1,
    (s) => new QuoteSignatureError(s.kind, s.hash)
  )
  checkHeader(parsed, TPM_ST.ATTEST_QUOTE)
  if (parsed.attested.kind !== 'quote') throw new AttestTypeError(TPM_ST.ATTEST_QUOTE, parsed.type)
  if (!sameBytes(parsed.extraData, input.nonce))
    throw new QuoteNonceMismatchError(toHex(input.nonce), toHex(parsed.extraData))
  const quoted: PcrValues = {}
  const parts: Uint8Array[] = []
  for (const bank of parsed.attested.pcrSelect) {
    if (bank.hash === 'sha1' && !allowSha1) throw new Sha1NotAllowedError('quoted PCR bank')
    const map = new Map<number, Uint8Array>()
    for (const pcr of bank.pcrs) {
      const value = input.pcrs[bank.hash]?.get(pcr)
      if (value === undefined) throw new QuotePcrMissingError(bank.hash, pcr)
      // Sizes are checked because concatenation hides boundaries: 31 + 33 bytes hash like 32 + 32.
      if (value.length !== DIGEST_SIZE[bank.hash])
        throw new InvalidPcrSelectionError(
          `the ${bank.hash} PCR ${pcr} value has ${value.length} bytes, not ${DIGEST_SIZE[bank.hash]}`
        )
      parts.push(value)
      map.set(pcr, value.slice())
    }
    quoted[bank.hash] = map
  }
  const computed = digest(sig.hash, ...parts)
  if (!sameBytes(computed, parsed.attested.pcrDigest))
    throw new QuotePcrDigestMismatchError(toHex(parsed.attested.pcrDigest), toHex(computed))
  const result = {
    attest: parsed,
    clockInfo: parsed.clockInfo,
    firmwareVersion: parsed.firmwareVersion,
    signature: sig,
    selection: parsed.attested.pcrSelect,
    pcrs: quoted,
    akRestrictionChecked: akPublic !== undefined
  }
  return result as unknown as VerifiedQuote
}

/** A certification that passed verifyCertify. Only verifyCertify makes one. */
export interface VerifiedCertification {
  readonly [verifiedCertification]: true
  readonly attest: UnverifiedAttest
  readonly clockInfo: ClockInfo
  readonly signature: TpmSignature
  /** Name of the certified object (equal to objectName(certifiedPublic)). */
  readonly certifiedName: Uint8Array
  readonly qualifiedName: Uint8Array
}

export interface VerifyCertifyInput {
  /** The certifying key (an AK): must pass checkAttestationKey. */
  signer: TpmPublic
  /** TPMS_ATTEST bytes (`tpm2_certify -o`). */
  attest: Uint8Array
  /** TPMT_SIGNATURE bytes (`tpm2_certify -s`). */
  signature: Uint8Array
  nonce: Uint8Array
  /** The object that must have been certified: parsed, or TPM2B_PUBLIC bytes. */
  certifiedPublic: TpmPublic | Uint8Array
  allowSha1?: boolean
}

/**
 * Verifies a TPM2_Certify: the signer (a restricted key) attests that the object with exactly this
 * public area is loaded in its TPM.
 */
export function verifyCertify(input: VerifyCertifyInput): VerifiedCertification {
  const { key, public: signerPublic } = signingKey(input.signer)
  if (signerPublic === undefined) throw new NotRestrictedKeyError(0)
  const parsed = parseAttest(input.attest)
  const sig = checkSigned(
    key,
    signerPublic,
    input.attest,
    input.signature,
    input.allowSha1 === true,
    (s) => new CertifySignatureError(s.kind, s.hash)
  )
  checkHeader(parsed, TPM_ST.ATTEST_CERTIFY)
  if (parsed.attested.kind !== 'certify') throw new AttestTypeError(TPM_ST.ATTEST_CERTIFY, parsed.type)
  if (!sameBytes(parsed.extraData, input.nonce))
    throw new CertifyNonceMismatchError(toHex(input.nonce), toHex(parsed.extraData))
  const certified =
    input.certifiedPublic instanceof Uint8Array ? parsePublic(input.certifiedPublic) : input.certifiedPublic
  const expected = objectName(certified)
  if (!sameBytes(expected, parsed.attested.name))
    throw new CertifiedNameMismatchError(toHex(expected), toHex(parsed.attested.name))
  const result = {
    attest: parsed,
    clockInfo: parsed.clockInfo,
    signature: sig,
    certifiedName: parsed.attested.name,
    qualifiedName: parsed.attested.qualifiedName
  }
  return result as unknown as VerifiedCertification
}
