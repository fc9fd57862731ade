import { X509Certificate, type KeyObject } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { publicKey, type TpmPublic } from './public.js'
import { EkCertificateError } from './errors.js'

const MAX_CHAIN = 5
const MAX_TRUST_FILES = 256

export interface VerifiedEkCertificate {
  subject: string
  issuer: string
  /** Subjects from the EK certificate up to the trust anchor. */
  chain: string[]
}

function toCertificate (bytes: Uint8Array | string, what: string): X509Certificate {
  try {
    return new X509Certificate(typeof bytes === 'string' ? bytes : Buffer.from(bytes))
  } catch (err) {
    throw new EkCertificateError(`${what} is not an X.509 certificate (${(err as Error).message})`)
  }
}

/** Reads every certificate (PEM, possibly several per file, or DER) in a trust-store folder. */
export async function loadTrustStore (dir: string): Promise<X509Certificate[]> {
  let names: string[]
  try {
    names = (await readdir(dir)).filter((n) => /\.(pem|crt|cer|der)$/i.test(n)).sort().slice(0, MAX_TRUST_FILES)
  } catch (err) {
    throw new EkCertificateError(`cannot read the trust store ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
  }
  const out: X509Certificate[] = []
  for (const name of names) {
    const data = await readFile(path.join(dir, name))
    const text = data.toString('latin1')
    const pems = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)
    if (pems !== null) for (const pem of pems) out.push(toCertificate(pem, `${name}`))
    else if (!text.includes('-----BEGIN')) out.push(toCertificate(data, name))
  }
  return out
}

function samePublicKey (a: KeyObject, b: KeyObject): boolean {
  return a.export({ type: 'spki', format: 'der' }).equals(b.export({ type: 'spki', format: 'der' }))
}

/**
 * Checks an EK certificate: it chains through issuers in the trust store (each signature verified,
 * issuers must be CAs) to a certificate of the trust store, every certificate is valid at `now`,
 * and — when `ekPublic` is given — it certifies exactly that EK.
 */
export async function verifyEkCertificate (input: { certificate: Uint8Array | string, trustStore: X509Certificate[] | { dir: string }, ekPublic?: TpmPublic, now: Date }): Promise<VerifiedEkCertificate> {
  const leaf = toCertificate(input.certificate, 'the EK certificate')
  const anchors = Array.isArray(input.trustStore) ? input.trustStore : await loadTrustStore(input.trustStore.dir)
  if (anchors.length === 0) throw new EkCertificateError('the trust store is empty')
  if (input.ekPublic !== undefined && !samePublicKey(leaf.publicKey, publicKey(input.ekPublic))) {
    throw new EkCertificateError('it certifies another key than this TPM\'s EK')
  }
  const chain: string[] = []
  let current = leaf
  for (let depth = 0; depth <= MAX_CHAIN; depth++) {
    checkValidity(current, input.now)
    chain.push(current.subject || '(empty subject)')
    if (anchors.some((anchor) => anchor.fingerprint256 === current.fingerprint256)) {
      return { subject: leaf.subject, issuer: leaf.issuer, chain }
    }
    const issuer = anchors.find((candidate) => candidate.ca && current.checkIssued(candidate) && current.verify(candidate.publicKey))
    if (issuer === undefined) throw new EkCertificateError(`no trusted issuer for "${current.subject || current.serialNumber}" (issuer "${current.issuer}")`)
    if (issuer.fingerprint256 === current.fingerprint256) break
    current = issuer
  }
  throw new EkCertificateError('the chain is longer than allowed')
}

function checkValidity (cert: X509Certificate, now: Date): void {
  if (now < new Date(cert.validFrom)) throw new EkCertificateError(`"${cert.subject}" is not valid before ${cert.validFrom}`)
  if (now > new Date(cert.validTo)) throw new EkCertificateError(`"${cert.subject}" expired ${cert.validTo}`)
}
