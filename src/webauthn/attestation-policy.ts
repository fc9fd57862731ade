import { X509Certificate } from 'node:crypto'
import { convertCertBufferToPEM, validateCertificatePath } from '@simplewebauthn/server/helpers'
import { bytesEqual, type Clock } from '../common/index.js'
import {
  AaguidNotAllowedError,
  AttestationInvalidError,
  AttestationNotAllowedError,
  AttestationUntrustedError,
  MalformedWebAuthnError
} from './errors.js'
import { arrayBacked } from './fields.js'

/**
 * Which authenticators may enrol. The defaults are a demanding operator's: nothing is trusted
 * that was not named.
 *
 * - An attestation with a certificate chain (packed with x5c, tpm, fido-u2f, android-key, apple)
 *   is trusted only when the chain reaches one of `roots`, or its certificate carries the very
 *   key of one of them (a pinned batch attestation key). No roots: refused
 *   (AttestationUntrustedError), unless `allowNone` — then it counts as unproven (`trusted` false).
 * - `none` and self attestation (packed without x5c: the new key vouching for itself) prove
 *   nothing about the model: refused (AttestationNotAllowedError) unless `allowNone`.
 * - `aaguids`, when given, is the allowlist of models (AaguidNotAllowedError otherwise). An
 *   AAGUID is only a claim unless the attestation is trusted: pair the list with `roots`.
 */
export interface AttestationPolicy {
  /** Allowed authenticator models, as AAGUIDs (hyphenated; case does not matter). Absent: any model. */
  readonly aaguids?: readonly string[]
  /** PEM certificates an attestation chain must reach (vendors' attestation roots). */
  readonly roots?: readonly string[]
  /** Accept credentials whose model is unproven (attestation none, self, or without roots). Default false. */
  readonly allowNone?: boolean
}

/** What the attestation proved, as recorded with the credential. */
export interface AttestationSummary {
  readonly fmt: string
  /** The attestation certificate chain, leaf first (absent for none and self attestation). */
  readonly x5c: readonly Uint8Array[] | undefined
  /** The chain reached a root of the policy: the AAGUID is the model's, not only a claim. */
  readonly trusted: boolean
}

/** A verified attestation statement's facts, as the policy judges them. */
export interface VerifiedAttestation {
  readonly fmt: string
  readonly aaguid: string
  readonly x5c: readonly Uint8Array[] | undefined
}

/**
 * Applies the policy to an attestation whose statement already verified (the signature over the
 * new credential by the attestation key). Returns what it proved, or throws the refusal.
 */
export async function applyAttestationPolicy(
  attestation: VerifiedAttestation,
  policy: AttestationPolicy,
  clock: Clock
): Promise<AttestationSummary> {
  const allowNone = policy.allowNone === true
  let trusted = false
  if (attestation.fmt === 'none' || attestation.x5c === undefined) {
    if (!allowNone) throw new AttestationNotAllowedError(attestation.fmt, attestation.fmt === 'none' ? 'none' : 'self')
  } else {
    const roots = policy.roots ?? []
    if (roots.length > 0) {
      await checkChain(attestation, attestation.x5c, roots, clock)
      trusted = true
    } else if (!allowNone) {
      throw new AttestationUntrustedError(
        attestation.fmt,
        attestation.aaguid,
        leafSubject(attestation.x5c),
        'the policy names no attestation roots'
      )
    }
  }
  if (policy.aaguids !== undefined) {
    const allowed = policy.aaguids.map((aaguid) => aaguid.toLowerCase())
    if (!allowed.includes(attestation.aaguid.toLowerCase())) {
      throw new AaguidNotAllowedError(attestation.aaguid, allowed)
    }
  }
  return { fmt: attestation.fmt, x5c: attestation.x5c, trusted }
}

async function checkChain(
  attestation: VerifiedAttestation,
  x5c: readonly Uint8Array[],
  roots: readonly string[],
  clock: Clock
): Promise<void> {
  let leaf: X509Certificate
  try {
    leaf = new X509Certificate(x5c[0]!)
  } catch (error) {
    throw new AttestationInvalidError(attestation.fmt, 'the attestation certificate cannot be read', error)
  }
  const leafKey = spki(leaf)
  const now = clock.now()
  for (const root of roots.map(parseRoot)) {
    const current = root.validFromDate.getTime() <= now && now <= root.validToDate.getTime()
    if (current && bytesEqual(spki(root), leafKey)) return
  }
  try {
    await validateCertificatePath(
      x5c.map((der) => convertCertBufferToPEM(arrayBacked(der))),
      [...roots]
    )
  } catch (error) {
    throw new AttestationUntrustedError(
      attestation.fmt,
      attestation.aaguid,
      leaf.subject.replaceAll('\n', ', '),
      (error as Error).message.split('\n')[0] ?? 'no root reached',
      error
    )
  }
}

function parseRoot(pem: string, index: number): X509Certificate {
  try {
    return new X509Certificate(pem)
  } catch {
    throw new MalformedWebAuthnError(`allow.roots[${index}]`, 'is not a PEM certificate')
  }
}

function spki(certificate: X509Certificate): Uint8Array {
  return new Uint8Array(certificate.publicKey.export({ type: 'spki', format: 'der' }))
}

function leafSubject(x5c: readonly Uint8Array[]): string {
  try {
    return new X509Certificate(x5c[0]!).subject.replaceAll('\n', ', ')
  } catch {
    return 'unreadable certificate'
  }
}
