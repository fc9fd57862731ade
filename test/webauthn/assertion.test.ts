import assert from 'node:assert/strict'
import { toBase64url } from '../../src/common/index.js'
import {
  actionChallenge,
  decodeStoredAssertion,
  encodeStoredAssertion,
  isLoopbackOrigin,
  verifyActionAssertion,
  type ActionAssertionExpectations,
  type AssertionInput
} from '../../src/webauthn/index.js'
import { FLAGS, SoftwareAuthenticator } from '../helpers/software-authenticator.js'

const ORIGIN = 'http://localhost:8443'
const RP_ID = 'localhost'
const encoder = new TextEncoder()

describe('webauthn/assertion', () => {
  const signingBytes = encoder.encode('action A: revoke device d-42')
  const otherBytes = encoder.encode('action B: enrol device d-43')
  let key: SoftwareAuthenticator
  let expected: ActionAssertionExpectations

  beforeEach(() => {
    key = new SoftwareAuthenticator()
    expected = {
      signingBytes,
      credential: { credentialId: key.credentialId, publicKey: key.publicKey, counter: 0 },
      origin: ORIGIN,
      rpId: RP_ID,
      requireUserVerification: true
    }
  })

  type Choice = Partial<Parameters<SoftwareAuthenticator['assert']>[0]>
  const assertionFor = (bytes: Uint8Array, more: Choice = {}): AssertionInput =>
    key.assert({ challenge: actionChallenge(bytes), origin: ORIGIN, rpId: RP_ID, ...more })

  it('the challenge is SHA-256 of the signing bytes', () => {
    assert.equal(toBase64url(actionChallenge(encoder.encode('abc'))), 'ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0')
  })

  it('verifies an assertion over the action and returns the new counter', async () => {
    const verified = await verifyActionAssertion(assertionFor(signingBytes), expected)
    assert.deepEqual(verified, { newCounter: 1, userVerified: true, origin: ORIGIN })
  })

  it('re-verifies the stored form later, as a peer would', async () => {
    const assertion = assertionFor(signingBytes, { counter: 7 })
    const stored = encodeStoredAssertion(assertion)
    const again = { ...decodeStoredAssertion(stored), credentialId: key.credentialId }
    const verified = await verifyActionAssertion(again, { ...expected, origin: isLoopbackOrigin })
    assert.equal(verified.newCounter, 7)
  })

  it('refuses an assertion replayed for another action (the challenge is of other signing bytes)', async () => {
    await assert.rejects(
      verifyActionAssertion(assertionFor(signingBytes), { ...expected, signingBytes: otherBytes }),
      (error: Error & { expected?: string; received?: string }) =>
        error.name === 'ChallengeMismatchError' &&
        error.expected === toBase64url(actionChallenge(otherBytes)) &&
        error.received === toBase64url(actionChallenge(signingBytes))
    )
  })

  it('refuses an assertion without user presence', async () => {
    await assert.rejects(
      verifyActionAssertion(assertionFor(signingBytes, { flags: FLAGS.uv }), expected),
      (error: Error & { flags?: number }) => error.name === 'UserPresenceMissingError' && error.flags === FLAGS.uv
    )
  })

  it('refuses an assertion without user verification when it is required, and only then', async () => {
    await assert.rejects(verifyActionAssertion(assertionFor(signingBytes, { flags: FLAGS.up }), expected), {
      name: 'UserVerificationMissingError'
    })
    const verified = await verifyActionAssertion(assertionFor(signingBytes, { flags: FLAGS.up }), {
      ...expected,
      requireUserVerification: false
    })
    assert.equal(verified.userVerified, false)
  })

  it('refuses another origin, another RP ID, a cross-origin frame and another ceremony type', async () => {
    const elsewhere = assertionFor(signingBytes, { origin: 'http://localhost:9999' })
    await assert.rejects(
      verifyActionAssertion(elsewhere, expected),
      (error: Error & { received?: string }) =>
        error.name === 'OriginMismatchError' && error.received === 'http://localhost:9999'
    )
    await assert.rejects(
      verifyActionAssertion(assertionFor(signingBytes, { rpId: 'evil.example' }), expected),
      (error: Error & { expected?: string }) => error.name === 'RpIdMismatchError' && error.expected === RP_ID
    )
    await assert.rejects(
      verifyActionAssertion(
        assertionFor(signingBytes, {
          clientData: { crossOrigin: true, topOrigin: 'https://evil.example' }
        }),
        expected
      ),
      (error: Error & { topOrigin?: string }) =>
        error.name === 'CrossOriginCeremonyError' && error.topOrigin === 'https://evil.example'
    )
    await assert.rejects(verifyActionAssertion(assertionFor(signingBytes, { type: 'webauthn.create' }), expected), {
      name: 'ClientDataTypeError'
    })
  })

  it('isLoopbackOrigin accepts localhost on any port and nothing else', () => {
    assert.ok(isLoopbackOrigin('http://localhost:1') && isLoopbackOrigin('http://localhost:65535'))
    for (const origin of [
      'http://127.0.0.1:80',
      'https://localhost:443',
      'http://localhost',
      'http://localhost:65536',
      'http://localhost:80/',
      'http://localhost.evil.example:80',
      'http://localhost:080'
    ]) {
      assert.equal(isLoopbackOrigin(origin), false, origin)
    }
  })

  it('refuses a signature that does not verify with the enrolled key', async () => {
    const assertion = assertionFor(signingBytes)
    const flipped = new Uint8Array(assertion.signature)
    flipped[flipped.length - 1]! ^= 1
    await assert.rejects(verifyActionAssertion({ ...assertion, signature: flipped }, expected), {
      name: 'SignatureInvalidError'
    })
    const impostor = new SoftwareAuthenticator({ credentialId: key.credentialId })
    await assert.rejects(
      verifyActionAssertion(
        impostor.assert({
          challenge: actionChallenge(signingBytes),
          origin: ORIGIN,
          rpId: RP_ID
        }),
        expected
      ),
      { name: 'SignatureInvalidError' }
    )
  })

  it('refuses an assertion by a credential that is not the enrolled one', async () => {
    const other = new SoftwareAuthenticator()
    await assert.rejects(
      verifyActionAssertion(
        other.assert({
          challenge: actionChallenge(signingBytes),
          origin: ORIGIN,
          rpId: RP_ID
        }),
        expected
      ),
      (error: Error & { credentialId?: string }) =>
        error.name === 'UnknownCredentialError' && error.credentialId === toBase64url(other.credentialId)
    )
  })

  it('refuses a counter that did not grow, with both counters, once the signature verified', async () => {
    const stored = { ...expected, credential: { ...expected.credential, counter: 5 } }
    for (const counter of [5, 3, 0]) {
      await assert.rejects(
        verifyActionAssertion(assertionFor(signingBytes, { counter }), stored),
        (error: Error & { storedCounter?: number; receivedCounter?: number }) =>
          error.name === 'ClonedAuthenticatorError' && error.storedCounter === 5 && error.receivedCounter === counter
      )
    }
    assert.equal((await verifyActionAssertion(assertionFor(signingBytes, { counter: 6 }), stored)).newCounter, 6)
    // An authenticator that keeps no counter (0 and 0) is not a clone.
    assert.equal((await verifyActionAssertion(assertionFor(signingBytes, { counter: 0 }), expected)).newCounter, 0)
    // A forged assertion with a low counter is a bad signature, not a cloning alert.
    const forged = assertionFor(signingBytes, { counter: 1 })
    await assert.rejects(verifyActionAssertion({ ...forged, signature: Uint8Array.of(0x30, 0) }, stored), {
      name: 'SignatureInvalidError'
    })
  })

  it('refuses malformed parts before reading them', async () => {
    const assertion = assertionFor(signingBytes)
    const refusal = (limit?: string) => (error: Error & { limit?: string }) =>
      error.name === 'MalformedWebAuthnError' && error.limit === limit
    await assert.rejects(
      verifyActionAssertion({ ...assertion, clientDataJSON: new Uint8Array(1025) }, expected),
      refusal('maxClientDataJSON')
    )
    await assert.rejects(
      verifyActionAssertion({ ...assertion, clientDataJSON: encoder.encode('[1]') }, expected),
      refusal(undefined)
    )
    await assert.rejects(
      verifyActionAssertion({ ...assertion, clientDataJSON: Uint8Array.of(0xff, 0xfe) }, expected),
      refusal(undefined)
    )
    const short = assertion.authenticatorData.subarray(1)
    await assert.rejects(
      verifyActionAssertion({ ...assertion, authenticatorData: short }, expected),
      refusal('maxAuthenticatorData')
    )
    await assert.rejects(
      verifyActionAssertion(
        {
          ...assertion,
          authenticatorData: Uint8Array.of(...assertion.authenticatorData, 0)
        },
        expected
      ),
      refusal(undefined)
    )
    await assert.rejects(
      verifyActionAssertion({ ...assertion, credentialId: new Uint8Array(8) }, expected),
      refusal('maxCredentialId')
    )
  })

  it('stops when its signal has aborted', async () => {
    const controller = new AbortController()
    controller.abort()
    await assert.rejects(verifyActionAssertion(assertionFor(signingBytes), expected, { signal: controller.signal }), {
      name: 'AbortedError'
    })
  })
})
