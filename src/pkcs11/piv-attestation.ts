/**
 * PIV attestation of a token key, judged from the certificate objects the token holds. A PIV card
 * attests a key it generated with a certificate over that key (the attestation statement), signed
 * by the card's attestation key, whose certificate (slot f9) its vendor's PIV CA issued. Pure: the
 * certificates were read by certificates.ts; nothing here talks to the token.
 *
 * - The statement is a certificate whose SubjectPublicKeyInfo is exactly the key's. Its label is
 *   not trusted (any object may be called "X.509 Certificate for PIV Attestation 9c"), and a token
 *   may hold several over the key: a PIV slot's own certificate (self-signed, or issued by a CA)
 *   besides the statement.
 * - Its chain: each certificate issued by the next (the issuer's name, and its key verifies the
 *   signature), taken from the token's other certificates (never one over the key itself), until
 *   a named root issued one; at most ATTESTATION_CHAIN_MAX certificates of the token, each valid
 *   now, and at most ATTESTATION_EVIDENCE_MAX_BYTES together. The statement's issuer need not be
 *   a CA certificate (a YubiKey 4's attestation certificate is not); any issuer above it must be.
 *   A named root is a trust anchor, whatever it is (a vendor's root, or an intermediate the owner
 *   chose), and must be valid now.
 * - With roots named, the first statement whose chain reaches one is the attestation; otherwise
 *   the key is refused: Pkcs11AttestationMissingError when no certificate is over the key,
 *   Pkcs11AttestationUntrustedError with each statement's reason.
 * - Without roots, a statement issued by another certificate of the token is returned, unverified
 *   (`root` undefined): a claim anyone with the token could have written there. None: undefined.
 * - Yubico's extensions on the statement (firmware 1.3.6.1.4.1.41482.3.3, serial .3.7, PIN and
 *   touch policy .3.8) are decoded strictly; one that does not decode refuses the certificate
 *   (Pkcs11CertificateMalformedError), as does any certificate object that is not one DER X.509
 *   certificate. Unverified, they too are only the token's word.
 */
import { X509Certificate } from 'node:crypto'
import { bytesEqual, DER_TAG, DerReader, type DerExtension } from '../common/index.js'
import { p256KeyObject } from '../identity/index.js'
import type { TokenCertificate } from './certificates.js'
import {
  Pkcs11AttestationMissingError,
  Pkcs11AttestationUntrustedError,
  Pkcs11CertificateMalformedError
} from './errors.js'
import {
  ATTESTATION_CHAIN_MAX,
  ATTESTATION_EVIDENCE_MAX_BYTES,
  CERTIFICATE_ELEMENTS_MAX,
  CERTIFICATE_NAME_MAX_CHARS,
  OID_MAX_BYTES,
  YUBICO_SERIAL_MAX_BYTES
} from './limits.js'

/** What finding a key's attestation needs. */
export interface KeyAttestationInput {
  /** The token's and the key's labels, for errors. */
  readonly token: string
  readonly keyLabel: string
  /** The key: a SEC1 uncompressed P-256 point. */
  readonly publicKey: Uint8Array
  /** Every X.509 certificate object of the token. */
  readonly certificates: readonly TokenCertificate[]
  /** The trust anchors a chain must reach; undefined or empty when none is named. */
  readonly roots: readonly X509Certificate[] | undefined
  readonly now: Date
}

/** What a YubiKey's attestation statement says of the key and the card (absent: not in the certificate). */
export interface YubicoAttestation {
  /** Firmware version, e.g. 5.4.3. */
  readonly firmware: string | undefined
  readonly serial: number | undefined
  /** When the card asks for the PIN before using the key: never, once (per session), always, match-once, match-always. */
  readonly pinPolicy: string | undefined
  /** When it asks for a touch: never, always, cached (15 s). */
  readonly touchPolicy: string | undefined
}

/** A key's attestation as found on the token. */
export interface KeyAttestation {
  /** The certificates of the token that make the chain, DER, the statement over the key first. */
  readonly chain: readonly Uint8Array[]
  /** The statement's certificate object label (the token's word). */
  readonly label: string
  /** The common name of the statement's issuer (the card's attestation certificate). */
  readonly issuer: string
  /** The common name of the named root the chain reached; undefined when no root was named (unverified). */
  readonly root: string | undefined
  /** Yubico's extensions, when the statement has any. */
  readonly yubico: YubicoAttestation | undefined
}

/** Yubico's PIV attestation extensions (Yubico OID arc 1.3.6.1.4.1.41482, PIV 3). */
export const YUBICO_OID = {
  firmware: '1.3.6.1.4.1.41482.3.3',
  serial: '1.3.6.1.4.1.41482.3.7',
  policy: '1.3.6.1.4.1.41482.3.8'
} as const

const PIN_POLICIES: Readonly<Record<number, string>> = {
  1: 'never',
  2: 'once',
  3: 'always',
  4: 'match-once',
  5: 'match-always'
}
const TOUCH_POLICIES: Readonly<Record<number, string>> = { 1: 'never', 2: 'always', 3: 'cached' }

interface Parsed {
  readonly object: TokenCertificate
  readonly cert: X509Certificate
  /** undefined when node cannot read its public key: then it is neither a statement nor an issuer. */
  readonly spki: Uint8Array | undefined
}

type Walked = { chain: Parsed[]; root: X509Certificate } | { reason: string }

/**
 * The key's attestation among the token's certificates, judged as the module comment says.
 * Throws Pkcs11CertificateMalformedError, Pkcs11AttestationMissingError or
 * Pkcs11AttestationUntrustedError; returns undefined only when no root is named and no statement
 * is issued by another certificate of the token.
 */
export function keyAttestation(input: KeyAttestationInput): KeyAttestation | undefined {
  const parsed = input.certificates.map((object) => parse(input.token, object))
  const keySpki = new Uint8Array(p256KeyObject(input.publicKey)!.export({ type: 'spki', format: 'der' }))
  const statements = parsed.filter((p) => p.spki !== undefined && bytesEqual(p.spki, keySpki))
  const issuers = parsed.filter((p) => p.spki !== undefined && !bytesEqual(p.spki, keySpki))
  const roots = input.roots ?? []
  if (roots.length === 0) {
    for (const statement of statements) {
      const issuer = issuers.find((candidate) => issues(candidate.cert, statement.cert))
      if (issuer !== undefined) return attestation(input.token, [statement, issuer], undefined)
    }
    return undefined
  }
  if (statements.length === 0) throw new Pkcs11AttestationMissingError(input.token, input.keyLabel, parsed.length)
  const reasons: string[] = []
  for (const statement of statements) {
    const walked = walk(statement, issuers, roots, input.now)
    if ('chain' in walked) return attestation(input.token, walked.chain, walked.root)
    reasons.push(walked.reason)
  }
  throw new Pkcs11AttestationUntrustedError(input.token, input.keyLabel, reasons)
}

/** One certificate object as one DER X.509 certificate, nothing before or after it. */
function parse(token: string, object: TokenCertificate): Parsed {
  let cert: X509Certificate
  try {
    cert = new X509Certificate(Buffer.from(object.der))
  } catch (err) {
    throw new Pkcs11CertificateMalformedError(token, object.label, 'its CKA_VALUE is not DER of a certificate', err)
  }
  if (cert.raw.length !== object.der.length) {
    const reason = `its CKA_VALUE is ${object.der.length} bytes, the certificate's DER ${cert.raw.length}`
    throw new Pkcs11CertificateMalformedError(token, object.label, reason)
  }
  let spki: Uint8Array | undefined
  try {
    spki = new Uint8Array(cert.publicKey.export({ type: 'spki', format: 'der' }))
  } catch {
    spki = undefined
  }
  return { object, cert, spki }
}

/** `issuer` issued `subject`: the names match and the issuer's key verifies the signature. */
function issues(issuer: X509Certificate, subject: X509Certificate): boolean {
  try {
    return subject.checkIssued(issuer) && subject.verify(issuer.publicKey)
  } catch {
    return false
  }
}

/** Why `cert` is not valid at `now`, or undefined when it is. */
function invalidAt(cert: X509Certificate, now: Date): string | undefined {
  if (now < cert.validFromDate) return `is not valid before ${cert.validFromDate.toISOString()}`
  if (now > cert.validToDate) return `expired on ${cert.validToDate.toISOString()}`
  return undefined
}

/** From the statement up through the token's certificates to a named root, or why not. */
function walk(statement: Parsed, issuers: readonly Parsed[], roots: readonly X509Certificate[], now: Date): Walked {
  const chain = [statement]
  let current = statement
  for (;;) {
    const invalid = invalidAt(current.cert, now)
    if (invalid !== undefined) return { reason: `${named(current)} ${invalid}` }
    const root = roots.find((candidate) => invalidAt(candidate, now) === undefined && issues(candidate, current.cert))
    if (root !== undefined) {
      const bytes = chain.reduce((total, p) => total + p.cert.raw.length, 0)
      if (bytes > ATTESTATION_EVIDENCE_MAX_BYTES)
        return {
          reason: `${named(statement)}: its chain is ${bytes} bytes, more than ${ATTESTATION_EVIDENCE_MAX_BYTES}`
        }
      return { chain, root }
    }
    if (chain.length >= ATTESTATION_CHAIN_MAX)
      return { reason: `${named(statement)}: no named root within ${ATTESTATION_CHAIN_MAX} certificates of the token` }
    const issuer = issuers.find((candidate) => !chain.includes(candidate) && issues(candidate.cert, current.cert))
    if (issuer === undefined) {
      const selfSigned = issues(current.cert, current.cert)
      return {
        reason: selfSigned
          ? `${named(current)} is self-signed, not issued by a named root`
          : `no named root or certificate of the token issued ${named(current)} (issuer ${nameOf(current.cert.issuer)})`
      }
    }
    if (chain.length >= 2 && !issuer.cert.ca)
      return { reason: `${named(issuer)}, the issuer of ${named(current)}, is not a CA certificate` }
    chain.push(issuer)
    current = issuer
  }
}

function attestation(token: string, chain: readonly Parsed[], root: X509Certificate | undefined): KeyAttestation {
  const [statement, issuer] = chain as [Parsed, Parsed | undefined]
  return {
    chain: chain.map((p) => new Uint8Array(p.cert.raw)),
    label: statement.object.label,
    issuer: nameOf(issuer?.cert.subject ?? statement.cert.issuer),
    root: root === undefined ? undefined : nameOf(root.subject),
    yubico: yubicoExtensions(token, statement)
  }
}

/** Yubico's extensions of the statement, strictly decoded; undefined when it has none of them. */
function yubicoExtensions(token: string, statement: Parsed): YubicoAttestation | undefined {
  const fail = (reason: string): never => {
    throw new Pkcs11CertificateMalformedError(token, statement.object.label, reason)
  }
  const reader = new DerReader(new Uint8Array(statement.cert.raw), {
    maxElements: CERTIFICATE_ELEMENTS_MAX,
    maxOidBytes: OID_MAX_BYTES,
    fail
  })
  const found = reader.certificateExtensions()
  const value = (oid: string): Uint8Array | undefined => {
    const extension: DerExtension | undefined = found.get(oid)
    return extension === undefined ? undefined : reader.bytes(extension.value)
  }
  const firmware = value(YUBICO_OID.firmware)
  const policy = value(YUBICO_OID.policy)
  const serial = found.get(YUBICO_OID.serial)
  if (firmware === undefined && policy === undefined && serial === undefined) return undefined
  if (firmware !== undefined && firmware.length !== 3)
    fail(`its Yubico firmware extension is ${firmware.length} bytes, not 3`)
  if (policy !== undefined && policy.length !== 2) fail(`its Yubico policy extension is ${policy.length} bytes, not 2`)
  const pinPolicy = policy === undefined ? undefined : PIN_POLICIES[policy[0]!]
  const touchPolicy = policy === undefined ? undefined : TOUCH_POLICIES[policy[1]!]
  if (policy !== undefined && (pinPolicy === undefined || touchPolicy === undefined))
    fail(`its Yubico policy extension names an unknown policy (${Buffer.from(policy).toString('hex')})`)
  return {
    firmware: firmware === undefined ? undefined : [...firmware].join('.'),
    serial: serial === undefined ? undefined : yubicoSerial(reader, serial, fail),
    pinPolicy,
    touchPolicy
  }
}

/** The serial extension's value: one DER INTEGER, minimal, not negative, at most YUBICO_SERIAL_MAX_BYTES. */
function yubicoSerial(reader: DerReader, extension: DerExtension, fail: (reason: string) => never): number {
  const integer = reader.tlv(extension.value.start, extension.value.end)
  const bytes = reader.bytes(integer)
  const why =
    integer.tag !== DER_TAG.INTEGER || integer.end !== extension.value.end
      ? 'is not one INTEGER'
      : bytes.length === 0 || bytes.length > YUBICO_SERIAL_MAX_BYTES
        ? `is an INTEGER of ${bytes.length} bytes`
        : bytes[0]! >= 0x80
          ? 'is negative'
          : bytes.length > 1 && bytes[0] === 0 && bytes[1]! < 0x80
            ? 'is not minimal DER'
            : undefined
  if (why !== undefined) fail(`its Yubico serial extension ${why}`)
  return bytes.reduce((number, byte) => number * 256 + byte, 0)
}

/** A certificate in messages: its object's label and its subject's common name. */
function named(p: Parsed): string {
  return `certificate ${JSON.stringify(p.object.label)} (${nameOf(p.cert.subject)})`
}

/** A distinguished name as node prints it, in words: its common name, or the whole name; bounded, no control characters. */
export function nameOf(name: string): string {
  const common = /^CN=(.*)$/m.exec(name)?.[1]
  const text = (common ?? name.replaceAll('\n', ', ')).replace(/\p{Cc}/gu, ' ').trim()
  return (text === '' ? 'no name' : text).slice(0, CERTIFICATE_NAME_MAX_CHARS)
}
