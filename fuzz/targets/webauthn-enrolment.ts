/**
 * Input: the attestation object of a registration response, put in place of the one in the
 * registration captured from Chromium (test/vectors/webauthn/chromium-registration.json) and
 * verified by verifyEnrolment for that registration's challenge and origin, accepting unproven
 * models so that the statement, its certificates and the policy are all reached.
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { isLoopbackOrigin, verifyEnrolment } from '../../src/webauthn/index.js'
import { typedAsync } from '../common.js'

/** The captured registration (this file runs as dist/fuzz/targets/webauthn-enrolment.js). */
export const CAPTURED_REGISTRATION = path.resolve(
  import.meta.dirname,
  '..',
  '..',
  '..',
  'test/vectors/webauthn/chromium-registration.json'
)

const CHALLENGE = new Uint8Array(32).fill(7)
let captured: { response: Record<string, unknown> } | undefined

export async function fuzz(data: Buffer): Promise<void> {
  captured ??= JSON.parse(readFileSync(CAPTURED_REGISTRATION, 'utf8')) as { response: Record<string, unknown> }
  const response = { ...captured, response: { ...captured.response, attestationObject: data.toString('base64url') } }
  await typedAsync(() =>
    verifyEnrolment(response, {
      expectedChallenge: CHALLENGE,
      origin: isLoopbackOrigin,
      rpId: 'localhost',
      allow: { allowNone: true }
    })
  )
}
