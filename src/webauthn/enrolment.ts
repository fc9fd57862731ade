import {
  generateRegistrationOptions,
  verifyRegistrationResponse,
  type PublicKeyCredentialCreationOptionsJSON
} from '@simplewebauthn/server'
import { convertAAGUIDToString, decodeAttestationObject, parseAuthenticatorData } from '@simplewebauthn/server/helpers'
import { bytesEqual, sha256, toBase64url, systemClock, AbortedError, type Clock } from '../common/index.js'
import { checkNotAborted, untilAborted } from './abort.js'
import { applyAttestationPolicy, type AttestationPolicy, type AttestationSummary } from './attestation-policy.js'
import { checkAuthenticatorDataHead, FLAG, parseAuthenticatorDataHead } from './authenticator-data.js'
import { checkClientData, parseClientData, type OriginRule } from './client-data.js'
import type { StoredCredential } from './credential.js'
import { AttestationInvalidError, MalformedWebAuthnError } from './errors.js'
import { arrayBacked, checkSize } from './fields.js'
import { WEBAUTHN_LIMITS } from './limits.js'
import { decodeRegistrationResponse } from './response-json.js'

/** The signature algorithms a credential may use (COSE ids): EdDSA, ES256, RS256. */
export const SUPPORTED_ALGORITHMS: readonly number[] = [-8, -7, -257]

/** Domain tag of the user handle: the authenticator stores SHA-256(tag, actorId), not the id itself. */
const USER_HANDLE_TAG = 'fleet/webauthn/user-handle/v1\n'

/** What registrationOptions needs. */
export interface RegistrationOptionsInit {
  readonly rpId: string
  /** The relying party's name as the key's prompt may show it. */
  readonly rpName: string
  /** The actor enrolling (shown as the credential's user name). */
  readonly actorId: string
  /** 16 to 64 random bytes from the caller's Random, remembered for verifyEnrolment. */
  readonly challenge: Uint8Array
  /** Credentials the actor already has: the same authenticator is not enrolled twice. */
  readonly excludeCredentialIds?: readonly Uint8Array[]
  /** Ask the key to verify the user (PIN, biometric). Default true. */
  readonly requireUserVerification?: boolean
  readonly timeoutMs?: number
}

/**
 * The options for navigator.credentials.create() (its JSON form: PublicKeyCredential.
 * parseCreationOptionsFromJSON reads it). Asked for: a security key (a cross-platform
 * authenticator, hint `security-key`: the actor's own portable hardware key), direct attestation
 * (the model must prove itself), a non-discoverable credential (the approval page names it), user
 * verification required unless told otherwise, and the algorithms of SUPPORTED_ALGORITHMS only.
 * The user handle is SHA-256 of a tag and the actor id, not the id itself.
 */
export async function registrationOptions(
  init: RegistrationOptionsInit
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  checkText(init.rpId, 'rpId', WEBAUTHN_LIMITS.maxRpId)
  checkText(init.rpName, 'rpName', WEBAUTHN_LIMITS.maxRpName)
  checkText(init.actorId, 'actorId', WEBAUTHN_LIMITS.maxActorId)
  checkSize(
    init.challenge,
    'challenge',
    WEBAUTHN_LIMITS.minEnrolmentChallenge,
    WEBAUTHN_LIMITS.maxEnrolmentChallenge,
    'maxEnrolmentChallenge'
  )
  const userVerification = init.requireUserVerification === false ? 'discouraged' : 'required'
  return await generateRegistrationOptions({
    rpName: init.rpName,
    rpID: init.rpId,
    userName: init.actorId,
    userDisplayName: init.actorId,
    userID: arrayBacked(sha256(USER_HANDLE_TAG, init.actorId)),
    challenge: arrayBacked(init.challenge),
    timeout: ceremonyTimeout(init.timeoutMs),
    attestationType: 'direct',
    excludeCredentials: (init.excludeCredentialIds ?? []).map((id) => ({ id: toBase64url(id) })),
    authenticatorSelection: { residentKey: 'discouraged', requireResidentKey: false, userVerification },
    supportedAlgorithmIDs: [...SUPPORTED_ALGORITHMS],
    preferredAuthenticatorType: 'securityKey'
  })
}

/** What an enrolment response must show. */
export interface EnrolmentExpectations {
  /** The challenge given to registrationOptions. */
  readonly expectedChallenge: Uint8Array
  readonly origin: OriginRule
  readonly rpId: string
  /** Which authenticators may enrol (see AttestationPolicy for the defaults). */
  readonly allow: AttestationPolicy
  /** Refuse a credential created without user verification. Default true. */
  readonly requireUserVerification?: boolean
  /** The time certificates are judged at, for the policy's own checks (default the system clock). */
  readonly clock?: Clock
}

/** A credential that verified and passed the policy: what the caller records for the actor. */
export interface EnrolledCredential extends StoredCredential {
  /** The authenticator model (lowercase, hyphenated). A claim unless attestation.trusted. */
  readonly aaguid: string
  readonly fmt: string
  readonly userVerified: boolean
  readonly transports: readonly string[]
  readonly attestation: AttestationSummary
  /** The attestation object as the authenticator made it: the evidence to keep with the enrolment. */
  readonly attestationObject: Uint8Array
}

/**
 * Verifies a registration response (navigator.credentials.create(...).toJSON()) and applies the
 * attestation policy. Refusals: MalformedWebAuthnError (shape and bounds), ClientDataTypeError,
 * ChallengeMismatchError, OriginMismatchError, CrossOriginCeremonyError, RpIdMismatchError,
 * UserPresenceMissingError, UserVerificationMissingError, AttestationInvalidError (the statement
 * does not verify, or its format is not accepted), then the policy's AttestationNotAllowedError,
 * AttestationUntrustedError and AaguidNotAllowedError.
 *
 * The library may fetch the CRLs named by attestation certificates; `signal` bounds the wait.
 */
export async function verifyEnrolment(
  response: unknown,
  expected: EnrolmentExpectations,
  options: { signal?: AbortSignal } = {}
): Promise<EnrolledCredential> {
  checkNotAborted(options.signal)
  const decoded = decodeRegistrationResponse(response)
  const clientData = parseClientData(decoded.clientDataJSON)
  checkClientData(clientData, {
    type: 'webauthn.create',
    challenge: expected.expectedChallenge,
    origin: expected.origin
  })
  const statement = readAttestationObject(decoded.attestationObject)
  const requireUserVerification = expected.requireUserVerification !== false
  const head = parseAuthenticatorDataHead(statement.authData, WEBAUTHN_LIMITS.maxAttestationObject)
  checkAuthenticatorDataHead(head, { rpId: expected.rpId, requireUserVerification })
  const attested = readAttestedCredential(statement.authData, decoded.credentialId)
  if (statement.fmt === 'android-safetynet') {
    throw new AttestationInvalidError(statement.fmt, 'this format is not accepted (Android keys attest as android-key)')
  }

  let verified: Awaited<ReturnType<typeof verifyRegistrationResponse>>
  try {
    verified = await untilAborted(
      verifyRegistrationResponse({
        response: decoded.json,
        expectedChallenge: toBase64url(expected.expectedChallenge),
        expectedOrigin: clientData.origin,
        expectedRPID: expected.rpId,
        requireUserPresence: true,
        requireUserVerification,
        supportedAlgorithmIDs: [...SUPPORTED_ALGORITHMS]
      }),
      options.signal
    )
  } catch (error) {
    if (error instanceof AbortedError) throw error
    throw new AttestationInvalidError(statement.fmt, (error as Error).message.split('\n')[0] ?? 'refused', error)
  }
  if (!verified.verified) throw new AttestationInvalidError(statement.fmt, 'the attestation signature does not verify')

  const attestation = await untilAborted(
    applyAttestationPolicy(
      {
        fmt: statement.fmt,
        aaguid: attested.aaguid,
        x5c: statement.x5c
      },
      expected.allow,
      expected.clock ?? systemClock
    ),
    options.signal
  )
  return {
    credentialId: decoded.credentialId,
    publicKey: attested.publicKey,
    counter: head.counter,
    aaguid: attested.aaguid,
    fmt: statement.fmt,
    userVerified: (head.flags & FLAG.userVerified) !== 0,
    transports: decoded.transports,
    attestation,
    attestationObject: decoded.attestationObject
  }
}

/** Whole milliseconds within WEBAUTHN_LIMITS' ceremony bounds (the default when absent). */
export function ceremonyTimeout(timeoutMs: number | undefined): number {
  const value = timeoutMs ?? WEBAUTHN_LIMITS.defaultCeremonyTimeoutMs
  if (
    !Number.isInteger(value) ||
    value < WEBAUTHN_LIMITS.minCeremonyTimeoutMs ||
    value > WEBAUTHN_LIMITS.maxCeremonyTimeoutMs
  ) {
    throw new MalformedWebAuthnError(
      'timeoutMs',
      `${value} is not a whole number within ${
        WEBAUTHN_LIMITS.minCeremonyTimeoutMs
      }..${WEBAUTHN_LIMITS.maxCeremonyTimeoutMs}`,
      'maxCeremonyTimeoutMs'
    )
  }
  return value
}

function checkText(value: string, field: string, max: number): void {
  if (typeof value !== 'string' || value.length === 0 || value.length > max) {
    throw new MalformedWebAuthnError(field, `must be text of 1..${max} characters`)
  }
}

interface AttestationStatementFacts {
  fmt: string
  authData: Uint8Array
  x5c: Uint8Array[] | undefined
}

function readAttestationObject(bytes: Uint8Array): AttestationStatementFacts {
  let fmt: unknown, authData: unknown, x5c: unknown
  try {
    const object = decodeAttestationObject(arrayBacked(bytes))
    fmt = object.get('fmt')
    authData = object.get('authData')
    x5c = object.get('attStmt').get('x5c')
  } catch (error) {
    throw new MalformedWebAuthnError('attestationObject', (error as Error).message)
  }
  if (typeof fmt !== 'string') throw new MalformedWebAuthnError('attestationObject.fmt', 'must be text')
  if (!(authData instanceof Uint8Array)) throw new MalformedWebAuthnError('attestationObject.authData', 'must be bytes')
  if (x5c === undefined) return { fmt, authData, x5c }
  if (
    !Array.isArray(x5c) ||
    x5c.length === 0 ||
    x5c.length > WEBAUTHN_LIMITS.maxAttestationCertificates ||
    !x5c.every((certificate) => certificate instanceof Uint8Array)
  ) {
    throw new MalformedWebAuthnError(
      'attestationObject.attStmt.x5c',
      `must be 1..${WEBAUTHN_LIMITS.maxAttestationCertificates} certificates`,
      'maxAttestationCertificates'
    )
  }
  return { fmt, authData, x5c: x5c as Uint8Array[] }
}

function readAttestedCredential(
  authData: Uint8Array,
  credentialId: Uint8Array
): { aaguid: string; publicKey: Uint8Array } {
  const parsed = parseAuthenticatorData(arrayBacked(authData))
  if (parsed.aaguid === undefined || parsed.credentialID === undefined || parsed.credentialPublicKey === undefined) {
    throw new MalformedWebAuthnError('attestationObject.authData', 'carries no attested credential data')
  }
  if (!bytesEqual(parsed.credentialID, credentialId)) {
    throw new MalformedWebAuthnError('credential.id', 'differs from the attested credential id')
  }
  checkSize(parsed.credentialPublicKey, 'credentialPublicKey', 1, WEBAUTHN_LIMITS.maxPublicKey, 'maxPublicKey')
  return { aaguid: convertAAGUIDToString(parsed.aaguid), publicKey: new Uint8Array(parsed.credentialPublicKey) }
}
