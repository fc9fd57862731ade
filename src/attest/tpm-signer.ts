import { createHash } from 'node:crypto'
import type { P256Signer } from '../identity/index.js'
import { eccPoint, parsePublic, parseSignature, signatureToP1363 } from './tpm2/index.js'
import type { KeyBlob, Tpm } from './tpm/tpm.js'

/**
 * The P-256 half of the hybrid signature, made by a TPM-held signing key (the DSK): the private
 * key never leaves the TPM. ECDSA-SHA256 over the message, as IEEE P1363 r‖s.
 */
export function tpmP256Signer(tpm: Tpm, signingKey: KeyBlob): P256Signer {
  return {
    publicKey: eccPoint(parsePublic(signingKey.public)),
    async sign(message, options = {}) {
      const digest = createHash('sha256').update(message).digest()
      return signatureToP1363(parseSignature(await tpm.sign(signingKey, digest, options)))
    }
  }
}
