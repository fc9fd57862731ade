/**
 * The native binding's P-256 batch verification (native/src/p256_verify.cc) as src/identity's
 * P256BatchVerifier: the items are packed into four buffers for one call, which the binding
 * copies and checks on threads of its own (up to `threads`), off the main thread. It keeps each
 * key it sees parsed, and for keys that sign often a table that makes their checks about 3x
 * cheaper (bounds in src/identity's P256_BATCH_LIMITS).
 */
import {
  checkP256Batch,
  hasP256Shape,
  P256_POINT_SIZE,
  P256_SIGNATURE_SIZE,
  type P256BatchItem,
  type P256BatchVerifier
} from '../../identity/index.js'

/** The binding's verifier object (native/src/p256_verify.h has the argument layout). */
export interface NativeP256Binding {
  verify(
    keys: Uint8Array,
    messages: Uint8Array,
    ends: Uint32Array,
    signatures: Uint8Array,
    count: number
  ): Promise<Uint8Array>
  stats(): { keys: number; tables: number }
}

export class NativeP256Verifier implements P256BatchVerifier {
  private readonly binding: NativeP256Binding

  constructor(binding: NativeP256Binding) {
    this.binding = binding
  }

  async verifyAll(items: readonly P256BatchItem[], options: { signal?: AbortSignal } = {}): Promise<boolean[]> {
    options.signal?.throwIfAborted()
    checkP256Batch(items)
    // Items without a key's and a signature's lengths are false as they are; the rest go native.
    const shaped: number[] = []
    let messageBytes = 0
    for (const [index, item] of items.entries()) {
      if (!hasP256Shape(item)) continue
      shaped.push(index)
      messageBytes += item.message.length
    }
    const count = shaped.length
    const keys = new Uint8Array(P256_POINT_SIZE * count)
    const signatures = new Uint8Array(P256_SIGNATURE_SIZE * count)
    const messages = new Uint8Array(messageBytes)
    const ends = new Uint32Array(count)
    let end = 0
    for (const [slot, index] of shaped.entries()) {
      const item = items[index]!
      keys.set(item.publicKey, P256_POINT_SIZE * slot)
      signatures.set(item.signature, P256_SIGNATURE_SIZE * slot)
      messages.set(item.message, end)
      end += item.message.length
      ends[slot] = end
    }
    const valid = await this.binding.verify(keys, messages, ends, signatures, count)
    options.signal?.throwIfAborted()
    const results = new Array<boolean>(items.length).fill(false)
    for (const [slot, index] of shaped.entries()) results[index] = valid[slot] === 1
    return results
  }

  /** Keys held parsed, and tables of precomputed multiples held, now. */
  stats(): { keys: number; tables: number } {
    return this.binding.stats()
  }
}
