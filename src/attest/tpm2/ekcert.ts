import { createHash, X509Certificate, type KeyObject, type JsonWebKey } from 'node:crypto'
import { readdir, readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { TPM2_LIMITS } from './limits.js'
import { publicKey, type TpmPublic } from './public.js'
import { checkEkCertificateProfile, type EkCertificateProfile } from './ekcert-profile.js'
import { MalformedCertificateError, TrustStoreUnreadableError, EmptyTrustStoreError } from './errors.js'
import {
  EkCertificateUntrustedError,
  EkCertificateExpiredError,
  EkCertificateNotYetValidError,
  EkCertificateIssuerNotCaError,
  EkCertificateKeyMismatchError,
  EkCertificateChainTooLongError
} from './ekcert-errors.js'

/** One certificate of a verified chain. */
export interface ChainCertificate {
  subject: string
  issuer: string
  serialNumber: string
  fingerprint256: string
}

/** An EK certificate that chains to the trust store. Only verifyEkCertificate makes one. */
export interface VerifiedEkCertificate {
  /** The EK certificate (may be empty: TCG EK certificates often have an empty subject). */
  subject: string
  issuer: string
  serialNumber: string
  /** From the EK certificate up to and including the self-signed root of the trust store. */
  chain: ChainCertificate[]
  /** True when `ekPublic` was given and the certificate certifies exactly that key. */
  ekPublicChecked: boolean
  /** What the certificate says of the TPM (it kept the TCG EK certificate profile's rules). */
  profile: EkCertificateProfile
  certificate: X509Certificate
}

export interface VerifyEkCertificateInput {
  /** DER (as read from the TPM's NV index; NV padding after the DER is ignored) or PEM. */
  certificate: Uint8Array | string
  /** Roots and intermediates; a chain must end in a self-signed certificate of this store. */
  trustStore: X509Certificate[] | { dir: string }
  /** The TPM's EK: when given, the certificate must certify exactly this key. */
  ekPublic?: TpmPublic
  now: Date
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g

/** Length of the DER TLV at the start of `der` (0 if it does not start with a definite-length SEQUENCE). */
function derLength(der: Uint8Array): number {
  if (der.length < 2 || der[0] !== 0x30) return 0
  const first = der[1]!
  if (first < 0x80) return 2 + first
  const count = first & 0x7f
  if (count === 0 || count > 4 || der.length < 2 + count) return 0
  let length = 0
  for (let i = 0; i < count; i++) length = length * 256 + der[2 + i]!
  return 2 + count + length
}

function decodeOne(data: Uint8Array | string, what: string): X509Certificate {
  try {
    return new X509Certificate(typeof data === 'string' ? data : Buffer.from(data))
  } catch (err) {
    throw new MalformedCertificateError(what, (err as Error).message, err)
  }
}

/**
 * Every certificate in a PEM text or one DER certificate (NV padding after the DER is dropped).
 * PEM without certificates (a CA folder's private keys) gives none when `otherPem` is 'skip'.
 */
function decodeCertificates(
  data: Uint8Array | string,
  what: string,
  otherPem: 'refuse' | 'skip' = 'refuse'
): X509Certificate[] {
  if (data.length > TPM2_LIMITS.maxCertificateSize)
    throw new MalformedCertificateError(what, `larger than ${TPM2_LIMITS.maxCertificateSize} bytes`)
  const text = typeof data === 'string' ? data : Buffer.from(data).toString('latin1')
  if (typeof data === 'string' || text.includes('-----BEGIN')) {
    const blocks = text.match(PEM_BLOCK)
    if (blocks === null) {
      if (otherPem === 'skip') return []
      throw new MalformedCertificateError(what, 'PEM without a CERTIFICATE block')
    }
    return blocks.map((block) => decodeOne(block, what))
  }
  const length = derLength(data)
  if (length === 0 || length > data.length)
    throw new MalformedCertificateError(what, 'not DER (no complete outer SEQUENCE)')
  return [decodeOne(data.subarray(0, length), what)]
}

/**
 * Reads every certificate (PEM, possibly several per file, or DER) of the .pem/.crt/.cer/.der files
 * in a folder. PEM files holding no certificate (keys) are passed over; an unreadable certificate
 * is an error, so that a broken store is noticed rather than silently smaller.
 */
export async function loadTrustStore(dir: string): Promise<X509Certificate[]> {
  let names: string[]
  try {
    names = (await readdir(dir)).filter((n) => /\.(pem|crt|cer|der)$/i.test(n)).sort()
  } catch (err) {
    throw new TrustStoreUnreadableError(dir, (err as NodeJS.ErrnoException).code ?? String(err))
  }
  if (names.length > TPM2_LIMITS.maxTrustStoreFiles)
    throw new TrustStoreUnreadableError(dir, `more than ${TPM2_LIMITS.maxTrustStoreFiles} certificate files`)
  const out: X509Certificate[] = []
  for (const name of names) {
    const file = path.join(dir, name)
    let data: Buffer
    try {
      if ((await stat(file)).size > TPM2_LIMITS.maxCertificateSize)
        throw new MalformedCertificateError(file, `larger than ${TPM2_LIMITS.maxCertificateSize} bytes`)
      data = await readFile(file)
    } catch (err) {
      if (err instanceof MalformedCertificateError) throw err
      throw new TrustStoreUnreadableError(dir, `${name}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
    }
    out.push(...decodeCertificates(new Uint8Array(data), file, 'skip'))
  }
  return out
}

function keyJwk(key: KeyObject): JsonWebKey {
  const jwk = key.export({ format: 'jwk' })
  return key.asymmetricKeyType === 'rsa'
    ? { kty: jwk.kty, n: jwk.n, e: jwk.e }
    : { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }
}

function keyFingerprint(key: KeyObject): string {
  return createHash('sha256')
    .update(key.export({ type: 'spki', format: 'der' }))
    .digest('hex')
}

function describe(cert: X509Certificate): ChainCertificate {
  return {
    subject: cert.subject,
    issuer: cert.issuer,
    serialNumber: cert.serialNumber,
    fingerprint256: cert.fingerprint256
  }
}

function checkValidity(cert: X509Certificate, now: Date): void {
  const from = cert.validFromDate ?? new Date(cert.validFrom)
  const to = cert.validToDate ?? new Date(cert.validTo)
  if (now < from) throw new EkCertificateNotYetValidError(cert.subject || cert.serialNumber, cert.validFrom, now)
  if (now > to) throw new EkCertificateExpiredError(cert.subject || cert.serialNumber, cert.validTo, now)
}

function isSelfSigned(cert: X509Certificate): boolean {
  return cert.checkIssued(cert) && cert.verify(cert.publicKey)
}

/**
 * Checks an EK certificate: it chains through CA certificates of the trust store (each signature
 * verified, each issuer a CA allowed to sign certificates) to a self-signed root of the store,
 * every certificate is valid at `now`, the EK certificate keeps the TCG EK certificate profile
 * (checkEkCertificateProfile: not a CA, keyUsage for an EK, TCG EKU, TPM manufacturer/model/
 * version), and — when `ekPublic` is given — it certifies exactly that key. Unusual but harmless
 * content (empty subject, other TCG-specific extensions) is not refused.
 */
export async function verifyEkCertificate(input: VerifyEkCertificateInput): Promise<VerifiedEkCertificate> {
  if (!(input.now instanceof Date) || Number.isNaN(input.now.getTime()))
    throw new MalformedCertificateError('the verification time', 'not a valid Date')
  const leaves = decodeCertificates(input.certificate, 'the EK certificate')
  if (leaves.length !== 1)
    throw new MalformedCertificateError('the EK certificate', `${leaves.length} certificates where one belongs`)
  const leaf = leaves[0]!
  const store = Array.isArray(input.trustStore) ? input.trustStore : await loadTrustStore(input.trustStore.dir)
  if (store.length === 0) throw new EmptyTrustStoreError()

  if (input.ekPublic !== undefined) {
    let certified: KeyObject
    try {
      certified = leaf.publicKey
    } catch (err) {
      throw new MalformedCertificateError(
        'the EK certificate',
        `its public key is unreadable (${(err as Error).message})`,
        err
      )
    }
    const ek = publicKey(input.ekPublic)
    if (JSON.stringify(keyJwk(certified)) !== JSON.stringify(keyJwk(ek)))
      throw new EkCertificateKeyMismatchError(keyFingerprint(ek), keyFingerprint(certified))
  }

  const profile = checkEkCertificateProfile(leaf)
  const chain: ChainCertificate[] = []
  let current = leaf
  for (let depth = 0; depth < TPM2_LIMITS.maxChainLength; depth++) {
    checkValidity(current, input.now)
    chain.push(describe(current))
    if (depth > 0 && store.some((c) => c.raw.equals(current.raw)) && isSelfSigned(current)) {
      return {
        subject: leaf.subject,
        issuer: leaf.issuer,
        serialNumber: leaf.serialNumber,
        chain,
        ekPublicChecked: input.ekPublic !== undefined,
        profile,
        certificate: leaf
      }
    }
    const signers = store.filter(
      (c) => !c.raw.equals(current.raw) && current.checkIssued(c) && current.verify(c.publicKey)
    )
    if (signers.length === 0)
      throw new EkCertificateUntrustedError(current.subject || current.serialNumber, current.issuer)
    const ca = signers.find((c) => c.ca)
    if (ca === undefined) throw new EkCertificateIssuerNotCaError(signers[0]!.subject)
    current = ca
  }
  throw new EkCertificateChainTooLongError(TPM2_LIMITS.maxChainLength)
}
