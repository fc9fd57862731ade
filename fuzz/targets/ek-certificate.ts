/** Input: a DER certificate; the EK certificate profile's own DER reader runs on whatever node:crypto accepts. */
import { X509Certificate } from 'node:crypto'
import { checkEkCertificateProfile } from '../../src/attest/tpm2/index.js'
import { typed } from '../common.js'

export function fuzz(data: Buffer): void {
  let certificate: X509Certificate
  try {
    certificate = new X509Certificate(data)
  } catch {
    return
  }
  typed(() => checkEkCertificateProfile(certificate))
}
