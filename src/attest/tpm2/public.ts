import crypto from 'node:crypto'
import { hashAlgFromId, HASH_ALG_ID, digest, type HashAlg } from '../pcrs.js'
import { TPM_ALG, TPMA_OBJECT, TPM_ECC_CURVE } from './constants.js'
import { TPM2_LIMITS } from './limits.js'
import { TpmReader, TpmWriter } from './reader.js'
import { UnsupportedAlgorithmError } from './errors.js'

export interface SymmetricDef { algorithm: number, keyBits?: number, mode?: number }
export interface Scheme { scheme: number, hash?: number, count?: number, kdf?: number }

interface PublicBase {
  nameAlg: HashAlg
  objectAttributes: number
  authPolicy: Uint8Array
}
export interface RsaPublic extends PublicBase { type: 'rsa', symmetric: SymmetricDef, scheme: Scheme, keyBits: number, exponent: number, modulus: Uint8Array }
export interface EccPublic extends PublicBase { type: 'ecc', symmetric: SymmetricDef, scheme: Scheme, curve: number, kdf: Scheme, x: Uint8Array, y: Uint8Array }
export interface KeyedHashPublic extends PublicBase { type: 'keyedhash', scheme: Scheme, unique: Uint8Array }

/** A TPMT_PUBLIC. Marshalling it back gives the same bytes it was parsed from. */
export type TpmPublic = RsaPublic | EccPublic | KeyedHashPublic

function readSymmetric (r: TpmReader): SymmetricDef {
  const algorithm = r.u16()
  if (algorithm === TPM_ALG.NULL) return { algorithm }
  if (algorithm !== TPM_ALG.AES) r.fail(`symmetric algorithm 0x${algorithm.toString(16)} unsupported`)
  return { algorithm, keyBits: r.u16(), mode: r.u16() }
}

function writeSymmetric (w: TpmWriter, s: SymmetricDef): void {
  w.u16(s.algorithm)
  if (s.algorithm !== TPM_ALG.NULL) w.u16(s.keyBits ?? 128).u16(s.mode ?? TPM_ALG.CFB)
}

/** Schemes with a hash parameter (signing and encryption schemes); ECDAA also has a count. */
function readScheme (r: TpmReader): Scheme {
  const scheme = r.u16()
  if (scheme === TPM_ALG.NULL) return { scheme }
  if (scheme === TPM_ALG.ECDAA) return { scheme, hash: r.u16(), count: r.u16() }
  if (scheme === TPM_ALG.RSAES) return { scheme }
  return { scheme, hash: r.u16() }
}

function writeScheme (w: TpmWriter, s: Scheme): void {
  w.u16(s.scheme)
  if (s.scheme === TPM_ALG.NULL || s.scheme === TPM_ALG.RSAES) return
  w.u16(s.hash ?? TPM_ALG.SHA256)
  if (s.scheme === TPM_ALG.ECDAA) w.u16(s.count ?? 0)
}

/** Parses a TPMT_PUBLIC (no size prefix). */
export function parsePublicArea (bytes: Uint8Array): TpmPublic {
  if (bytes.length > TPM2_LIMITS.maxStructureSize) new TpmReader(bytes, 'TPMT_PUBLIC').fail('too large')
  const r: TpmReader = new TpmReader(bytes, 'TPMT_PUBLIC')
  const type = r.u16()
  const nameAlgId = r.u16()
  const nameAlg = hashAlgFromId(nameAlgId)
  if (nameAlg === undefined) r.fail(`nameAlg 0x${nameAlgId.toString(16)} unsupported`)
  const objectAttributes = r.u32()
  const authPolicy = r.tpm2b()
  let result: TpmPublic
  if (type === TPM_ALG.RSA) {
    const symmetric = readSymmetric(r)
    const scheme = readScheme(r)
    const keyBits = r.u16()
    const exponent = r.u32()
    result = { type: 'rsa', nameAlg, objectAttributes, authPolicy, symmetric, scheme, keyBits, exponent, modulus: r.tpm2b() }
  } else if (type === TPM_ALG.ECC) {
    const symmetric = readSymmetric(r)
    const scheme = readScheme(r)
    const curve = r.u16()
    const kdfScheme = r.u16()
    const kdf: Scheme = kdfScheme === TPM_ALG.NULL ? { scheme: kdfScheme } : { scheme: kdfScheme, hash: r.u16() }
    result = { type: 'ecc', nameAlg, objectAttributes, authPolicy, symmetric, scheme, curve, kdf, x: r.tpm2b(), y: r.tpm2b() }
  } else if (type === TPM_ALG.KEYEDHASH) {
    const schemeId = r.u16()
    let scheme: Scheme
    if (schemeId === TPM_ALG.NULL) scheme = { scheme: schemeId }
    else if (schemeId === TPM_ALG.HMAC) scheme = { scheme: schemeId, hash: r.u16() }
    else if (schemeId === TPM_ALG.XOR) scheme = { scheme: schemeId, hash: r.u16(), kdf: r.u16() }
    else r.fail(`keyedhash scheme 0x${schemeId.toString(16)} unsupported`)
    result = { type: 'keyedhash', nameAlg, objectAttributes, authPolicy, scheme, unique: r.tpm2b() }
  } else {
    r.fail(`object type 0x${type.toString(16)} unsupported`)
  }
  r.end()
  return result
}

/** Parses a TPM2B_PUBLIC (u16 size, then the TPMT_PUBLIC). */
export function parsePublic (bytes: Uint8Array): TpmPublic {
  const r: TpmReader = new TpmReader(bytes, 'TPM2B_PUBLIC')
  const inner = r.tpm2b(TPM2_LIMITS.maxStructureSize)
  r.end()
  return parsePublicArea(inner)
}

/** TPMT_PUBLIC bytes. */
export function marshalPublicArea (p: TpmPublic): Uint8Array {
  const w = new TpmWriter()
  const type = p.type === 'rsa' ? TPM_ALG.RSA : p.type === 'ecc' ? TPM_ALG.ECC : TPM_ALG.KEYEDHASH
  w.u16(type).u16(HASH_ALG_ID[p.nameAlg]).u32(p.objectAttributes).tpm2b(p.authPolicy)
  if (p.type === 'rsa') {
    writeSymmetric(w, p.symmetric)
    writeScheme(w, p.scheme)
    w.u16(p.keyBits).u32(p.exponent).tpm2b(p.modulus)
  } else if (p.type === 'ecc') {
    writeSymmetric(w, p.symmetric)
    writeScheme(w, p.scheme)
    w.u16(p.curve).u16(p.kdf.scheme)
    if (p.kdf.scheme !== TPM_ALG.NULL) w.u16(p.kdf.hash ?? TPM_ALG.SHA256)
    w.tpm2b(p.x).tpm2b(p.y)
  } else {
    w.u16(p.scheme.scheme)
    if (p.scheme.scheme === TPM_ALG.HMAC) w.u16(p.scheme.hash ?? TPM_ALG.SHA256)
    if (p.scheme.scheme === TPM_ALG.XOR) w.u16(p.scheme.hash ?? TPM_ALG.SHA256).u16(p.scheme.kdf ?? TPM_ALG.NULL)
    w.tpm2b(p.unique)
  }
  return w.finish()
}

/** TPM2B_PUBLIC bytes. */
export function marshalPublic (p: TpmPublic): Uint8Array {
  return new TpmWriter().tpm2b(marshalPublicArea(p)).finish()
}

/** The object's Name: nameAlg ‖ H_nameAlg(TPMT_PUBLIC). */
export function objectName (p: TpmPublic): Uint8Array {
  const w = new TpmWriter().u16(HASH_ALG_ID[p.nameAlg])
  return w.raw(digest(p.nameAlg, marshalPublicArea(p))).finish()
}

export function isRestrictedSigningKey (p: TpmPublic): boolean {
  const want = TPMA_OBJECT.restricted | TPMA_OBJECT.sign
  return (p.objectAttributes & want) === want && (p.objectAttributes & TPMA_OBJECT.decrypt) === 0
}

const CURVE_NAMES: Record<number, { jwk: string, size: number }> = {
  [TPM_ECC_CURVE.NIST_P256]: { jwk: 'P-256', size: 32 },
  [TPM_ECC_CURVE.NIST_P384]: { jwk: 'P-384', size: 48 }
}

/** The public key as a node:crypto KeyObject (RSA or ECC P-256/P-384). */
export function publicKey (p: TpmPublic): crypto.KeyObject {
  if (p.type === 'rsa') {
    const e = p.exponent === 0 ? 65537 : p.exponent
    const eBytes = Buffer.alloc(4)
    eBytes.writeUInt32BE(e)
    let start = 0
    while (start < 3 && eBytes[start] === 0) start++
    return crypto.createPublicKey({ key: { kty: 'RSA', n: Buffer.from(p.modulus).toString('base64url'), e: eBytes.subarray(start).toString('base64url') }, format: 'jwk' })
  }
  if (p.type === 'ecc') {
    const curve = CURVE_NAMES[p.curve]
    if (curve === undefined) throw new UnsupportedAlgorithmError('ECC curve', p.curve)
    if (p.x.length !== curve.size || p.y.length !== curve.size) throw new UnsupportedAlgorithmError('ECC point size of curve', p.curve)
    return crypto.createPublicKey({ key: { kty: 'EC', crv: curve.jwk, x: Buffer.from(p.x).toString('base64url'), y: Buffer.from(p.y).toString('base64url') }, format: 'jwk' })
  }
  throw new UnsupportedAlgorithmError('public key type (keyedhash has no public key)', TPM_ALG.KEYEDHASH)
}

/** SubjectPublicKeyInfo PEM, as tpm2_checkquote -u reads it. */
export function publicToPem (p: TpmPublic): string {
  return publicKey(p).export({ type: 'spki', format: 'pem' }).toString()
}

/** SEC1 uncompressed point of a P-256 key (the hybrid signature's P-256 public key format). */
export function eccPoint (p: TpmPublic): Uint8Array {
  if (p.type !== 'ecc') throw new UnsupportedAlgorithmError('key type for an ECC point', TPM_ALG.RSA)
  return new Uint8Array(Buffer.concat([Buffer.of(4), p.x, p.y]))
}

// --- templates -------------------------------------------------------------------------------

const ECDSA_SHA256: Scheme = { scheme: TPM_ALG.ECDSA, hash: TPM_ALG.SHA256 }
const NULL_SCHEME: Scheme = { scheme: TPM_ALG.NULL }
const AES128_CFB: SymmetricDef = { algorithm: TPM_ALG.AES, keyBits: 128, mode: TPM_ALG.CFB }
const EMPTY = new Uint8Array(0)
// noDA: these keys have empty authorisation (they are protected by fixedTPM and PCR policies), so
// dictionary-attack counting protects nothing — and unorderly shutdowns (power loss) would
// otherwise lock the device out of its own keys.
const KEY_BASE = TPMA_OBJECT.fixedTPM | TPMA_OBJECT.fixedParent | TPMA_OBJECT.sensitiveDataOrigin | TPMA_OBJECT.userWithAuth | TPMA_OBJECT.noDA

/** TCG EK Credential Profile policy A: PolicySecret(TPM_RH_ENDORSEMENT). */
export const EK_POLICY_A = new Uint8Array(Buffer.from('837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa', 'hex'))

/** AK: restricted ECC P-256 signing key (TPM2_Quote and TPM2_Certify only). */
export function attestationKeyTemplate (): EccPublic {
  return { type: 'ecc', nameAlg: 'sha256', objectAttributes: KEY_BASE | TPMA_OBJECT.restricted | TPMA_OBJECT.sign, authPolicy: EMPTY, symmetric: { algorithm: TPM_ALG.NULL }, scheme: ECDSA_SHA256, curve: TPM_ECC_CURVE.NIST_P256, kdf: NULL_SCHEME, x: EMPTY, y: EMPTY }
}

/** DSK: non-restricted ECC P-256 signing key (checkpoints, statements). */
export function signingKeyTemplate (): EccPublic {
  return { ...attestationKeyTemplate(), objectAttributes: KEY_BASE | TPMA_OBJECT.sign }
}

/** Storage primary key: restricted ECC P-256 decryption key, AES-128-CFB for its children. */
export function storageKeyTemplate (): EccPublic {
  return { type: 'ecc', nameAlg: 'sha256', objectAttributes: KEY_BASE | TPMA_OBJECT.restricted | TPMA_OBJECT.decrypt, authPolicy: EMPTY, symmetric: AES128_CFB, scheme: NULL_SCHEME, curve: TPM_ECC_CURVE.NIST_P256, kdf: NULL_SCHEME, x: EMPTY, y: EMPTY }
}

/** Sealed data object: usable only through a policy session satisfying `authPolicy`. */
export function sealedDataTemplate (authPolicy: Uint8Array): KeyedHashPublic {
  return { type: 'keyedhash', nameAlg: 'sha256', objectAttributes: TPMA_OBJECT.fixedTPM | TPMA_OBJECT.fixedParent | TPMA_OBJECT.noDA, authPolicy, scheme: NULL_SCHEME, unique: EMPTY }
}

const EK_ATTRIBUTES = TPMA_OBJECT.fixedTPM | TPMA_OBJECT.fixedParent | TPMA_OBJECT.sensitiveDataOrigin | TPMA_OBJECT.adminWithPolicy | TPMA_OBJECT.restricted | TPMA_OBJECT.decrypt

/** TCG EK Credential Profile template L-1 (RSA 2048). */
export function rsaEkTemplate (): RsaPublic {
  return { type: 'rsa', nameAlg: 'sha256', objectAttributes: EK_ATTRIBUTES, authPolicy: EK_POLICY_A, symmetric: AES128_CFB, scheme: NULL_SCHEME, keyBits: 2048, exponent: 0, modulus: new Uint8Array(256) }
}

/** TCG EK Credential Profile template L-2 (ECC NIST P-256). */
export function eccEkTemplate (): EccPublic {
  return { type: 'ecc', nameAlg: 'sha256', objectAttributes: EK_ATTRIBUTES, authPolicy: EK_POLICY_A, symmetric: AES128_CFB, scheme: NULL_SCHEME, curve: TPM_ECC_CURVE.NIST_P256, kdf: NULL_SCHEME, x: new Uint8Array(32), y: new Uint8Array(32) }
}

/**
 * A public-only ECC P-256 verification key for TPM2_LoadExternal (e.g. a PolicyAuthorize
 * authority): the same point always gives the same template, hence the same Name.
 */
export function externalVerificationKey (point: Uint8Array): EccPublic {
  if (point.length !== 65 || point[0] !== 4) throw new UnsupportedAlgorithmError('point encoding (need SEC1 uncompressed P-256)', point[0] ?? 0)
  return { type: 'ecc', nameAlg: 'sha256', objectAttributes: TPMA_OBJECT.userWithAuth | TPMA_OBJECT.sign, authPolicy: EMPTY, symmetric: { algorithm: TPM_ALG.NULL }, scheme: ECDSA_SHA256, curve: TPM_ECC_CURVE.NIST_P256, kdf: NULL_SCHEME, x: point.slice(1, 33), y: point.slice(33) }
}
