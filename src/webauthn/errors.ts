import { FleetError, MalformedInputError } from '../common/index.js'

/**
 * The refusals of the webauthn module, one class per condition. Each has a stable `name` (tests
 * match on it) and a `code`, and carries its evidence as fields: byte values as base64url (as
 * WebAuthn itself spells them), so a refusal can be logged or recorded as it is.
 */

/**
 * Thrown when a WebAuthn value cannot be decoded: a field missing or of the wrong kind, not
 * canonical base64url, outside its bound in WEBAUTHN_LIMITS (then `limit` names it), or JSON that
 * does not parse. `field` names the value. Exit code 2.
 */
export class MalformedWebAuthnError extends MalformedInputError {
  readonly field: string
  readonly reason: string
  readonly limit: string | undefined
  constructor(field: string, reason: string, limit?: string) {
    super(`WebAuthn ${field}: ${reason}`, { code: 'ERR_WEBAUTHN_MALFORMED' })
    this.field = field
    this.reason = reason
    this.limit = limit
  }
}

/** Thrown when clientDataJSON says another ceremony (`webauthn.create` where `webauthn.get` is due). */
export class ClientDataTypeError extends FleetError {
  readonly expected: string
  readonly received: string
  constructor(expected: string, received: string) {
    super(`the client data is of type "${received}", expected "${expected}"`, { code: 'ERR_WEBAUTHN_CLIENT_DATA_TYPE' })
    this.expected = expected
    this.received = received
  }
}

/**
 * Thrown when the signed challenge is not the one due: for an action, the assertion was made for
 * other signing bytes (an assertion replayed for another action); for an enrolment, for another
 * enrolment. Both challenges are base64url.
 */
export class ChallengeMismatchError extends FleetError {
  readonly expected: string
  readonly received: string
  constructor(expected: string, received: string) {
    super(`the signed challenge ${received} is not the expected ${expected}`, { code: 'ERR_WEBAUTHN_CHALLENGE' })
    this.expected = expected
    this.received = received
  }
}

/** Thrown when the origin in clientDataJSON is not an accepted one (the ceremony ran on another page). */
export class OriginMismatchError extends FleetError {
  readonly received: string
  readonly expected: readonly string[]
  constructor(received: string, expected: readonly string[]) {
    const wanted = expected.length === 0 ? 'the accepted origins' : expected.join(', ')
    super(`the ceremony ran on origin "${received}", not on ${wanted}`, { code: 'ERR_WEBAUTHN_ORIGIN' })
    this.received = received
    this.expected = expected
  }
}

/** Thrown when the ceremony ran in a frame embedded by another origin (`crossOrigin` or `topOrigin` set). */
export class CrossOriginCeremonyError extends FleetError {
  readonly topOrigin: string | undefined
  constructor(topOrigin: string | undefined) {
    super(`the ceremony ran in a cross-origin frame${topOrigin === undefined ? '' : ` of ${topOrigin}`}`, {
      code: 'ERR_WEBAUTHN_CROSS_ORIGIN'
    })
    this.topOrigin = topOrigin
  }
}

/** Thrown when authenticatorData's rpIdHash is not SHA-256 of the expected RP ID (`receivedHash` in hex). */
export class RpIdMismatchError extends FleetError {
  readonly expected: string
  readonly receivedHash: string
  constructor(expected: string, receivedHash: string) {
    super(`the authenticator data is for another relying party than "${expected}"`, { code: 'ERR_WEBAUTHN_RP_ID' })
    this.expected = expected
    this.receivedHash = receivedHash
  }
}

/** Thrown when the authenticator did not assert user presence (the UP flag is off): nobody touched the key. */
export class UserPresenceMissingError extends FleetError {
  readonly flags: number
  constructor(flags: number) {
    super(`the authenticator did not assert user presence (flags 0x${flags.toString(16).padStart(2, '0')})`, {
      code: 'ERR_WEBAUTHN_USER_PRESENCE'
    })
    this.flags = flags
  }
}

/** Thrown when user verification (PIN, biometric) is required and the UV flag is off. */
export class UserVerificationMissingError extends FleetError {
  readonly flags: number
  constructor(flags: number) {
    super(
      `user verification is required and the authenticator did not assert it (flags 0x${flags
        .toString(16)
        .padStart(2, '0')})`,
      { code: 'ERR_WEBAUTHN_USER_VERIFICATION' }
    )
    this.flags = flags
  }
}

/** Thrown when the assertion names a credential that is not the one enrolled for the actor. */
export class UnknownCredentialError extends FleetError {
  readonly credentialId: string
  readonly known: readonly string[]
  constructor(credentialId: string, known: readonly string[]) {
    super(`credential ${credentialId} is not enrolled for this actor`, { code: 'ERR_WEBAUTHN_UNKNOWN_CREDENTIAL' })
    this.credentialId = credentialId
    this.known = known
  }
}

/** Thrown when the assertion signature does not verify with the enrolled public key; `reason` says how. */
export class SignatureInvalidError extends FleetError {
  readonly credentialId: string
  readonly reason: string
  constructor(credentialId: string, reason: string, cause?: unknown) {
    super(`the assertion signature of credential ${credentialId} does not verify: ${reason}`, {
      code: 'ERR_WEBAUTHN_SIGNATURE',
      cause
    })
    this.credentialId = credentialId
    this.reason = reason
  }
}

/**
 * Thrown when a validly signed assertion carries a signature counter that does not grow: the
 * stored counter is non-zero and the new one is not greater (WebAuthn L3 §7.2 step 22). Two
 * devices may hold the same key; the caller records an alert with both counters.
 */
export class ClonedAuthenticatorError extends FleetError {
  readonly credentialId: string
  readonly storedCounter: number
  readonly receivedCounter: number
  constructor(credentialId: string, storedCounter: number, receivedCounter: number) {
    super(
      `credential ${credentialId} signed with counter ${receivedCounter} after ${storedCounter}: ` +
        'the authenticator may be cloned',
      { code: 'ERR_WEBAUTHN_CLONED_AUTHENTICATOR' }
    )
    this.credentialId = credentialId
    this.storedCounter = storedCounter
    this.receivedCounter = receivedCounter
  }
}

/** Thrown when an attestation statement does not verify (bad signature, malformed certificate, refused algorithm). */
export class AttestationInvalidError extends FleetError {
  readonly fmt: string
  readonly reason: string
  constructor(fmt: string, reason: string, cause?: unknown) {
    super(`the ${fmt} attestation does not verify: ${reason}`, { code: 'ERR_WEBAUTHN_ATTESTATION', cause })
    this.fmt = fmt
    this.reason = reason
  }
}

/**
 * Thrown when the authenticator proved nothing about its model — attestation `none`, or `self`
 * (packed, signed by the new credential's own key) — and the policy does not say `allowNone`.
 */
export class AttestationNotAllowedError extends FleetError {
  readonly fmt: string
  readonly kind: 'none' | 'self'
  constructor(fmt: string, kind: 'none' | 'self') {
    super(
      `${kind === 'none' ? 'no attestation' : `self attestation (${fmt})`} is not allowed: the authenticator's ` +
        'model is unproven',
      { code: 'ERR_WEBAUTHN_ATTESTATION_NOT_ALLOWED' }
    )
    this.fmt = fmt
    this.kind = kind
  }
}

/**
 * Thrown when an attestation certificate chain reaches none of the policy's roots, or the policy
 * names no roots. `subject` is the attestation certificate's subject.
 */
export class AttestationUntrustedError extends FleetError {
  readonly fmt: string
  readonly aaguid: string
  readonly subject: string
  readonly reason: string
  constructor(fmt: string, aaguid: string, subject: string, reason: string, cause?: unknown) {
    super(`the ${fmt} attestation of ${aaguid} (${subject}) is not trusted: ${reason}`, {
      code: 'ERR_WEBAUTHN_ATTESTATION_UNTRUSTED',
      cause
    })
    this.fmt = fmt
    this.aaguid = aaguid
    this.subject = subject
    this.reason = reason
  }
}

/** Thrown when the authenticator's AAGUID (its model) is not on the policy's allowlist. */
export class AaguidNotAllowedError extends FleetError {
  readonly aaguid: string
  readonly allowed: readonly string[]
  constructor(aaguid: string, allowed: readonly string[]) {
    super(`authenticator model ${aaguid} is not allowed`, { code: 'ERR_WEBAUTHN_AAGUID' })
    this.aaguid = aaguid
    this.allowed = allowed
  }
}

/**
 * Thrown when a request to the approval server names a Host other than its own loopback
 * host and port: a page on another name resolved to 127.0.0.1 (DNS rebinding). Refused with 403.
 */
export class HostRefusedError extends FleetError {
  readonly host: string
  constructor(host: string) {
    super(`requests for host "${host}" are refused`, { code: 'ERR_WEBAUTHN_HOST' })
    this.host = host
  }
}

/**
 * Thrown when a request to the approval server comes from a page of another origin (or a post
 * names none). Refused with 403.
 */
export class RequestOriginRefusedError extends FleetError {
  readonly origin: string
  constructor(origin: string) {
    super(`requests from origin "${origin}" are refused`, { code: 'ERR_WEBAUTHN_REQUEST_ORIGIN' })
    this.origin = origin
  }
}

/** Thrown when a request body is not `application/json`. Refused with 415. */
export class UnsupportedMediaTypeError extends FleetError {
  readonly contentType: string
  constructor(contentType: string) {
    super(`request bodies must be application/json, not "${contentType}"`, { code: 'ERR_WEBAUTHN_MEDIA_TYPE' })
    this.contentType = contentType
  }
}

/** Thrown when a request body passes its bound in APPROVAL_SERVER_LIMITS. Refused with 413. */
export class RequestTooLargeError extends FleetError {
  readonly limit: number
  constructor(limit: number) {
    super(`the request body is larger than ${limit} bytes`, { code: 'ERR_WEBAUTHN_REQUEST_TOO_LARGE' })
    this.limit = limit
  }
}

/** Thrown when an approval or enrolment names an id that is not pending (done, withdrawn, or never asked). */
export class NotPendingError extends FleetError {
  readonly kind: 'action' | 'enrolment'
  readonly id: string
  constructor(kind: 'action' | 'enrolment', id: string) {
    super(`no ${kind} "${id}" is pending`, { code: 'ERR_WEBAUTHN_NOT_PENDING' })
    this.kind = kind
    this.id = id
  }
}

/** Thrown when an approval or enrolment arrives while another for the same id is being verified. Refused with 409. */
export class AlreadyInProgressError extends FleetError {
  readonly kind: 'action' | 'enrolment'
  readonly id: string
  constructor(kind: 'action' | 'enrolment', id: string) {
    super(`the ${kind} "${id}" is already being answered`, { code: 'ERR_WEBAUTHN_IN_PROGRESS' })
    this.kind = kind
    this.id = id
  }
}
