import { verifyAuthenticationResponse } from '@simplewebauthn/server'
import { checkNotAborted } from './abort.js'
import { bytesEqual, sha256, toBase64url } from '../common/index.js'
import { checkAuthenticatorDataHead, FLAG, parseAuthenticatorDataHead } from './authenticator-data.js'
import { checkClientData, parseClientData, type OriginRule } from './client-data.js'
import { checkStoredCredential, type StoredCredential } from './credential.js'
import { ClonedAuthenticatorError, SignatureInvalidError, UnknownCredentialError } from './errors.js'
import { arrayBacked, checkSize } from './fields.js'
import { WEBAUTHN_LIMITS } from './limits.js'
import { checkStoredAssertion, type StoredAssertion } from './stored-assertion.js'

/**
 * The challenge of an action's assertion: SHA-256 of the action's signing bytes. The key thereby
 * signs (a hash of) exactly this action, and an assertion made for one action fails the
 * challenge check of any other.
 */
export function actionChallenge(signingBytes: Uint8Array): Uint8Array {
  return sha256(signingBytes)
}

/** An assertion as received or read back from storage, with the id of the credential that made it. */
export interface AssertionInput extends StoredAssertion {
  readonly credentialId: Uint8Array
}

/** What an action's assertion must show. */
export interface ActionAssertionExpectations {
  /** The action's signing bytes: the challenge must be their SHA-256. */
  readonly signingBytes: Uint8Array
  /** The actor's enrolled credential, with the counter last recorded for it. */
  readonly credential: StoredCredential
  /** Where the approval page may have run (see isLoopbackOrigin for the loopback server's pages). */
  readonly origin: OriginRule
  readonly rpId: string
  /** Refuse an assertion without the UV flag (the key checked no PIN or biometric). */
  readonly requireUserVerification: boolean
}

/** A verified action assertion. */
export interface VerifiedActionAssertion {
  /** The counter to record for the credential (0 when the authenticator keeps none). */
  readonly newCounter: number
  readonly userVerified: boolean
  /** The origin the approval page ran on. */
  readonly origin: string
}

/**
 * Verifies that the actor's key approved exactly this action: the assertion is bounded and names
 * the enrolled credential (UnknownCredentialError), is a `webauthn.get` over SHA-256 of
 * `signingBytes` (ChallengeMismatchError: made for another action), ran on an accepted origin
 * outside any cross-origin frame, is for the RP ID, has the UP flag and, when required, the UV
 * flag, and its signature verifies with the enrolled key (SignatureInvalidError). Only then is
 * the counter judged: when the stored counter is non-zero the new one MUST be greater, else
 * ClonedAuthenticatorError with both counters (the caller records an alert).
 *
 * The same call re-verifies a stored assertion later (decodeStoredAssertion gives its bytes); a
 * peer then passes the counter recorded before it, or 0 to check everything but the counter.
 */
export async function verifyActionAssertion(
  assertion: AssertionInput,
  expected: ActionAssertionExpectations,
  options: { signal?: AbortSignal } = {}
): Promise<VerifiedActionAssertion> {
  checkNotAborted(options.signal)
  checkStoredAssertion(assertion)
  checkSize(
    assertion.credentialId,
    'credentialId',
    WEBAUTHN_LIMITS.minCredentialId,
    WEBAUTHN_LIMITS.maxCredentialId,
    'maxCredentialId'
  )
  checkStoredCredential(expected.credential)
  const credentialId = toBase64url(assertion.credentialId)
  if (!bytesEqual(assertion.credentialId, expected.credential.credentialId)) {
    throw new UnknownCredentialError(credentialId, [toBase64url(expected.credential.credentialId)])
  }
  const challenge = actionChallenge(expected.signingBytes)
  const clientData = parseClientData(assertion.clientDataJSON)
  checkClientData(clientData, { type: 'webauthn.get', challenge, origin: expected.origin })
  const head = parseAuthenticatorDataHead(assertion.authenticatorData)
  checkAuthenticatorDataHead(head, expected)

  let verified: boolean
  try {
    const result = await verifyAuthenticationResponse({
      response: {
        id: credentialId,
        rawId: credentialId,
        type: 'public-key',
        response: {
          clientDataJSON: toBase64url(assertion.clientDataJSON),
          authenticatorData: toBase64url(assertion.authenticatorData),
          signature: toBase64url(assertion.signature)
        },
        clientExtensionResults: {}
      },
      expectedChallenge: toBase64url(challenge),
      expectedOrigin: clientData.origin,
      expectedRPID: expected.rpId,
      // The counter is judged below, once the signature is known to be genuine: a forged
      // assertion must not raise a cloning alert.
      credential: { id: credentialId, publicKey: arrayBacked(expected.credential.publicKey), counter: 0 },
      requireUserVerification: expected.requireUserVerification
    })
    verified = result.verified
  } catch (error) {
    throw new SignatureInvalidError(credentialId, (error as Error).message, error)
  }
  if (!verified) throw new SignatureInvalidError(credentialId, 'it does not verify with the enrolled public key')
  checkNotAborted(options.signal)

  const stored = expected.credential.counter
  if (stored !== 0 && head.counter <= stored) throw new ClonedAuthenticatorError(credentialId, stored, head.counter)
  return {
    newCounter: head.counter,
    userVerified: (head.flags & FLAG.userVerified) !== 0,
    origin: clientData.origin
  }
}
