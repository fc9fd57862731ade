import { MalformedWebAuthnError } from './errors.js'
import { checkSize } from './fields.js'
import { WEBAUTHN_LIMITS } from './limits.js'

/**
 * An actor's enrolled credential as a verifier needs it: its id, its public key (COSE_Key bytes
 * as the authenticator attested them) and the last signature counter recorded for it.
 */
export interface StoredCredential {
  readonly credentialId: Uint8Array
  readonly publicKey: Uint8Array
  readonly counter: number
}

/** The largest signature counter (a 32-bit unsigned field of authenticatorData). */
export const MAX_COUNTER = 0xffffffff

/** Checks a stored credential's bounds before it is used (it may come from a store or a peer). */
export function checkStoredCredential(credential: StoredCredential): void {
  checkSize(
    credential.credentialId,
    'credential.credentialId',
    WEBAUTHN_LIMITS.minCredentialId,
    WEBAUTHN_LIMITS.maxCredentialId,
    'maxCredentialId'
  )
  checkSize(credential.publicKey, 'credential.publicKey', 1, WEBAUTHN_LIMITS.maxPublicKey, 'maxPublicKey')
  if (!Number.isInteger(credential.counter) || credential.counter < 0 || credential.counter > MAX_COUNTER) {
    throw new MalformedWebAuthnError('credential.counter', `${credential.counter} is not a 32-bit unsigned counter`)
  }
}
