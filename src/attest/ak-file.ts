import crypto from 'node:crypto'
import { MalformedInputError } from '../common/index.js'
import { parsePublic, type TpmPublic } from './tpm2/index.js'

/**
 * An attestation key file: PEM (SubjectPublicKeyInfo, as tpm2-tools writes it) gives a bare
 * public key; TPM2B_PUBLIC gives the full public area, whose restricted attribute is then checked.
 */
export function readAttestationKey(bytes: Uint8Array): TpmPublic | crypto.KeyObject {
  const text = Buffer.from(bytes).toString('latin1')
  if (text.includes('-----BEGIN')) {
    try {
      return crypto.createPublicKey(text)
    } catch (err) {
      throw new MalformedInputError(`the attestation key PEM does not parse: ${(err as Error).message}`)
    }
  }
  return parsePublic(bytes)
}
