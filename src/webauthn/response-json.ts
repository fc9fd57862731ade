import type { RegistrationResponseJSON } from '@simplewebauthn/server'
import type { AssertionInput } from './assertion.js'
import { MalformedWebAuthnError } from './errors.js'
import { decodeBase64urlField, jsonObject, onlyMembers } from './fields.js'
import { WEBAUTHN_LIMITS } from './limits.js'

/**
 * Strict decoders of the JSON forms of credentials (WebAuthn L3 §5.1.8, what
 * PublicKeyCredential.toJSON() returns): every member named, every byte string canonical
 * base64url within its bound, `id` the same as `rawId`, `type` "public-key".
 */

const CREDENTIAL_MEMBERS = ['id', 'rawId', 'type', 'response', 'authenticatorAttachment', 'clientExtensionResults']
const ATTESTATION_MEMBERS = [
  'clientDataJSON',
  'attestationObject',
  'authenticatorData',
  'transports',
  'publicKeyAlgorithm',
  'publicKey'
]
const ASSERTION_MEMBERS = ['clientDataJSON', 'authenticatorData', 'signature', 'userHandle']

const CREDENTIAL_ID = {
  min: WEBAUTHN_LIMITS.minCredentialId,
  max: WEBAUTHN_LIMITS.maxCredentialId,
  limit: 'maxCredentialId'
}
const CLIENT_DATA = { min: 1, max: WEBAUTHN_LIMITS.maxClientDataJSON, limit: 'maxClientDataJSON' }

/** A registration response, decoded: its bytes, and the same response as the library reads it. */
export interface DecodedRegistrationResponse {
  readonly credentialId: Uint8Array
  readonly clientDataJSON: Uint8Array
  readonly attestationObject: Uint8Array
  readonly transports: string[]
  readonly json: RegistrationResponseJSON
}

function credentialEnvelope(
  value: unknown,
  field: string,
  members: readonly string[]
): {
  credentialId: Uint8Array
  id: string
  response: Record<string, unknown>
} {
  const credential = jsonObject(value, field)
  onlyMembers(credential, field, CREDENTIAL_MEMBERS)
  const credentialId = decodeBase64urlField(credential.id, `${field}.id`, CREDENTIAL_ID)
  if (credential.rawId !== credential.id) throw new MalformedWebAuthnError(`${field}.rawId`, 'differs from id')
  if (credential.type !== 'public-key') throw new MalformedWebAuthnError(`${field}.type`, 'must be "public-key"')
  if (credential.clientExtensionResults !== undefined) {
    jsonObject(credential.clientExtensionResults, `${field}.clientExtensionResults`)
  }
  const attachment = credential.authenticatorAttachment
  if (attachment !== undefined && attachment !== null && attachment !== 'platform' && attachment !== 'cross-platform') {
    throw new MalformedWebAuthnError(`${field}.authenticatorAttachment`, 'must be "platform" or "cross-platform"')
  }
  const response = jsonObject(credential.response, `${field}.response`)
  onlyMembers(response, `${field}.response`, members)
  return { credentialId, id: credential.id as string, response }
}

/** Strict decoder of a registration response (navigator.credentials.create(...).toJSON()). */
export function decodeRegistrationResponse(value: unknown, field = 'credential'): DecodedRegistrationResponse {
  const { credentialId, id, response } = credentialEnvelope(value, field, ATTESTATION_MEMBERS)
  const clientDataJSON = decodeBase64urlField(response.clientDataJSON, `${field}.response.clientDataJSON`, CLIENT_DATA)
  const attestationObject = decodeBase64urlField(response.attestationObject, `${field}.response.attestationObject`, {
    min: 1,
    max: WEBAUTHN_LIMITS.maxAttestationObject,
    limit: 'maxAttestationObject'
  })
  const transports = decodeTransports(response.transports, `${field}.response.transports`)
  return {
    credentialId,
    clientDataJSON,
    attestationObject,
    transports,
    json: {
      id,
      rawId: id,
      type: 'public-key',
      response: {
        clientDataJSON: response.clientDataJSON as string,
        attestationObject: response.attestationObject as string,
        transports
      },
      clientExtensionResults: {}
    }
  }
}

/** Strict decoder of an authentication response (navigator.credentials.get(...).toJSON()). */
export function decodeAuthenticationResponse(value: unknown, field = 'credential'): AssertionInput {
  const { credentialId, response } = credentialEnvelope(value, field, ASSERTION_MEMBERS)
  if (response.userHandle !== undefined && response.userHandle !== null) {
    decodeBase64urlField(response.userHandle, `${field}.response.userHandle`, { min: 0, max: 64, limit: 'userHandle' })
  }
  return {
    credentialId,
    clientDataJSON: decodeBase64urlField(response.clientDataJSON, `${field}.response.clientDataJSON`, CLIENT_DATA),
    authenticatorData: decodeBase64urlField(response.authenticatorData, `${field}.response.authenticatorData`, {
      min: WEBAUTHN_LIMITS.minAuthenticatorData,
      max: WEBAUTHN_LIMITS.maxAuthenticatorData,
      limit: 'maxAuthenticatorData'
    }),
    signature: decodeBase64urlField(response.signature, `${field}.response.signature`, {
      min: 1,
      max: WEBAUTHN_LIMITS.maxSignature,
      limit: 'maxSignature'
    })
  }
}

function decodeTransports(value: unknown, field: string): string[] {
  if (value === undefined) return []
  if (!Array.isArray(value) || value.length > WEBAUTHN_LIMITS.maxTransports) {
    throw new MalformedWebAuthnError(
      field,
      `must be a list of at most ${WEBAUTHN_LIMITS.maxTransports}`,
      'maxTransports'
    )
  }
  for (const transport of value) {
    const max = WEBAUTHN_LIMITS.maxTransportName
    if (typeof transport !== 'string' || transport.length === 0 || transport.length > max) {
      throw new MalformedWebAuthnError(field, `items must be names of 1..${max} characters`, 'maxTransportName')
    }
  }
  return value as string[]
}
