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
