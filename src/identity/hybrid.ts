import crypto from 'node:crypto'
import { domainSeparated, type Domain } from './domains.js'
import {
  defaultMlDsa65,
  type MlDsa65,
  type MlDsaKey,
  MLDSA65_PUBLIC_KEY_SIZE,
  MLDSA65_SIGNATURE_SIZE
} from './mldsa.js'
import { HybridSignatureError } from './errors.js'
import { P256_POINT_SIZE, P256_SIGNATURE_SIZE, p256KeyObject } from './p256-key.js'

/** P-256 public key as a SEC1 uncompressed point (65 bytes), ML-DSA-65 public key (1952 bytes). */
export interface HybridPublicKey {
  readonly p256: Uint8Array
  readonly mldsa65: Uint8Array
}

/** P-256 ECDSA as IEEE P1363 r‖s (64 bytes), ML-DSA-65 signature (3309 bytes). */
export interface HybridSignature {
  readonly p256: Uint8Array
  readonly mldsa65: Uint8Array
}

/** Signs the P-256 half of a hybrid signature: over SHA-256 of `message`, in the TPM for devices. */
export interface P256Signer {
  readonly publicKey: Uint8Array
  sign(message: Uint8Array, options?: { signal?: AbortSignal }): Promise<Uint8Array>
}

/**
 * Makes hybrid signatures: both halves over the same domain-separated bytes.
 * MUST NOT be used to sign bytes of another domain than the one named.
 */
export class HybridSigner {
  readonly publicKey: HybridPublicKey
  private readonly p256: P256Signer
  private readonly mldsa: MlDsaKey

  constructor(p256: P256Signer, mldsa: MlDsaKey) {
    this.p256 = p256
    this.mldsa = mldsa
    this.publicKey = { p256: p256.publicKey, mldsa65: mldsa.publicKey }
  }

  async sign(domain: Domain, message: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<HybridSignature> {
    const bytes = domainSeparated(domain, message)
    if (this.mldsa.signAsync === undefined) {
      const p256 = await this.p256.sign(bytes, options)
      return { p256, mldsa65: this.mldsa.sign(bytes) }
    }
    // Both halves at once: the ML-DSA half on the thread pool while the P-256 half is made.
    const [p256, mldsa65] = await Promise.all([this.p256.sign(bytes, options), this.mldsa.signAsync(bytes)])
    return { p256, mldsa65 }
  }

  /**
   * The P-256 half alone, for the one statement a TPM must check itself: a TPM2_PolicyAuthorize
   * approval (the TPM verifies ECDSA only). Such a statement MUST travel inside a hybrid-signed
   * envelope that the receiver checks before use.
   */
  get authority(): P256Signer {
    return this.p256
  }
}

/**
 * Verifies a hybrid signature. Valid only if BOTH halves verify over the same domain-separated
 * bytes; throws HybridSignatureError naming the half that failed.
 */
export function verifyHybrid(
  publicKey: HybridPublicKey,
  domain: Domain,
  message: Uint8Array,
  signature: HybridSignature,
  mldsa: MlDsa65 = defaultMlDsa65()
): void {
  const bytes = domainSeparated(domain, message)
  // The same signature is often checked many times (a checkpoint announced by every peer): a
  // verification that succeeded is remembered under a hash of everything it covered.
  const memo = crypto
    .createHash('sha256')
    .update(publicKey.p256)
    .update(publicKey.mldsa65)
    .update(signature.p256)
    .update(signature.mldsa65)
    .update(bytes)
    .digest('base64')
  if (verified.has(memo)) return
  if (!verifyP256(publicKey.p256, bytes, signature.p256)) throw new HybridSignatureError(domain, 'p256')
  if (
    publicKey.mldsa65.length !== MLDSA65_PUBLIC_KEY_SIZE ||
    signature.mldsa65.length !== MLDSA65_SIGNATURE_SIZE ||
    !mldsa.verify(publicKey.mldsa65, bytes, signature.mldsa65)
  ) {
    throw new HybridSignatureError(domain, 'mldsa65')
  }
  if (verified.size >= 4096) verified.delete(verified.values().next().value as string)
  verified.add(memo)
}

/** Hashes of (keys, signatures, signed bytes) that verified; oldest dropped first. */
const verified = new Set<string>()

const p256KeyCache = new Map<string, crypto.KeyObject>()

/** The KeyObject of a SEC1 P-256 point (cached), or undefined when it is not one. */
function p256Key(point: Uint8Array): crypto.KeyObject | undefined {
  if (point.length !== P256_POINT_SIZE || point[0] !== 0x04) return undefined
  const id = Buffer.from(point).toString('base64')
  let key = p256KeyCache.get(id)
  if (key === undefined) {
    key = p256KeyObject(point)
    if (key === undefined) return undefined
    if (p256KeyCache.size >= 256) p256KeyCache.delete(p256KeyCache.keys().next().value as string)
    p256KeyCache.set(id, key)
  }
  return key
}

/** ECDSA P-256 / SHA-256 verification with a SEC1 point and a P1363 signature; false on any malformation. */
export function verifyP256(point: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  const key = p256Key(point)
  if (key === undefined || signature.length !== P256_SIGNATURE_SIZE) return false
  try {
    return crypto.verify('sha256', message, { key, dsaEncoding: 'ieee-p1363' }, signature)
  } catch {
    return false
  }
}

/** A P-256 signer with the key in this process: for owners without a TPM in tests, and fakes. */
export function softwareP256Signer(
  privateKey: crypto.KeyObject = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
): P256Signer {
  const jwk = crypto.createPublicKey(privateKey).export({ format: 'jwk' }) as { x: string; y: string }
  const publicKey = new Uint8Array(
    Buffer.concat([Buffer.of(4), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')])
  )
  return {
    publicKey,
    sign: async (message) =>
      new Uint8Array(crypto.sign('sha256', message, { key: privateKey, dsaEncoding: 'ieee-p1363' }))
  }
}
