/**
 * The ML-DSA-65 half of a hybrid key held through a token. Tokens have no ML-DSA today, so the
 * 32-byte seed is made here and kept only sealed by the token's AES wrap key; it is unsealed on
 * the token for each signature and wiped right after the key is derived from it.
 *
 * Limit: the ML-DSA implementation keeps its own copy of the key while it signs (a node:crypto
 * KeyObject, or noble's expanded key), released by the garbage collector, not wiped by us.
 */
import { bytesEqual } from '../common/index.js'
import { defaultMlDsa65, HybridSigner, MLDSA65_SEED_SIZE, type MlDsa65, type MlDsaKey } from '../identity/index.js'
import { Pkcs11SeedMismatchError } from './errors.js'
import { decodeSealedSeed, sealSeed, unsealSeed, unsealSeedNow } from './sealed-seed.js'
import type { TokenSession } from './session.js'
import type { TokenWrapKey } from './wrap-key.js'

export interface TokenMlDsaOptions {
  /** The ML-DSA-65 implementation: node:crypto where this Node has it. */
  mldsa?: MlDsa65
  signal?: AbortSignal
}

/** A new ML-DSA-65 key: its seed drawn from the session's randomness, sealed, and wiped. */
export async function createSealedMlDsaSeed(
  wrapKey: TokenWrapKey,
  options: TokenMlDsaOptions = {}
): Promise<{ sealed: Uint8Array; publicKey: Uint8Array }> {
  const seed = wrapKey.session.random.bytes(MLDSA65_SEED_SIZE)
  try {
    const publicKey = (options.mldsa ?? defaultMlDsa65()).fromSeed(seed).publicKey
    const sealed = await sealSeed(wrapKey, seed, options)
    return { sealed, publicKey }
  } finally {
    seed.fill(0)
  }
}

/**
 * An MlDsaKey whose seed is unsealed on the token for each signature. Refused at once, before any
 * signature: a malformed sealed seed, a wrap key that is missing or not hardware-bound, bytes the
 * token will not unseal (changed, or sealed under another token's key), and a seed that derives
 * another public key than `publicKey`, the one recorded when it was made.
 */
export async function tokenMlDsaKey(
  session: TokenSession,
  wrapKeyLabel: string,
  sealed: Uint8Array,
  publicKey: Uint8Array,
  options: TokenMlDsaOptions = {}
): Promise<MlDsaKey> {
  const mldsa = options.mldsa ?? defaultMlDsa65()
  const parsed = decodeSealedSeed(sealed)
  const wrapKey = await session.findWrapKey(wrapKeyLabel, options)
  const recorded = Uint8Array.from(publicKey)
  const derived = (seed: Buffer): MlDsaKey => {
    let key: MlDsaKey
    try {
      key = mldsa.fromSeed(seed)
    } finally {
      seed.fill(0)
    }
    if (!bytesEqual(key.publicKey, recorded)) throw new Pkcs11SeedMismatchError(session.token.label, wrapKeyLabel)
    return key
  }
  derived(await unsealSeed(wrapKey, parsed, options))
  return {
    publicKey: recorded,
    sign: (message) => derived(unsealSeedNow(wrapKey, parsed)).sign(message),
    signAsync: async (message) => {
      const key = derived(await unsealSeed(wrapKey, parsed))
      return key.signAsync === undefined ? key.sign(message) : await key.signAsync(message)
    }
  }
}

/** What a hybrid signer held through a token is made of: the P-256 key's label, the sealed ML-DSA seed. */
export interface TokenHybridKeys {
  p256Label: string
  wrapKeyLabel: string
  sealedSeed: Uint8Array
  mldsaPublicKey: Uint8Array
}

/** A HybridSigner from the token's P-256 key and the token-sealed ML-DSA-65 seed, both checked first. */
export async function tokenHybridSigner(
  session: TokenSession,
  keys: TokenHybridKeys,
  options: TokenMlDsaOptions = {}
): Promise<HybridSigner> {
  const p256 = await session.findP256(keys.p256Label, options)
  const mldsa = await tokenMlDsaKey(session, keys.wrapKeyLabel, keys.sealedSeed, keys.mldsaPublicKey, options)
  return new HybridSigner(p256, mldsa)
}
