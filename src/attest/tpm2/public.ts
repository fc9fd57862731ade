import crypto from 'node:crypto'
import { hashAlgFromId, HASH_ALG_ID, digest, type HashAlg } from '../pcrs.js'
import { bytesEqual } from '../../common/index.js'
import { TPM_ALG, TPMA_OBJECT, TPM_ECC_CURVE } from './constants.js'
import { TPM2_LIMITS } from './limits.js'
import { TpmReader } from './reader.js'
import { TpmWriter } from './writer.js'
import { InvalidPublicKeyError, UnsupportedAlgorithmError } from './errors.js'

/** TPMT_SYM_DEF_OBJECT: NULL, or a block cipher with key size and mode. */
export interface SymmetricDef {
  algorithm: number
  keyBits?: number
  mode?: number
}
/** A scheme selector with its parameters (hash; ECDAA count; XOR kdf), kept numeric to re-marshal exactly. */
export interface Scheme {
  scheme: number
  hash?: number
  count?: number
  kdf?: number
}

interface PublicBase {
  nameAlg: HashAlg
  objectAttributes: number
  authPolicy: Uint8Array
  /**
   * The TPMT_PUBLIC bytes this object was parsed from; absent for templates. Marshalling always
   * uses the fields (parsing checks they give back exactly these bytes), so edited copies stay
   * consistent.
   */
  raw?: Uint8Array
}
export interface RsaPublic extends PublicBase {
  type: 'rsa'
  symmetric: SymmetricDef
  scheme: Scheme
  keyBits: number
  exponent: number
  modulus: Uint8Array
}
export interface EccPublic extends PublicBase {
  type: 'ecc'
  symmetric: SymmetricDef
  scheme: Scheme
  curve: number
  kdf: Scheme
  x: Uint8Array
  y: Uint8Array
}
export interface KeyedHashPublic extends PublicBase {
  type: 'keyedhash'
  scheme: Scheme
  unique: Uint8Array
}

/** A parsed TPMT_PUBLIC (RSA, ECC or KEYEDHASH object). */
export type TpmPublic = RsaPublic | EccPublic | KeyedHashPublic

const HASH_IDS = new Set<number>([TPM_ALG.SHA1, TPM_ALG.SHA256, TPM_ALG.SHA384, TPM_ALG.SHA512, TPM_ALG.SM3_256])
const SYM_KEY_BITS = new Set([128, 192, 256])
const SYM_MODES = new Set<number>([TPM_ALG.CTR, TPM_ALG.OFB, TPM_ALG.CBC, TPM_ALG.CFB, TPM_ALG.ECB, TPM_ALG.NULL])
/** Schemes whose only parameter is a hash (TPMS_SCHEME_HASH and its aliases). */
const RSA_HASH_SCHEMES = new Set<number>([TPM_ALG.RSASSA, TPM_ALG.RSAPSS, TPM_ALG.OAEP])
const ECC_HASH_SCHEMES = new Set<number>([TPM_ALG.ECDSA, TPM_ALG.ECDH, TPM_ALG.SM2, TPM_ALG.ECSCHNORR, TPM_ALG.ECMQV])
const KDF_SCHEMES = new Set<number>([TPM_ALG.MGF1, TPM_ALG.KDF1_SP800_56A, TPM_ALG.KDF2, TPM_ALG.KDF1_SP800_108])

function readHash(r: TpmReader, what: string): number {
  const id = r.u16()
  if (!HASH_IDS.has(id)) {
    r.offset -= 2
    r.fail(`${what} hash 0x${id.toString(16)} is not a hash algorithm`)
  }
  return id
}

function readSymmetric(r: TpmReader): SymmetricDef {
  const algorithm = r.u16()
  if (algorithm === TPM_ALG.NULL) return { algorithm }
  if (algorithm !== TPM_ALG.AES && algorithm !== TPM_ALG.SM4 && algorithm !== TPM_ALG.CAMELLIA)
    r.fail(`symmetric algorithm 0x${algorithm.toString(16)} unsupported`)
  const keyBits = r.u16()
  if (!SYM_KEY_BITS.has(keyBits)) r.fail(`symmetric key size ${keyBits} unsupported`)
  const mode = r.u16()
  if (!SYM_MODES.has(mode)) r.fail(`symmetric mode 0x${mode.toString(16)} unsupported`)
  return { algorithm, keyBits, mode }
}

function writeSymmetric(w: TpmWriter, s: SymmetricDef): void {
  w.u16(s.algorithm)
  if (s.algorithm !== TPM_ALG.NULL) w.u16(s.keyBits ?? 128).u16(s.mode ?? TPM_ALG.CFB)
}

function readRsaScheme(r: TpmReader): Scheme {
  const scheme = r.u16()
  if (scheme === TPM_ALG.NULL || scheme === TPM_ALG.RSAES) return { scheme }
  if (!RSA_HASH_SCHEMES.has(scheme)) r.fail(`RSA scheme 0x${scheme.toString(16)} unsupported`)
  return { scheme, hash: readHash(r, 'RSA scheme') }
}

function readEccScheme(r: TpmReader): Scheme {
  const scheme = r.u16()
  if (scheme === TPM_ALG.NULL) return { scheme }
  if (scheme === TPM_ALG.ECDAA) return { scheme, hash: readHash(r, 'ECDAA'), count: r.u16() }
  if (!ECC_HASH_SCHEMES.has(scheme)) r.fail(`ECC scheme 0x${scheme.toString(16)} unsupported`)
  return { scheme, hash: readHash(r, 'ECC scheme') }
}

function readKdf(r: TpmReader): Scheme {
  const scheme = r.u16()
  if (scheme === TPM_ALG.NULL) return { scheme }
  if (!KDF_SCHEMES.has(scheme)) r.fail(`KDF scheme 0x${scheme.toString(16)} unsupported`)
  return { scheme, hash: readHash(r, 'KDF') }
}

function readKeyedHashScheme(r: TpmReader): Scheme {
  const scheme = r.u16()
  if (scheme === TPM_ALG.NULL) return { scheme }
  if (scheme === TPM_ALG.HMAC) return { scheme, hash: readHash(r, 'HMAC') }
  if (scheme === TPM_ALG.XOR) {
    const hash = readHash(r, 'XOR')
    const kdf = r.u16()
    if (kdf !== TPM_ALG.NULL && !KDF_SCHEMES.has(kdf)) r.fail(`XOR KDF 0x${kdf.toString(16)} unsupported`)
    return { scheme, hash, kdf }
  }
  r.fail(`keyedhash scheme 0x${scheme.toString(16)} unsupported`)
}

/** Writes any of the scheme shapes above: the parameters present are the ones the scheme has. */
function writeScheme(w: TpmWriter, s: Scheme): void {
  w.u16(s.scheme)
  if (s.scheme === TPM_ALG.NULL || s.scheme === TPM_ALG.RSAES) return
  w.u16(s.hash ?? TPM_ALG.SHA256)
  if (s.scheme === TPM_ALG.ECDAA) w.u16(s.count ?? 0)
  if (s.scheme === TPM_ALG.XOR) w.u16(s.kdf ?? TPM_ALG.NULL)
}

/** Reads a TPMT_PUBLIC inside a larger structure. */
export function readPublicArea(r: TpmReader): TpmPublic {
  const start = r.offset
  const type = r.u16()
  const nameAlgId = r.u16()
  const nameAlg = hashAlgFromId(nameAlgId)
  if (nameAlg === undefined) r.fail(`nameAlg 0x${nameAlgId.toString(16)} unsupported`)
  const objectAttributes = r.u32()
  const authPolicy = r.tpm2b(TPM2_LIMITS.maxDigestSize, 'authPolicy')
  if (type === TPM_ALG.RSA) {
    const symmetric = readSymmetric(r)
    const scheme = readRsaScheme(r)
    const keyBits = r.u16()
    const exponent = r.u32()
    const modulus = r.tpm2b(TPM2_LIMITS.maxRsaKeyBytes, 'the RSA modulus')
    return {
      type: 'rsa',
      nameAlg,
      objectAttributes,
      authPolicy,
      symmetric,
      scheme,
      keyBits,
      exponent,
      modulus,
      raw: sliceFrom(r, start)
    }
  }
  if (type === TPM_ALG.ECC) {
    const symmetric = readSymmetric(r)
    const scheme = readEccScheme(r)
    const curve = r.u16()
    const kdf = readKdf(r)
    const x = r.tpm2b(TPM2_LIMITS.maxEccParameterSize, 'the ECC x coordinate')
    const y = r.tpm2b(TPM2_LIMITS.maxEccParameterSize, 'the ECC y coordinate')
    return {
      type: 'ecc',
      nameAlg,
      objectAttributes,
      authPolicy,
      symmetric,
      scheme,
      curve,
      kdf,
      x,
      y,
      raw: sliceFrom(r, start)
    }
  }
  if (type === TPM_ALG.KEYEDHASH) {
    const scheme = readKeyedHashScheme(r)
    const unique = r.tpm2b(TPM2_LIMITS.maxDigestSize, 'the keyedhash unique digest')
    return { type: 'keyedhash', nameAlg, objectAttributes, authPolicy, scheme, unique, raw: sliceFrom(r, start) }
  }
  r.offset = start
  r.fail(`object type 0x${type.toString(16)} unsupported`)
}

/** The bytes from `start` to the reader's position, re-read through the reader's own bounds. */
function sliceFrom(r: TpmReader, start: number): Uint8Array {
  const end = r.offset
  r.offset = start
  const out = r.bytesOf(end - start)
  return out
}

/** Parses a TPMT_PUBLIC (no size prefix). */
export function parsePublicArea(bytes: Uint8Array): TpmPublic {
  const r: TpmReader = new TpmReader(bytes, 'TPMT_PUBLIC')
  const pub = readPublicArea(r)
  r.end()
  // Names are hashes of the marshalled fields: they must be the exact bytes the TPM hashed.
  if (!bytesEqual(marshalPublicArea(pub), bytes)) r.fail('does not re-marshal to the same bytes')
  return pub
}

/** Parses a TPM2B_PUBLIC (u16 size, then the TPMT_PUBLIC): what tpm2_readpublic -o and tpm2_createak -u write. */
export function parsePublic(bytes: Uint8Array): TpmPublic {
  const r: TpmReader = new TpmReader(bytes, 'TPM2B_PUBLIC', TPM2_LIMITS.maxStructureSize + 2)
  const size = r.u16()
  if (size === 0) r.fail('empty public area')
  if (size !== r.remaining) r.fail(`size field says ${size} bytes, ${r.remaining} follow`)
  return parsePublicArea(r.bytesOf(size))
}

/** TPMT_PUBLIC bytes, from the fields. */
export function marshalPublicArea(p: TpmPublic): Uint8Array {
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
    w.u16(p.curve)
    writeScheme(w, p.kdf)
    w.tpm2b(p.x).tpm2b(p.y)
  } else {
    writeScheme(w, p.scheme)
    w.tpm2b(p.unique)
  }
  return w.finish()
}

/** TPM2B_PUBLIC bytes. */
export function marshalPublic(p: TpmPublic): Uint8Array {
  return new TpmWriter().tpm2b(marshalPublicArea(p)).finish()
}

/** The object's Name: nameAlg ‖ H_nameAlg(TPMT_PUBLIC). */
export function objectName(p: TpmPublic): Uint8Array {
  return new TpmWriter()
    .u16(HASH_ALG_ID[p.nameAlg])
    .raw(digest(p.nameAlg, marshalPublicArea(p)))
    .finish()
}

/**
 * True for an asymmetric key that is restricted and signs (and does not decrypt): the TPM signs
 * with it only digests it computed itself or that do not start with TPM_GENERATED_VALUE.
 */
export function isRestrictedSigningKey(p: TpmPublic): boolean {
  if (p.type === 'keyedhash') return false
  const a = p.objectAttributes
  return (a & TPMA_OBJECT.restricted) !== 0 && (a & TPMA_OBJECT.sign) !== 0 && (a & TPMA_OBJECT.decrypt) === 0
}

const CURVES: Record<number, { jwk: string; size: number }> = {
  [TPM_ECC_CURVE.NIST_P256]: { jwk: 'P-256', size: 32 },
  [TPM_ECC_CURVE.NIST_P384]: { jwk: 'P-384', size: 48 },
  [TPM_ECC_CURVE.NIST_P521]: { jwk: 'P-521', size: 66 }
}

/** Coordinate of exactly `size` bytes: some TPMs drop leading zero bytes. */
function coordinate(value: Uint8Array, size: number, what: string): Buffer {
  let start = 0
  while (start < value.length - size && value[start] === 0) start++
  const trimmed = value.subarray(start)
  if (trimmed.length > size)
    throw new InvalidPublicKeyError(`the ${what} coordinate has ${value.length} bytes, the curve ${size}`)
  return Buffer.concat([Buffer.alloc(size - trimmed.length), trimmed])
}

/** The public key as a node:crypto KeyObject (RSA, ECC NIST P-256/P-384/P-521). */
export function publicKey(p: TpmPublic): crypto.KeyObject {
  if (p.type === 'rsa') {
    if (p.keyBits % 8 !== 0 || p.modulus.length !== p.keyBits / 8)
      throw new InvalidPublicKeyError(`the modulus has ${p.modulus.length} bytes for a ${p.keyBits}-bit key`)
    if ((p.modulus[0] ?? 0) < 0x80)
      throw new InvalidPublicKeyError('the modulus is not of the declared size (leading bits are zero)')
    // Part 2, §12.2.3.5: an exponent of zero means the default, 2^16 + 1.
    const e = p.exponent === 0 ? 65537 : p.exponent
    if (e < 3 || e % 2 === 0) throw new InvalidPublicKeyError(`the exponent ${e} is not an odd number above 1`)
    const eBytes = Buffer.alloc(4)
    eBytes.writeUInt32BE(e)
    let start = 0
    while (start < 3 && eBytes[start] === 0) start++
    return createKey({
      kty: 'RSA',
      n: Buffer.from(p.modulus).toString('base64url'),
      e: eBytes.subarray(start).toString('base64url')
    })
  }
  if (p.type === 'ecc') {
    const curve = CURVES[p.curve]
    if (curve === undefined) throw new UnsupportedAlgorithmError('ECC curve', p.curve)
    const x = coordinate(p.x, curve.size, 'x')
    const y = coordinate(p.y, curve.size, 'y')
    return createKey({ kty: 'EC', crv: curve.jwk, x: x.toString('base64url'), y: y.toString('base64url') })
  }
  throw new UnsupportedAlgorithmError('object type for a public key (keyedhash objects have none)', TPM_ALG.KEYEDHASH)
}

function createKey(jwk: crypto.JsonWebKey): crypto.KeyObject {
  try {
    return crypto.createPublicKey({ key: jwk, format: 'jwk' })
  } catch (err) {
    throw new InvalidPublicKeyError((err as Error).message, err)
  }
}

/** SubjectPublicKeyInfo PEM, as tpm2_checkquote -u and openssl read it. */
export function publicToPem(p: TpmPublic): string {
  return publicKey(p).export({ type: 'spki', format: 'pem' }).toString()
}

/** SEC1 uncompressed point of an ECC key (the hybrid signature's P-256 public key format). */
export function eccPoint(p: TpmPublic): Uint8Array {
  if (p.type !== 'ecc')
    throw new UnsupportedAlgorithmError(
      'object type for an ECC point',
      p.type === 'rsa' ? TPM_ALG.RSA : TPM_ALG.KEYEDHASH
    )
  const curve = CURVES[p.curve]
  if (curve === undefined) throw new UnsupportedAlgorithmError('ECC curve', p.curve)
  return new Uint8Array(
    Buffer.concat([Buffer.of(4), coordinate(p.x, curve.size, 'x'), coordinate(p.y, curve.size, 'y')])
  )
}
