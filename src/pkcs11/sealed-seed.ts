/**
 * The ML-DSA-65 seed sealed by a token's AES-256 wrap key: the only form in which the seed is
 * kept. Without the token (and its PIN) the bytes are useless.
 *
 * Format, version 1 (61 bytes; frozen — a change is a new version):
 *   0x01 ‖ IV (12 bytes, fresh per sealing) ‖ AES-256-GCM ciphertext of the seed (32) ‖ tag (16)
 * with the additional authenticated data SEALED_SEED_AAD_V1, which names the purpose, so that
 * bytes sealed by this key for anything else never unseal as a seed.
 */
import { MLDSA65_SEED_SIZE } from '../identity/index.js'
import { Pkcs11SealedSeedMalformedError, Pkcs11SeedMismatchError, Pkcs11UnsealRefusedError } from './errors.js'
import { GCM_IV_BYTES, GCM_TAG_BYTES } from './limits.js'
import { TAG_REFUSED } from './return-codes.js'
import type { Refine } from './session.js'
import type { TokenWrapKey } from './wrap-key.js'

export const SEALED_SEED_VERSION = 1
export const SEALED_SEED_BYTES = 1 + GCM_IV_BYTES + MLDSA65_SEED_SIZE + GCM_TAG_BYTES
export const SEALED_SEED_AAD_V1 = new TextEncoder().encode('fleet pkcs11 sealed ML-DSA-65 seed v1')

/** A decoded sealed seed: not yet unsealed, so nothing is known of it but its shape. */
export interface SealedSeed {
  readonly iv: Uint8Array
  /** Ciphertext ‖ tag. */
  readonly sealed: Uint8Array
}

export function encodeSealedSeed(seed: SealedSeed): Uint8Array {
  const out = new Uint8Array(SEALED_SEED_BYTES)
  out[0] = SEALED_SEED_VERSION
  out.set(seed.iv, 1)
  out.set(seed.sealed, 1 + GCM_IV_BYTES)
  return out
}

/** Strict: exactly SEALED_SEED_BYTES, version 1. */
export function decodeSealedSeed(bytes: Uint8Array): SealedSeed {
  if (bytes.length === 0) throw new Pkcs11SealedSeedMalformedError('empty', 0)
  if (bytes[0] !== SEALED_SEED_VERSION) {
    throw new Pkcs11SealedSeedMalformedError(`unknown version ${bytes[0]!}`, bytes.length)
  }
  if (bytes.length !== SEALED_SEED_BYTES) {
    throw new Pkcs11SealedSeedMalformedError(`version 1 is ${SEALED_SEED_BYTES} bytes`, bytes.length)
  }
  return {
    iv: new Uint8Array(bytes.subarray(1, 1 + GCM_IV_BYTES)),
    sealed: new Uint8Array(bytes.subarray(1 + GCM_IV_BYTES))
  }
}

/** Seals a 32-byte seed under the token's wrap key with a fresh IV. */
export async function sealSeed(
  wrapKey: TokenWrapKey,
  seed: Uint8Array,
  options: { signal?: AbortSignal } = {}
): Promise<Uint8Array> {
  if (seed.length !== MLDSA65_SEED_SIZE) throw new RangeError(`an ML-DSA-65 seed is ${MLDSA65_SEED_SIZE} bytes`)
  const iv = wrapKey.session.random.bytes(GCM_IV_BYTES)
  const sealed = await wrapKey.encrypt({ iv, aad: SEALED_SEED_AAD_V1 }, seed, options)
  if (sealed.length !== MLDSA65_SEED_SIZE + GCM_TAG_BYTES) {
    const reason = `the token sealed ${seed.length} bytes into ${sealed.length}`
    throw new Pkcs11SealedSeedMalformedError(reason, sealed.length)
  }
  return encodeSealedSeed({ iv, sealed })
}

/** Unseals on the token. The seed comes back in a buffer the caller MUST wipe (fill(0)). */
export async function unsealSeed(
  wrapKey: TokenWrapKey,
  sealed: SealedSeed,
  options: { signal?: AbortSignal } = {}
): Promise<Buffer> {
  const seed = await wrapKey.decrypt({ iv: sealed.iv, aad: SEALED_SEED_AAD_V1 }, sealed.sealed, {
    signal: options.signal,
    refine: refused(wrapKey)
  })
  return checkedLength(wrapKey, seed)
}

/** The same, on this thread (for the synchronous MlDsaKey.sign). */
export function unsealSeedNow(wrapKey: TokenWrapKey, sealed: SealedSeed): Buffer {
  const gcm = { iv: sealed.iv, aad: SEALED_SEED_AAD_V1 }
  const seed = wrapKey.decryptNow(gcm, sealed.sealed, { refine: refused(wrapKey) })
  return checkedLength(wrapKey, seed)
}

function refused(wrapKey: TokenWrapKey): Refine {
  return (failure) =>
    TAG_REFUSED.has(failure.ckr)
      ? new Pkcs11UnsealRefusedError(wrapKey.session.token.label, wrapKey.label, failure.ckr)
      : undefined
}

function checkedLength(wrapKey: TokenWrapKey, seed: Buffer): Buffer {
  if (seed.length === MLDSA65_SEED_SIZE) return seed
  seed.fill(0)
  throw new Pkcs11SeedMismatchError(wrapKey.session.token.label, wrapKey.label)
}
