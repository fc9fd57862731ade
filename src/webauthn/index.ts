/**
 * FIDO2/WebAuthn actor keys: an actor enrols a hardware security key once, then approves each
 * operator action with it. The approval is a WebAuthn assertion whose challenge is SHA-256 of the
 * action's signing bytes, so the key signs exactly that action; its stored form lets any peer
 * verify it again later. All WebAuthn verification is @simplewebauthn/server's; this module
 * decodes strictly and within WEBAUTHN_LIMITS first, checks every condition itself to refuse with
 * a typed error carrying evidence, and applies the attestation policy.
 *
 * - Enrolment: registrationOptions gives the options for navigator.credentials.create();
 *   verifyEnrolment checks the response and the AttestationPolicy (by default nothing unproven:
 *   the attestation chain must reach a named root; `none` and self attestation need allowNone;
 *   `aaguids` is the allowlist of models) and returns the EnrolledCredential to record.
 * - Approval: actionChallenge(signingBytes) is the challenge; verifyActionAssertion refuses an
 *   assertion made for other signing bytes (replayed for another action), without user presence,
 *   without user verification when required, from another origin or RP ID, with an invalid
 *   signature, by another credential, or with a counter that did not grow
 *   (ClonedAuthenticatorError: the caller records an alert). It returns the new counter.
 * - Storage: encodeStoredAssertion / decodeStoredAssertion (strict, bounded, canonical CBOR).
 * - Pages: startApprovalServer serves, on 127.0.0.1 only, a page listing the pending actions in
 *   plain words and one JSON endpoint that verifies each approval before onAssertion hears of
 *   it (and, with `enrolment`, the same pair for enrolling). It refuses other Host headers (DNS
 *   rebinding), other origins, bodies that are not JSON or too large; no CORS; a strict CSP.
 *
 * Browsers run WebAuthn over plain http only on `localhost`: the pages live at
 * http://localhost:PORT/ and the RP ID is `localhost` (127.0.0.1 is refused as an RP ID).
 *
 * @example
 * const server = await startApprovalServer({
 *   port: 0, rpId: 'localhost',
 *   pending: () => [{ id: 'a1', type: 'device.revoke', actor: 'alice', body: { device: 'd-42' },
 *     signingBytes, credential: alice.credential }],
 *   onAssertion: async ({ action, stored, newCounter }) => { await ledger.record(action, stored, newCounter) },
 *   onRefusal: ({ error }) => { if (error instanceof ClonedAuthenticatorError) alert(error) }
 * })
 * // later, a peer re-verifies what the ledger kept:
 * await verifyActionAssertion({ ...decodeStoredAssertion(stored), credentialId }, {
 *   signingBytes, credential: { credentialId, publicKey, counter: 0 }, origin: isLoopbackOrigin,
 *   rpId: 'localhost', requireUserVerification: true
 * })
 */
export { registrationOptions, verifyEnrolment, SUPPORTED_ALGORITHMS } from './enrolment.js'
export type { RegistrationOptionsInit, EnrolmentExpectations, EnrolledCredential } from './enrolment.js'
export type { AttestationPolicy, AttestationSummary } from './attestation-policy.js'
export { actionChallenge, verifyActionAssertion } from './assertion.js'
export type { AssertionInput, ActionAssertionExpectations, VerifiedActionAssertion } from './assertion.js'
export type { StoredCredential } from './credential.js'
export { encodeStoredAssertion, decodeStoredAssertion } from './stored-assertion.js'
export type { StoredAssertion } from './stored-assertion.js'
export { decodeRegistrationResponse, decodeAuthenticationResponse } from './response-json.js'
export { isLoopbackOrigin } from './client-data.js'
export type { OriginRule } from './client-data.js'
export { startApprovalServer } from './approval-server.js'
export type {
  ApprovalServer,
  ApprovalServerInit,
  PendingAction,
  PendingEnrolment,
  Approval,
  Refusal
} from './approval-server.js'
export { WEBAUTHN_LIMITS, APPROVAL_SERVER_LIMITS } from './limits.js'
export {
  MalformedWebAuthnError,
  ClientDataTypeError,
  ChallengeMismatchError,
  OriginMismatchError,
  CrossOriginCeremonyError,
  RpIdMismatchError,
  UserPresenceMissingError,
  UserVerificationMissingError,
  UnknownCredentialError,
  SignatureInvalidError,
  ClonedAuthenticatorError,
  AttestationInvalidError,
  AttestationNotAllowedError,
  AttestationUntrustedError,
  AaguidNotAllowedError,
  HostRefusedError,
  RequestOriginRefusedError,
  UnsupportedMediaTypeError,
  RequestTooLargeError,
  NotPendingError,
  AlreadyInProgressError
} from './errors.js'
/** The loopback servers' request guards and answers (also the agent's console). */
export { checkHost, checkJsonContentType, checkRequestOrigin, ownHosts, readJsonBody } from './request-guard.js'
export { secureHeaders, sendJson, statusOf } from './http-answers.js'
export { startLoopbackServer, type LoopbackServer } from './loopback-server.js'
