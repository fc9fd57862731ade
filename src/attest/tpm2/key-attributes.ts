import { TPMA_OBJECT } from './constants.js'
import type { TpmPublic } from './public.js'
import {
  KeyNameAlgError,
  KeyNotMadeInTpmError,
  KeyUsageAttributesError,
  NotRestrictedKeyError
} from './verification-errors.js'

/**
 * What makes a key's public area trustworthy for its role. The TPM enforces these attributes for
 * as long as the object exists, so a public area that has them proves how the key was made:
 *
 * - fixedTPM and fixedParent: the key cannot be duplicated to another TPM or parent. TPM2_Import
 *   refuses objects with them, so a key generated in software never has them.
 * - sensitiveDataOrigin: the TPM generated the private part itself (it was not handed in with
 *   TPM2_Create's sensitive data).
 * - restricted + sign (AK): the TPM signs only digests it computed itself, or that do not start
 *   with TPM_GENERATED_VALUE, so the key cannot sign forged quotes.
 * - not decrypt: one key, one purpose.
 *
 * A key imported with `tpm2_import -a 'restricted|sign'` passes MakeCredential/ActivateCredential
 * (it really sits in the TPM beside the EK), but its owner also holds the private key outside the
 * TPM; only these attributes tell it apart.
 */

const MADE_IN_TPM = ['fixedTPM', 'fixedParent', 'sensitiveDataOrigin'] as const

/** The TPMA_OBJECT names (TPM 2.0 Part 2) of the attributes set in `objectAttributes`, in bit order. */
export function attributeNames(objectAttributes: number): string[] {
  return Object.entries(TPMA_OBJECT)
    .filter(([, bit]) => (objectAttributes & bit) !== 0)
    .sort((a, b) => a[1] - b[1])
    .map(([name]) => name)
}

function missingOf(objectAttributes: number, names: readonly (keyof typeof TPMA_OBJECT)[]): string[] {
  return names.filter((name) => (objectAttributes & TPMA_OBJECT[name]) === 0)
}

function presentOf(objectAttributes: number, names: readonly (keyof typeof TPMA_OBJECT)[]): string[] {
  return names.filter((name) => (objectAttributes & TPMA_OBJECT[name]) !== 0)
}

function checkMadeInTpm(key: string, pub: TpmPublic): void {
  const missing = missingOf(pub.objectAttributes, MADE_IN_TPM)
  if (missing.length > 0) throw new KeyNotMadeInTpmError(key, pub.objectAttributes, missing)
}

function checkNameAlg(key: string, pub: TpmPublic): void {
  if (pub.nameAlg !== 'sha256') throw new KeyNameAlgError(key, pub.objectAttributes, pub.nameAlg)
}

/**
 * Checks that a public area is an attestation key made inside the TPM: fixedTPM, fixedParent,
 * sensitiveDataOrigin, restricted and sign set, decrypt clear, an asymmetric key, nameAlg
 * SHA-256. Throws KeyNotMadeInTpmError, NotRestrictedKeyError or KeyNameAlgError (all
 * KeyAttributesError) naming what is missing or forbidden.
 */
export function checkAttestationKey(pub: TpmPublic, key = 'AK'): void {
  checkMadeInTpm(key, pub)
  const missing = missingOf(pub.objectAttributes, ['restricted', 'sign'])
  const forbidden = presentOf(pub.objectAttributes, ['decrypt'])
  if (pub.type === 'keyedhash') missing.push('an asymmetric key')
  if (missing.length > 0 || forbidden.length > 0)
    throw new NotRestrictedKeyError(pub.objectAttributes, { key, missing, forbidden })
  checkNameAlg(key, pub)
}

/**
 * Checks that a public area is a device signing key made inside the TPM: fixedTPM, fixedParent,
 * sensitiveDataOrigin and sign set, decrypt clear, an asymmetric key, nameAlg SHA-256 (restricted
 * may be either). Throws KeyNotMadeInTpmError, KeyUsageAttributesError or KeyNameAlgError.
 */
export function checkDeviceSigningKey(pub: TpmPublic, key = 'DSK'): void {
  checkMadeInTpm(key, pub)
  const missing = missingOf(pub.objectAttributes, ['sign'])
  const forbidden = presentOf(pub.objectAttributes, ['decrypt'])
  if (pub.type === 'keyedhash') missing.push('an asymmetric key')
  if (missing.length > 0 || forbidden.length > 0)
    throw new KeyUsageAttributesError(key, pub.objectAttributes, missing, forbidden)
  checkNameAlg(key, pub)
}
