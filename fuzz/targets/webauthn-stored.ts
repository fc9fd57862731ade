/**
 * Input: the stored form of a WebAuthn assertion, decoded (decodeStoredAssertion), then its client
 * data and authenticator data read as a verifier reads them.
 */
import { decodeStoredAssertion } from '../../src/webauthn/index.js'
import { parseAuthenticatorDataHead } from '../../src/webauthn/authenticator-data.js'
import { parseClientData } from '../../src/webauthn/client-data.js'
import { bytes, typed } from '../common.js'

export function fuzz(data: Buffer): void {
  typed(() => {
    const assertion = decodeStoredAssertion(bytes(data))
    parseClientData(assertion.clientDataJSON)
    parseAuthenticatorDataHead(assertion.authenticatorData)
  })
}
