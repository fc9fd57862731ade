/**
 * Identity primitives: ML-DSA-65 (node:crypto or @noble/post-quantum) and the hybrid signature
 * rule — a signature is valid only if both its P-256 (TPM-held key) and ML-DSA-65 halves verify
 * over the same domain-separated bytes.
 *
 * @example
 * const signer = new HybridSigner(tpmP256Signer, defaultMlDsa65().fromSeed(unsealedSeed))
 * const signature = await signer.sign(DOMAIN.checkpoint, noteBytes)
 * verifyHybrid(signer.publicKey, DOMAIN.checkpoint, noteBytes, signature) // throws if either half fails
 *
 * And P-256 signatures checked in batches (a P256BatchVerifier: node:crypto's here, the native
 * one from src/attest):
 * const valid = await nodeP256Verifier().verifyAll([{ publicKey, message, signature }]) // [true]
 */
export {
  nodeMlDsa65,
  nobleMlDsa65,
  defaultMlDsa65,
  MLDSA65_SEED_SIZE,
  MLDSA65_PUBLIC_KEY_SIZE,
  MLDSA65_SIGNATURE_SIZE
} from './mldsa.js'
export type { MlDsa65, MlDsaKey } from './mldsa.js'
export { DOMAIN, domainSeparated } from './domains.js'
export type { Domain } from './domains.js'
export { HybridSigner, verifyHybrid, verifyP256, softwareP256Signer } from './hybrid.js'
export type { HybridPublicKey, HybridSignature, P256Signer } from './hybrid.js'
export { nodeP256Verifier, checkP256Batch, hasP256Shape } from './p256-batch.js'
export type { P256BatchVerifier, P256BatchItem } from './p256-batch.js'
export { P256_POINT_SIZE, P256_SIGNATURE_SIZE, p256KeyObject } from './p256-key.js'
export { P256_BATCH_LIMITS } from './limits.js'
export { HybridSignatureError, P256BatchTooLargeError, MalformedP256BatchError } from './errors.js'
