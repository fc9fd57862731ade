import { FleetError } from '../common/index.js'

/** Thrown when a hybrid signature does not verify; `half` names the part that failed. */
export class HybridSignatureError extends FleetError {
  readonly domain: string
  readonly half: 'p256' | 'mldsa65'
  constructor(domain: string, half: 'p256' | 'mldsa65') {
    super(`the ${half === 'p256' ? 'P-256 (TPM)' : 'ML-DSA-65'} half of a ${domain} signature does not verify`, {
      code: 'ERR_HYBRID_SIGNATURE'
    })
    this.domain = domain
    this.half = half
  }
}

/**
 * Thrown when a batch of P-256 signature checks is over a bound of P256_BATCH_LIMITS: `bound`
 * names which (`items`, or `messageBytes` for the messages together), `size` what the batch had.
 */
export class P256BatchTooLargeError extends FleetError {
  readonly bound: 'items' | 'messageBytes'
  readonly size: number
  readonly limit: number
  constructor(bound: 'items' | 'messageBytes', size: number, limit: number) {
    super(`a P-256 batch of ${size} ${bound === 'items' ? 'items' : 'message bytes'} is over the limit of ${limit}`, {
      code: 'ERR_P256_BATCH_TOO_LARGE'
    })
    this.bound = bound
    this.size = size
    this.limit = limit
  }
}

/** Thrown when an item of a P-256 batch is not an object of three Uint8Arrays; `index` names it. */
export class MalformedP256BatchError extends FleetError {
  readonly index: number
  readonly field: 'item' | 'publicKey' | 'message' | 'signature'
  constructor(index: number, field: 'item' | 'publicKey' | 'message' | 'signature') {
    super(`item ${index} of a P-256 batch: ${field === 'item' ? 'not an object' : `${field} is not a Uint8Array`}`, {
      code: 'ERR_MALFORMED_P256_BATCH'
    })
    this.index = index
    this.field = field
  }
}
