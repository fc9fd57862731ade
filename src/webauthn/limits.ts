/**
 * Every bound of the webauthn module. Each input is measured against its bound before it is
 * decoded, so a hostile page or a corrupt store cannot make a verifier allocate or parse more.
 */
export const WEBAUTHN_LIMITS = {
  /** clientDataJSON, bytes: browsers send 100–250; an origin of 253 characters still fits. */
  maxClientDataJSON: 1024,
  /** An assertion's authenticatorData, bytes: 37 plus extension outputs (hmac-secret is 80). */
  maxAuthenticatorData: 1024,
  /** The smallest authenticatorData: rpIdHash (32), flags (1), signCount (4). */
  minAuthenticatorData: 37,
  /** An assertion signature, bytes: RSA-4096 (512); ES256 DER is at most 72, Ed25519 64. */
  maxSignature: 512,
  /** A credential id, bytes (WebAuthn L3 §6.1: at most 1023). */
  maxCredentialId: 1023,
  /** The smallest credential id a verifier accepts, bytes (L3 asks for 16 bytes of entropy). */
  minCredentialId: 16,
  /** An attestation object, bytes: a TPM or Android chain of 3–4 certificates is 4–6 KiB. */
  maxAttestationObject: 16 * 1024,
  /** Certificates in an attestation statement's x5c. */
  maxAttestationCertificates: 5,
  /** A credential public key (COSE_Key), bytes: RSA-4096 is about 550, P-256 77. */
  maxPublicKey: 1024,
  /** The encoded stored form of an assertion (three byte strings and their keys). */
  maxStoredAssertion: 4096,
  /** An enrolment challenge, bytes (L3 asks for at least 16 random bytes). */
  minEnrolmentChallenge: 16,
  maxEnrolmentChallenge: 64,
  /** An actor id as the authenticator stores it for display (user.name), UTF-16 code units. */
  maxActorId: 128,
  /** A relying party's display name. */
  maxRpName: 64,
  /** A relying party id (a DNS name). */
  maxRpId: 253,
  /** Transports a registration response may list, and the length of each. */
  maxTransports: 8,
  maxTransportName: 32,
  /** How long a browser ceremony may wait for the key, milliseconds (default, least, most). */
  defaultCeremonyTimeoutMs: 120_000,
  minCeremonyTimeoutMs: 100,
  maxCeremonyTimeoutMs: 600_000
} as const

/** Bounds of the loopback approval server. */
export const APPROVAL_SERVER_LIMITS = {
  /** JSON body of an approval: base64url of the bounds above (about 6.2 KiB) and its keys. */
  maxApprovalBody: 16 * 1024,
  /** JSON body of an enrolment: the attestation object in base64url dominates (about 22 KiB). */
  maxEnrolmentBody: 32 * 1024,
  /** All request headers together, bytes. */
  maxHeaderBytes: 8 * 1024,
  /** A request must arrive whole within this, milliseconds. */
  requestTimeoutMs: 10_000,
  /** An idle keep-alive connection is closed after this, milliseconds. */
  keepAliveTimeoutMs: 5_000,
  /** Pending actions (and enrolments) one page lists; the rest wait for the next page load. */
  maxListed: 100,
  /** A pending action's or enrolment's id: the page posts it back. */
  maxItemId: 128
} as const
