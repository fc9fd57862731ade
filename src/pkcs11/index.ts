/**
 * Keys held on PKCS#11 tokens (HSMs, smartcards, PIV): P-256 keys made on the token and never out
 * of it, and the ML-DSA-65 half of a hybrid key kept sealed by an AES-256 key on the same token
 * (tokens have no ML-DSA yet). Plugs into src/identity: a token's P-256 key is a P256Signer, the
 * sealed seed an MlDsaKey, both together a HybridSigner.
 *
 * A key is used only if the token shows it was generated there and was never extractable or
 * readable (CKA_LOCAL, CKA_NEVER_EXTRACTABLE, CKA_ALWAYS_SENSITIVE, CKA_EXTRACTABLE false,
 * CKA_SENSITIVE): an imported key is refused. PINs come from readPin (an fd, a systemd
 * credential, the terminal), never from a flag. Every failure is a named error: a wrong or locked
 * PIN, a token that is gone (Pkcs11TokenAbsentError, with no partial result), or the PKCS#11 call
 * and its CKR. A key's PIV attestation is judged (keyAttestation) from the token's certificate
 * objects (TokenSession.certificates): a certificate over exactly that key, chained to a named root.
 *
 * @example
 * const pin = await readPin({ credential: 'owner-token-pin' })
 * const session = await openToken({ module: '/usr/lib/softhsm/libsofthsm2.so', token: 'owner', pin })
 * try {
 *   const p256 = await session.generateP256('owner-p256')
 *   const wrapKey = await session.generateWrapKey('owner-seal')
 *   const { sealed, publicKey } = await createSealedMlDsaSeed(wrapKey)
 *   // keep `sealed` and both public keys; later:
 *   const signer = await tokenHybridSigner(session,
 *     { p256Label: 'owner-p256', wrapKeyLabel: 'owner-seal', sealedSeed: sealed, mldsaPublicKey: publicKey })
 *   const signature = await signer.sign(DOMAIN.checkpoint, bytes)
 * } finally {
 *   await session.close()
 * }
 */
import { Pkcs11Module, type LoadModuleOptions, type OpenTokenInit } from './module.js'
import type { TokenSession } from './session.js'

export { Pkcs11Module } from './module.js'
export type { LoadModuleOptions, OpenTokenInit } from './module.js'
export type { TokenSession, PinText } from './session.js'
export type { TokenDescription } from './token-info.js'
export type { TokenP256Signer } from './p256.js'
export type { TokenCertificate } from './certificates.js'
export { keyAttestation, YUBICO_OID } from './piv-attestation.js'
export type { KeyAttestation, KeyAttestationInput, YubicoAttestation } from './piv-attestation.js'
export type { TokenWrapKey } from './wrap-key.js'
export { sealSeed, decodeSealedSeed, SEALED_SEED_BYTES, SEALED_SEED_VERSION } from './sealed-seed.js'
export type { SealedSeed } from './sealed-seed.js'
export { createSealedMlDsaSeed, tokenMlDsaKey, tokenHybridSigner } from './token-mldsa.js'
export type { TokenHybridKeys, TokenMlDsaOptions } from './token-mldsa.js'
export { readPin } from './pin.js'
export type { PinSource, ReadPinOptions } from './pin.js'
export type { Pkcs11Api, Handle, TemplateAttribute, TokenInfo, GcmParameters } from './binding.js'
export { CKR, ckrName } from './return-codes.js'
export { HARDWARE_BOUND } from './attributes.js'
export { PIN_MIN_BYTES, PIN_MAX_BYTES, ATTESTATION_EVIDENCE_MAX_BYTES } from './limits.js'
export * from './errors.js'

/**
 * Loads the PKCS#11 module at `path` (absolute; a regular file owned by root or this user and
 * writable by no one else) and initialises it. Use it to open several tokens of one module;
 * close() it when done.
 */
export function loadModule(path: string, options: LoadModuleOptions = {}): Pkcs11Module {
  return Pkcs11Module.load(path, options)
}

/**
 * Loads `module`, finds the token labelled `token` and logs in with `pin`. The session owns the
 * module: closing the session finalises it. close() is idempotent.
 */
export async function openToken(
  init: OpenTokenInit & { module: string } & LoadModuleOptions,
  options: { signal?: AbortSignal } = {}
): Promise<TokenSession> {
  options.signal?.throwIfAborted()
  const module = Pkcs11Module.load(init.module, { load: init.load })
  try {
    return await module.openToken(
      { token: init.token, pin: init.pin, random: init.random },
      { signal: options.signal, closeModule: true }
    )
  } catch (err) {
    await module.close()
    throw err
  }
}
