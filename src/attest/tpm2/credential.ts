import crypto from 'node:crypto'
import { toHex } from '../../common/index.js'
import { DIGEST_SIZE, hashAlgFromId } from '../pcrs.js'
import { TPM_ALG, TPMA_OBJECT, TPM_ECC_CURVE } from './constants.js'
import { TPM2_LIMITS } from './limits.js'
import { TpmReader } from './reader.js'
import { TpmWriter } from './writer.js'
import { kdfa, kdfe } from './kdf.js'
import { publicKey, type EccPublic, type RsaPublic, type TpmPublic } from './public.js'
import {
  CredentialTooLargeError,
  InvalidObjectNameError,
  InvalidPublicKeyError,
  RandomSourceError,
  UnsupportedAlgorithmError
} from './errors.js'

/** TPM2_MakeCredential's output, ready for TPM2_ActivateCredential. */
export interface MadeCredential {
  /** TPM2B_ID_OBJECT: integrity HMAC ‖ encrypted credential. */
  credentialBlob: Uint8Array
  /** TPM2B_ENCRYPTED_SECRET: the seed, encrypted to the EK. */
  secret: Uint8Array
}

export interface MakeCredentialInput {
  /** The EK (a restricted decryption key, RSA or ECC, AES-CFB for its children). */
  ekPublic: TpmPublic
  /** Name of the object (the AK) the credential is bound to: nameAlg ‖ digest. */
  objectName: Uint8Array
  /** The secret; at most the size of the EK's nameAlg digest. */
  credential: Uint8Array
  random: (n: number) => Uint8Array
}

const ECDH_CURVES: Record<number, { name: string; size: number }> = {
  [TPM_ECC_CURVE.NIST_P256]: { name: 'prime256v1', size: 32 },
  [TPM_ECC_CURVE.NIST_P384]: { name: 'secp384r1', size: 48 },
  [TPM_ECC_CURVE.NIST_P521]: { name: 'secp521r1', size: 66 }
}

function draw(random: (n: number) => Uint8Array, n: number): Uint8Array {
  const bytes = random(n)
  if (!(bytes instanceof Uint8Array) || bytes.length !== n)
    throw new RandomSourceError(
      `asked for ${n} bytes, got ${bytes instanceof Uint8Array ? bytes.length : typeof bytes}`
    )
  return bytes
}

function checkName(name: Uint8Array): void {
  if (!(name instanceof Uint8Array) || name.length < 2)
    throw new InvalidObjectNameError('', 'shorter than a hash algorithm identifier')
  const alg = hashAlgFromId((name[0]! << 8) | name[1]!)
  if (alg === undefined)
    throw new InvalidObjectNameError(toHex(name), 'it does not start with a supported hash algorithm')
  if (name.length !== 2 + DIGEST_SIZE[alg])
    throw new InvalidObjectNameError(toHex(name), `a ${alg} Name has ${2 + DIGEST_SIZE[alg]} bytes, not ${name.length}`)
}

/** RSA EK: a random seed, RSA-OAEP with the EK's nameAlg and the label "IDENTITY" (Part 1, Annex B.10.3). */
function rsaSeed(ek: RsaPublic, random: (n: number) => Uint8Array): { seed: Uint8Array; encryptedSeed: Uint8Array } {
  const seed = draw(random, DIGEST_SIZE[ek.nameAlg])
  try {
    const encrypted = crypto.publicEncrypt(
      {
        key: publicKey(ek),
        padding: crypto.constants.RSA_PKCS1_OAEP_PADDING,
        oaepHash: ek.nameAlg,
        oaepLabel: Buffer.from('IDENTITY\0', 'ascii')
      },
      seed
    )
    return { seed, encryptedSeed: new Uint8Array(encrypted) }
  } catch (err) {
    if (err instanceof InvalidPublicKeyError) throw err
    throw new InvalidPublicKeyError(`RSA-OAEP encryption failed: ${(err as Error).message}`, err)
  }
}

/**
 * ECC EK: an ephemeral key pair; seed = KDFe(Z, "IDENTITY", ephemeral x, EK x), and the
 * "encrypted" seed is the ephemeral public point (Part 1, Annex C.6.4).
 */
function eccSeed(ek: EccPublic, random: (n: number) => Uint8Array): { seed: Uint8Array; encryptedSeed: Uint8Array } {
  const curve = ECDH_CURVES[ek.curve]
  if (curve === undefined) throw new UnsupportedAlgorithmError('EK curve', ek.curve)
  publicKey(ek) // refuses a point off the curve before it is used in ECDH
  const ekPoint = Buffer.concat([Buffer.of(4), pad(ek.x, curve.size), pad(ek.y, curve.size)])
  for (let attempt = 0; attempt < TPM2_LIMITS.maxEphemeralKeyAttempts; attempt++) {
    const ecdh = crypto.createECDH(curve.name)
    try {
      ecdh.setPrivateKey(Buffer.from(draw(random, curve.size)))
    } catch (err) {
      if (err instanceof RandomSourceError) throw err
      continue // zero or not below the group order: draw again, as the TPM does
    }
    let z: Buffer
    try {
      z = ecdh.computeSecret(ekPoint)
    } catch (err) {
      throw new InvalidPublicKeyError(`ECDH with the EK failed: ${(err as Error).message}`, err)
    }
    const ephemeral = ecdh.getPublicKey()
    const ephemeralX = ephemeral.subarray(1, 1 + curve.size)
    const ephemeralY = ephemeral.subarray(1 + curve.size)
    const seed = kdfe(ek.nameAlg, z, 'IDENTITY', ephemeralX, ek.x, DIGEST_SIZE[ek.nameAlg] * 8)
    return { seed, encryptedSeed: new TpmWriter().tpm2b(ephemeralX).tpm2b(ephemeralY).finish() }
  }
  throw new RandomSourceError(`no valid ephemeral private key in ${TPM2_LIMITS.maxEphemeralKeyAttempts} draws`)
}

function pad(value: Uint8Array, size: number): Buffer {
  if (value.length > size)
    throw new InvalidPublicKeyError(`an EK coordinate has ${value.length} bytes, the curve ${size}`)
  return Buffer.concat([Buffer.alloc(size - value.length), value])
}

/**
 * TPM2_MakeCredential in software (TPM 2.0 Part 1, §24; Part 3, §12.6): only the TPM holding the
 * EK can recover `credential`, and only through TPM2_ActivateCredential on the object whose Name
 * is `objectName` — which proves that object (the AK) lives beside that EK.
 */
export function makeCredential(input: MakeCredentialInput): MadeCredential {
  const ek = input.ekPublic
  if (ek.type === 'keyedhash')
    throw new UnsupportedAlgorithmError('EK object type for MakeCredential', TPM_ALG.KEYEDHASH)
  const attributes = TPMA_OBJECT.restricted | TPMA_OBJECT.decrypt
  if ((ek.objectAttributes & attributes) !== attributes || (ek.objectAttributes & TPMA_OBJECT.sign) !== 0) {
    throw new InvalidPublicKeyError('the EK is not a restricted decryption key: ActivateCredential would refuse it')
  }
  if (ek.symmetric.algorithm !== TPM_ALG.AES)
    throw new UnsupportedAlgorithmError('EK symmetric algorithm', ek.symmetric.algorithm)
  if (ek.symmetric.mode !== TPM_ALG.CFB)
    throw new UnsupportedAlgorithmError('EK symmetric mode', ek.symmetric.mode ?? TPM_ALG.NULL)
  checkName(input.objectName)
  const nameAlg = ek.nameAlg
  const digestSize = DIGEST_SIZE[nameAlg]
  if (input.credential.length > digestSize) throw new CredentialTooLargeError(input.credential.length, digestSize)
  const { seed, encryptedSeed } = ek.type === 'rsa' ? rsaSeed(ek, input.random) : eccSeed(ek, input.random)
  const keyBits = ek.symmetric.keyBits ?? 128
  const symmetricKey = kdfa(nameAlg, seed, 'STORAGE', input.objectName, new Uint8Array(0), keyBits)
  const cipher = crypto.createCipheriv(`aes-${keyBits}-cfb`, symmetricKey, Buffer.alloc(16))
  const encIdentity = Buffer.concat([cipher.update(new TpmWriter().tpm2b(input.credential).finish()), cipher.final()])
  const hmacKey = kdfa(nameAlg, seed, 'INTEGRITY', new Uint8Array(0), new Uint8Array(0), digestSize * 8)
  const integrity = crypto.createHmac(nameAlg, hmacKey).update(encIdentity).update(input.objectName).digest()
  const idObject = new TpmWriter().tpm2b(integrity).raw(encIdentity).finish()
  return {
    credentialBlob: new TpmWriter().tpm2b(idObject).finish(),
    secret: new TpmWriter().tpm2b(encryptedSeed).finish()
  }
}

/** tpm2-tools' credential file header: magic, then format version 1. */
const TPM2_TOOLS_CREDENTIAL_MAGIC = 0xbadcc0de
const TPM2_TOOLS_CREDENTIAL_VERSION = 1

/**
 * The file `tpm2_makecredential -o` writes and `tpm2_activatecredential -i` reads:
 * u32 0xBADCC0DE, u32 version 1, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET (all big-endian).
 */
export function encodeTpm2ToolsCredential(made: MadeCredential): Uint8Array {
  return new TpmWriter()
    .u32(TPM2_TOOLS_CREDENTIAL_MAGIC)
    .u32(TPM2_TOOLS_CREDENTIAL_VERSION)
    .raw(made.credentialBlob)
    .raw(made.secret)
    .finish()
}

/** Parses a tpm2-tools credential file back into its two TPM2B structures. */
export function parseTpm2ToolsCredential(bytes: Uint8Array): MadeCredential {
  const r: TpmReader = new TpmReader(bytes, 'tpm2-tools credential file')
  if (r.u32() !== TPM2_TOOLS_CREDENTIAL_MAGIC) {
    r.offset = 0
    r.fail('no 0xBADCC0DE magic')
  }
  const version = r.u32()
  if (version !== TPM2_TOOLS_CREDENTIAL_VERSION) {
    r.offset -= 4
    r.fail(`version ${version} unsupported`)
  }
  const idObject = r.tpm2b(TPM2_LIMITS.maxBufferSize, 'TPM2B_ID_OBJECT')
  const secret = r.tpm2b(TPM2_LIMITS.maxBufferSize, 'TPM2B_ENCRYPTED_SECRET')
  r.end()
  return { credentialBlob: new TpmWriter().tpm2b(idObject).finish(), secret: new TpmWriter().tpm2b(secret).finish() }
}
