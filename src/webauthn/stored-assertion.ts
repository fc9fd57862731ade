import { decodeRecord, encodeCanonical } from '../codec/index.js'
import { checkSize } from './fields.js'
import { WEBAUTHN_LIMITS } from './limits.js'

/**
 * An assertion as it is kept: the three byte strings the authenticator's signature covers or is,
 * exactly as the browser returned them, so that any peer can verify it again later. Which
 * credential made it is recorded by the caller beside it (the actor's enrolled credential).
 */
export interface StoredAssertion {
  readonly authenticatorData: Uint8Array
  readonly clientDataJSON: Uint8Array
  readonly signature: Uint8Array
}

/**
 * The stored form, canonical CBOR: a map { v: 1, authenticatorData, clientDataJSON, signature }.
 * FROZEN: ledger entries embed these bytes. Do NOT rename, reorder or retype a field; a change is
 * a new `v` with its own schema.
 */
const STORED_ASSERTION_V1 = {
  v: { kind: 'uint', min: 1, max: 1 },
  authenticatorData: { kind: 'bytes', max: WEBAUTHN_LIMITS.maxAuthenticatorData },
  clientDataJSON: { kind: 'bytes', max: WEBAUTHN_LIMITS.maxClientDataJSON },
  signature: { kind: 'bytes', max: WEBAUTHN_LIMITS.maxSignature }
} as const

/** The stored form of an assertion (checked against the same bounds the decoder applies). */
export function encodeStoredAssertion(assertion: StoredAssertion): Uint8Array {
  checkStoredAssertion(assertion)
  return encodeCanonical({
    v: 1,
    authenticatorData: assertion.authenticatorData,
    clientDataJSON: assertion.clientDataJSON,
    signature: assertion.signature
  })
}

/**
 * Strict decoder of the stored form: canonical CBOR within WEBAUTHN_LIMITS.maxStoredAssertion,
 * exactly the four fields, each within its bound (MalformedCborError, a SchemaError or
 * MalformedWebAuthnError otherwise). Decoding is not verification: feed the result, with the
 * credential id recorded beside it, to verifyActionAssertion.
 */
export function decodeStoredAssertion(bytes: Uint8Array): StoredAssertion {
  const record = decodeRecord(bytes, STORED_ASSERTION_V1, { maxBytes: WEBAUTHN_LIMITS.maxStoredAssertion })
  const assertion = {
    authenticatorData: record.authenticatorData,
    clientDataJSON: record.clientDataJSON,
    signature: record.signature
  }
  checkStoredAssertion(assertion)
  return assertion
}

/** The bounds every form of an assertion meets before anything reads it. */
export function checkStoredAssertion(assertion: StoredAssertion): void {
  checkSize(
    assertion.authenticatorData,
    'authenticatorData',
    WEBAUTHN_LIMITS.minAuthenticatorData,
    WEBAUTHN_LIMITS.maxAuthenticatorData,
    'maxAuthenticatorData'
  )
  checkSize(assertion.clientDataJSON, 'clientDataJSON', 1, WEBAUTHN_LIMITS.maxClientDataJSON, 'maxClientDataJSON')
  checkSize(assertion.signature, 'signature', 1, WEBAUTHN_LIMITS.maxSignature, 'maxSignature')
}
