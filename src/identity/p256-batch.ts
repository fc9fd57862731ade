/**
 * Checking many ECDSA P-256 signatures at once: the actor signatures of a sync batch (each over
 * SHA-256 of its statement, IEEE P1363 r‖s), all by a few enrolled keys. The contract is here, and
 * node:crypto's implementation, one signature after another on the calling thread; src/attest's
 * nativeP256Verifier checks a batch on threads of its own, several times faster (docs/benchmarks.md).
 */
import crypto from 'node:crypto'
import { MalformedP256BatchError, P256BatchTooLargeError } from './errors.js'
import { P256_BATCH_LIMITS } from './limits.js'
import { P256_POINT_SIZE, P256_SIGNATURE_SIZE, p256KeyObject } from './p256-key.js'

/** One signature to check. */
export interface P256BatchItem {
  /** SEC1 uncompressed point, 65 bytes: 0x04 ‖ x ‖ y. */
  readonly publicKey: Uint8Array
  /** The signed bytes (hashed with SHA-256 by the verifier). */
  readonly message: Uint8Array
  /** IEEE P1363 r ‖ s, 64 bytes. */
  readonly signature: Uint8Array
}

/**
 * Verifies ECDSA P-256 / SHA-256 signatures in batches.
 *
 * `verifyAll` resolves to one boolean per item, in order: true iff the signature verifies. It
 * MUST give false, not throw, for an item whose public key is not a 65-byte uncompressed point on
 * the curve or whose signature is not 64 bytes with r and s in [1, n - 1]: such bytes come from
 * peers. It MUST throw P256BatchTooLargeError for a batch over P256_BATCH_LIMITS and
 * MalformedP256BatchError for an item that is not three Uint8Arrays, before checking anything.
 * Implementations agree item for item (test/helpers/p256-conformance.ts).
 */
export interface P256BatchVerifier {
  verifyAll(items: readonly P256BatchItem[], options?: { signal?: AbortSignal }): Promise<boolean[]>
}

/**
 * The checks every implementation makes before verifying: each item is three Uint8Arrays, and the
 * batch is within P256_BATCH_LIMITS. Returns the messages' total length.
 */
export function checkP256Batch(items: readonly P256BatchItem[]): number {
  if (items.length > P256_BATCH_LIMITS.maxItems)
    throw new P256BatchTooLargeError('items', items.length, P256_BATCH_LIMITS.maxItems)
  let messageBytes = 0
  for (const [index, item] of items.entries()) {
    if (typeof item !== 'object' || item === null) throw new MalformedP256BatchError(index, 'item')
    if (!(item.publicKey instanceof Uint8Array)) throw new MalformedP256BatchError(index, 'publicKey')
    if (!(item.message instanceof Uint8Array)) throw new MalformedP256BatchError(index, 'message')
    if (!(item.signature instanceof Uint8Array)) throw new MalformedP256BatchError(index, 'signature')
    messageBytes += item.message.length
  }
  if (messageBytes > P256_BATCH_LIMITS.maxMessageBytes)
    throw new P256BatchTooLargeError('messageBytes', messageBytes, P256_BATCH_LIMITS.maxMessageBytes)
  return messageBytes
}

/** Whether an item has the lengths of a P-256 key and signature (the verifiers' first check). */
export function hasP256Shape(item: P256BatchItem): boolean {
  return item.publicKey.length === P256_POINT_SIZE && item.signature.length === P256_SIGNATURE_SIZE
}

/**
 * node:crypto's P256BatchVerifier: each signature in turn, on the calling thread. Keeps the
 * parsed key of the last `maxCachedKeys` public keys it saw (and which bytes were not a key).
 */
export function nodeP256Verifier(init: { maxCachedKeys?: number } = {}): P256BatchVerifier {
  return new NodeP256Verifier(init.maxCachedKeys ?? P256_BATCH_LIMITS.maxCachedKeys)
}

class NodeP256Verifier implements P256BatchVerifier {
  /** Least recently used first; null for bytes that are not a key. */
  private readonly keys = new Map<string, crypto.KeyObject | null>()
  private readonly maxCachedKeys: number

  constructor(maxCachedKeys: number) {
    this.maxCachedKeys = Math.max(1, maxCachedKeys)
  }

  async verifyAll(items: readonly P256BatchItem[], options: { signal?: AbortSignal } = {}): Promise<boolean[]> {
    options.signal?.throwIfAborted()
    checkP256Batch(items)
    return items.map((item) => {
      if (!hasP256Shape(item)) return false
      const key = this.key(item.publicKey)
      if (key === null) return false
      try {
        return crypto.verify('sha256', item.message, { key, dsaEncoding: 'ieee-p1363' }, item.signature)
      } catch {
        return false
      }
    })
  }

  private key(point: Uint8Array): crypto.KeyObject | null {
    const id = Buffer.from(point).toString('latin1')
    const cached = this.keys.get(id)
    if (cached !== undefined) {
      this.keys.delete(id)
      this.keys.set(id, cached)
      return cached
    }
    const key = p256KeyObject(point) ?? null
    if (this.keys.size >= this.maxCachedKeys) this.keys.delete(this.keys.keys().next().value as string)
    this.keys.set(id, key)
    return key
  }
}
