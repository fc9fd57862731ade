/**
 * Identity primitives: ML-DSA-65 (node:crypto or @noble/post-quantum) and the hybrid signature
 * rule — a signature is valid only if both its P-256 (TPM-held key) and ML-DSA-65 halves verify
 * over the same domain-separated bytes.
 *
 * @example
 * const signer = new HybridSigner(tpmP256Signer, defaultMlDsa65().fromSeed(unsealedSeed))
 * const signature = await signer.sign(DOMAIN.checkpoint, noteBytes)
 * verifyHybrid(signer.publicKey, DOMAIN.checkpoint, noteBytes, signature) // throws if either half fails
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
export { HybridSignatureError } from './errors.js'
