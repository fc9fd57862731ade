import { parseAuthenticatorData } from '@simplewebauthn/server/helpers'
import { bytesEqual, sha256, toHex } from '../common/index.js'
import {
  MalformedWebAuthnError,
  RpIdMismatchError,
  UserPresenceMissingError,
  UserVerificationMissingError
} from './errors.js'
import { arrayBacked } from './fields.js'
import { WEBAUTHN_LIMITS } from './limits.js'

/** The authenticatorData flags (WebAuthn L3 §6.1) a verifier acts on. */
export const FLAG = { userPresent: 0x01, userVerified: 0x04, attestedCredentialData: 0x40 } as const

/** The fixed head of authenticatorData: what the key says about the ceremony. */
export interface AuthenticatorDataHead {
  readonly rpIdHash: Uint8Array
  readonly flags: number
  /** The signature counter (0 when the authenticator keeps none). */
  readonly counter: number
}

/**
 * Strict decoder of authenticatorData: at least the 37-byte head and at most `max` bytes, and
 * what follows the head (attested credential data, extensions) must parse to the last byte.
 */
export function parseAuthenticatorDataHead(
  bytes: Uint8Array,
  max: number = WEBAUTHN_LIMITS.maxAuthenticatorData
): AuthenticatorDataHead {
  if (bytes.length < WEBAUTHN_LIMITS.minAuthenticatorData || bytes.length > max) {
    throw new MalformedWebAuthnError(
      'authenticatorData',
      `is ${bytes.length} bytes, not within ${WEBAUTHN_LIMITS.minAuthenticatorData}..${max}`,
      'maxAuthenticatorData'
    )
  }
  try {
    // A copy: the parser may patch a byte of a known Firefox encoding bug in place while it reads.
    parseAuthenticatorData(arrayBacked(bytes))
  } catch (error) {
    throw new MalformedWebAuthnError('authenticatorData', (error as Error).message)
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return { rpIdHash: bytes.subarray(0, 32), flags: view.getUint8(32), counter: view.getUint32(33) }
}

/**
 * Checks the head against what is due: the RP ID's hash, user presence always, and user
 * verification when required.
 */
export function checkAuthenticatorDataHead(
  head: AuthenticatorDataHead,
  expected: { rpId: string; requireUserVerification: boolean }
): void {
  if (!bytesEqual(head.rpIdHash, sha256(expected.rpId))) {
    throw new RpIdMismatchError(expected.rpId, toHex(head.rpIdHash))
  }
  if ((head.flags & FLAG.userPresent) === 0) throw new UserPresenceMissingError(head.flags)
  if (expected.requireUserVerification && (head.flags & FLAG.userVerified) === 0) {
    throw new UserVerificationMissingError(head.flags)
  }
}
