import { fromHex } from '../../common/index.js'
import { TPM_ALG, TPMA_OBJECT, TPM_ECC_CURVE } from './constants.js'
import { InvalidPublicKeyError } from './errors.js'
import type { EccPublic, KeyedHashPublic, RsaPublic, Scheme, SymmetricDef } from './public.js'

/**
 * Object templates (TPMT_PUBLIC with empty or zero unique fields) for TPM2_Create /
 * TPM2_CreatePrimary. Each call returns a fresh object: callers may fill in or edit fields.
 */

const ECDSA_SHA256: Scheme = { scheme: TPM_ALG.ECDSA, hash: TPM_ALG.SHA256 }
const NULL_SCHEME: Scheme = { scheme: TPM_ALG.NULL }
const NULL_SYMMETRIC: SymmetricDef = { algorithm: TPM_ALG.NULL }
const AES128_CFB: SymmetricDef = { algorithm: TPM_ALG.AES, keyBits: 128, mode: TPM_ALG.CFB }

/** Generated in the TPM, never leaves it, usable with the (empty) auth value. tpm2_createak's defaults. */
const GENERATED_KEY =
  TPMA_OBJECT.fixedTPM | TPMA_OBJECT.fixedParent | TPMA_OBJECT.sensitiveDataOrigin | TPMA_OBJECT.userWithAuth

/** TCG EK Credential Profile policy A: PolicySecret(TPM_RH_ENDORSEMENT), so only the endorsement hierarchy's owner uses the EK. */
export const EK_POLICY_A: Uint8Array = fromHex('837197674484b3f81a90cc8d46a5d724fd52d76e06520b64f2a1da1b331469aa')

const EK_ATTRIBUTES =
  TPMA_OBJECT.fixedTPM |
  TPMA_OBJECT.fixedParent |
  TPMA_OBJECT.sensitiveDataOrigin |
  TPMA_OBJECT.adminWithPolicy |
  TPMA_OBJECT.restricted |
  TPMA_OBJECT.decrypt

function eccP256(objectAttributes: number, symmetric: SymmetricDef, scheme: Scheme): EccPublic {
  return {
    type: 'ecc',
    nameAlg: 'sha256',
    objectAttributes,
    authPolicy: new Uint8Array(0),
    symmetric: { ...symmetric },
    scheme: { ...scheme },
    curve: TPM_ECC_CURVE.NIST_P256,
    kdf: { ...NULL_SCHEME },
    x: new Uint8Array(0),
    y: new Uint8Array(0)
  }
}

/**
 * AK: restricted ECC P-256 signing key, ECDSA-SHA256 — signs only what the TPM generated (quotes,
 * certifications). noDA, as the DSK: both have an empty auth value, so dictionary-attack counting
 * protects nothing, and a TPM that lost power a few times during use (a non-orderly shutdown
 * counts as a failed try) would otherwise lock the device out of its own keys (TPM_RC_LOCKOUT)
 * for the recovery time.
 */
export function attestationKeyTemplate(): EccPublic {
  return eccP256(
    GENERATED_KEY | TPMA_OBJECT.restricted | TPMA_OBJECT.sign | TPMA_OBJECT.noDA,
    NULL_SYMMETRIC,
    ECDSA_SHA256
  )
}

/** Non-restricted ECC P-256 signing key, ECDSA-SHA256: signs any digest, so it must never be trusted for quotes. noDA (see the AK). */
export function signingKeyTemplate(): EccPublic {
  return eccP256(GENERATED_KEY | TPMA_OBJECT.sign | TPMA_OBJECT.noDA, NULL_SYMMETRIC, ECDSA_SHA256)
}

/**
 * Storage (parent) key: restricted ECC P-256 decryption key protecting its children with
 * AES-128-CFB. noDA: it has an empty auth value, so dictionary-attack counting protects nothing
 * and unorderly shutdowns would otherwise count against it.
 */
export function storageKeyTemplate(): EccPublic {
  return eccP256(
    GENERATED_KEY | TPMA_OBJECT.restricted | TPMA_OBJECT.decrypt | TPMA_OBJECT.noDA,
    AES128_CFB,
    NULL_SCHEME
  )
}

/** Sealed data object: no userWithAuth, so only a policy session satisfying `authPolicy` unseals it. */
export function sealedDataTemplate(authPolicy: Uint8Array): KeyedHashPublic {
  if (authPolicy.length !== 32)
    throw new InvalidPublicKeyError(`a SHA-256 object needs a 32-byte authPolicy, got ${authPolicy.length}`)
  return {
    type: 'keyedhash',
    nameAlg: 'sha256',
    objectAttributes: TPMA_OBJECT.fixedTPM | TPMA_OBJECT.fixedParent,
    authPolicy: authPolicy.slice(),
    scheme: { ...NULL_SCHEME },
    unique: new Uint8Array(0)
  }
}

/** TCG EK Credential Profile template L-1: RSA 2048, AES-128-CFB, policy A, 256 zero bytes of unique. */
export function rsaEkTemplate(): RsaPublic {
  return {
    type: 'rsa',
    nameAlg: 'sha256',
    objectAttributes: EK_ATTRIBUTES,
    authPolicy: EK_POLICY_A.slice(),
    symmetric: { ...AES128_CFB },
    scheme: { ...NULL_SCHEME },
    keyBits: 2048,
    exponent: 0,
    modulus: new Uint8Array(256)
  }
}

/** TCG EK Credential Profile template L-2: ECC NIST P-256, AES-128-CFB, policy A, x and y 32 zero bytes each. */
export function eccEkTemplate(): EccPublic {
  return {
    ...eccP256(EK_ATTRIBUTES, AES128_CFB, NULL_SCHEME),
    authPolicy: EK_POLICY_A.slice(),
    x: new Uint8Array(32),
    y: new Uint8Array(32)
  }
}

/**
 * A public-only ECC P-256 verification key for TPM2_LoadExternal (e.g. a PolicyAuthorize
 * authority): the same point always gives the same template, hence the same Name.
 */
export function externalVerificationKey(point: Uint8Array): EccPublic {
  if (point.length !== 65 || point[0] !== 4)
    throw new InvalidPublicKeyError('need a SEC1 uncompressed P-256 point (65 bytes starting with 04)')
  return {
    ...eccP256(TPMA_OBJECT.userWithAuth | TPMA_OBJECT.sign, NULL_SYMMETRIC, ECDSA_SHA256),
    x: point.slice(1, 33),
    y: point.slice(33)
  }
}
