import { FleetError, MalformedInputError } from '../../common/index.js'

/** Thrown when a verifier key (c2sp.org/signed-note vkey) is not an Ed25519 cosignature/v1 key. Exit code 2. */
export class MalformedVerifierKeyError extends MalformedInputError {
  constructor(reason: string) {
    super(`witness verifier key: ${reason}`, { code: 'ERR_MALFORMED_VERIFIER_KEY' })
  }
}

/** Thrown when a witness's response body is not what the protocol allows (too large, not signature lines, not a size). */
export class MalformedWitnessResponseError extends MalformedInputError {
  constructor(reason: string) {
    super(`witness response: ${reason}`, { code: 'ERR_MALFORMED_WITNESS_RESPONSE' })
  }
}

/**
 * Thrown when a witness's 200 response carries no valid cosignature by its configured key over the
 * checkpoint submitted: a line by that key that fails to verify (forged, or over another
 * checkpoint), a timestamp in the future or older than the request (a replay), or no such line.
 * `line` is the offending line, when there is one (evidence for the log).
 */
export class CosignatureRejectedError extends FleetError {
  readonly witness: string
  readonly line?: string
  constructor(witness: string, reason: string, line?: string) {
    super(`cosignature by ${witness}: ${reason}`, { code: 'ERR_COSIGNATURE_REJECTED' })
    this.witness = witness
    this.line = line
  }
}
