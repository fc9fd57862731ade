import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { projectRoot, sha256, toBase64url } from '../../src/common/index.js'
import {
  isLoopbackOrigin,
  registrationOptions,
  SUPPORTED_ALGORITHMS,
  verifyEnrolment
} from '../../src/webauthn/index.js'
import { FLAGS, SOFTWARE_AAGUID, SoftwareAuthenticator } from '../helpers/software-authenticator.js'

const ORIGIN = 'http://localhost:8443'
const RP_ID = 'localhost'
const VECTORS = path.join(projectRoot(import.meta.url), 'test/vectors/webauthn')
const vector = (name: string): string => readFileSync(path.join(VECTORS, name), 'utf8')

describe('webauthn/enrolment', () => {
  const challenge = new Uint8Array(randomBytes(32))
  const ceremony = { challenge, origin: ORIGIN, rpId: RP_ID }
  const expected = { expectedChallenge: challenge, origin: ORIGIN, rpId: RP_ID }

  it('asks for direct attestation, user verification, a non-discoverable key, the supported algorithms', async () => {
    const options = await registrationOptions({ rpId: RP_ID, rpName: 'fleet', actorId: 'alice', challenge })
    assert.equal(options.challenge, toBase64url(challenge))
    assert.equal(options.attestation, 'direct')
    assert.deepEqual(options.rp, { name: 'fleet', id: RP_ID })
    assert.equal(options.user.name, 'alice')
    assert.notEqual(options.user.id, toBase64url(new TextEncoder().encode('alice')), 'the handle is not the actor id')
    assert.equal(options.user.id, toBase64url(sha256('fleet/webauthn/user-handle/v1\n', 'alice')))
    assert.equal(options.authenticatorSelection?.userVerification, 'required')
    assert.equal(options.authenticatorSelection?.residentKey, 'discouraged')
    assert.equal(options.authenticatorSelection?.authenticatorAttachment, 'cross-platform')
    assert.deepEqual(options.hints, ['security-key'])
    assert.deepEqual(
      options.pubKeyCredParams.map((param) => param.alg),
      SUPPORTED_ALGORITHMS
    )
    const relaxed = await registrationOptions({
      rpId: RP_ID,
      rpName: 'fleet',
      actorId: 'alice',
      challenge,
      requireUserVerification: false,
      excludeCredentialIds: [new Uint8Array(16)]
    })
    assert.equal(relaxed.authenticatorSelection?.userVerification, 'discouraged')
    assert.deepEqual(
      relaxed.excludeCredentials?.map((credential) => credential.id),
      [toBase64url(new Uint8Array(16))]
    )
  })

  it('refuses a short challenge and an empty actor', async () => {
    const short = { rpId: RP_ID, rpName: 'fleet', actorId: 'alice', challenge: new Uint8Array(8) }
    await assert.rejects(
      registrationOptions(short),
      (error: Error & { limit?: string }) =>
        error.name === 'MalformedWebAuthnError' && error.limit === 'maxEnrolmentChallenge'
    )
    await assert.rejects(registrationOptions({ rpId: RP_ID, rpName: 'fleet', actorId: '', challenge }), {
      name: 'MalformedWebAuthnError'
    })
  })

  it('refuses attestation none unless allowed, and then records it as untrusted', async () => {
    const key = new SoftwareAuthenticator()
    const response = key.register({ ...ceremony, fmt: 'none' })
    await assert.rejects(
      verifyEnrolment(response, { ...expected, allow: {} }),
      (error: Error & { kind?: string }) => error.name === 'AttestationNotAllowedError' && error.kind === 'none'
    )
    const enrolled = await verifyEnrolment(response, { ...expected, allow: { allowNone: true } })
    assert.deepEqual(enrolled.credentialId, key.credentialId)
    assert.deepEqual(enrolled.publicKey, key.publicKey)
    assert.equal(enrolled.aaguid, SOFTWARE_AAGUID)
    assert.equal(enrolled.fmt, 'none')
    assert.deepEqual(enrolled.attestation, { fmt: 'none', x5c: undefined, trusted: false })
    assert.deepEqual(enrolled.transports, ['usb'])
  })

  it('refuses self attestation unless allowed: the new key vouching for itself proves no model', async () => {
    const response = new SoftwareAuthenticator().register({ ...ceremony, fmt: 'packed-self' })
    await assert.rejects(
      verifyEnrolment(response, { ...expected, allow: { roots: [] } }),
      (error: Error & { kind?: string }) => error.name === 'AttestationNotAllowedError' && error.kind === 'self'
    )
    const enrolled = await verifyEnrolment(response, { ...expected, allow: { allowNone: true } })
    assert.deepEqual(enrolled.attestation, { fmt: 'packed', x5c: undefined, trusted: false })
  })

  it('refuses a model that is not on the allowlist', async () => {
    const response = new SoftwareAuthenticator().register({ ...ceremony, fmt: 'none' })
    const allowed = ['01020304-0506-0708-0102-030405060708']
    await assert.rejects(
      verifyEnrolment(response, { ...expected, allow: { allowNone: true, aaguids: allowed } }),
      (error: Error & { aaguid?: string; allowed?: string[] }) =>
        error.name === 'AaguidNotAllowedError' && error.aaguid === SOFTWARE_AAGUID && error.allowed?.[0] === allowed[0]
    )
    const enrolled = await verifyEnrolment(response, {
      ...expected,
      allow: { allowNone: true, aaguids: [SOFTWARE_AAGUID.toUpperCase()] }
    })
    assert.equal(enrolled.aaguid, SOFTWARE_AAGUID)
  })

  it('refuses another challenge, origin, RP ID, ceremony type, and a missing user verification', async () => {
    const key = new SoftwareAuthenticator()
    const allow = { allowNone: true }
    const cases: Array<[Record<string, unknown>, string]> = [
      [key.register({ ...ceremony, fmt: 'none', challenge: new Uint8Array(32) }), 'ChallengeMismatchError'],
      [key.register({ ...ceremony, fmt: 'none', origin: 'http://localhost:1' }), 'OriginMismatchError'],
      [key.register({ ...ceremony, fmt: 'none', rpId: 'evil.example' }), 'RpIdMismatchError'],
      [key.register({ ...ceremony, fmt: 'none', type: 'webauthn.get' }), 'ClientDataTypeError'],
      [key.register({ ...ceremony, fmt: 'none', flags: FLAGS.up | FLAGS.at }), 'UserVerificationMissingError'],
      [key.register({ ...ceremony, fmt: 'none', flags: FLAGS.uv | FLAGS.at }), 'UserPresenceMissingError']
    ]
    for (const [response, name] of cases) {
      await assert.rejects(verifyEnrolment(response, { ...expected, allow }), { name })
    }
    const noUv = key.register({ ...ceremony, fmt: 'none', flags: FLAGS.up | FLAGS.at })
    const enrolled = await verifyEnrolment(noUv, { ...expected, allow, requireUserVerification: false })
    assert.equal(enrolled.userVerified, false)
  })

  it('refuses a self attestation whose signature does not verify', async () => {
    const otherKey = new SoftwareAuthenticator().privateKey
    const response = new SoftwareAuthenticator().register({ ...ceremony, fmt: 'packed-self', attestationKey: otherKey })
    await assert.rejects(
      verifyEnrolment(response, { ...expected, allow: { allowNone: true } }),
      (error: Error & { fmt?: string }) => error.name === 'AttestationInvalidError' && error.fmt === 'packed'
    )
  })

  it('refuses a response whose id is not the attested credential id', async () => {
    const response = new SoftwareAuthenticator().register({ ...ceremony, fmt: 'none' })
    const otherId = toBase64url(new Uint8Array(randomBytes(32)))
    const renamed = { ...response, id: otherId, rawId: otherId }
    await assert.rejects(
      verifyEnrolment(renamed, { ...expected, allow: { allowNone: true } }),
      (error: Error & { field?: string }) => error.name === 'MalformedWebAuthnError' && error.field === 'credential.id'
    )
  })

  describe("a registration captured from Chromium's virtual authenticator (packed, x5c)", () => {
    const captured = JSON.parse(vector('chromium-registration.json')) as Record<string, unknown>
    const fromChromium = {
      expectedChallenge: new Uint8Array(32).fill(7),
      origin: 'http://localhost:34531',
      rpId: RP_ID
    }

    it("is trusted through the pinned attestation key, and its model is the virtual authenticator's", async () => {
      const aaguid = '01020304-0506-0708-0102-030405060708'
      const enrolled = await verifyEnrolment(captured, {
        ...fromChromium,
        allow: { roots: [vector('chromium-virtual-attestation.pem')], aaguids: [aaguid] }
      })
      assert.equal(enrolled.fmt, 'packed')
      assert.equal(enrolled.aaguid, aaguid)
      assert.equal(enrolled.attestation.trusted, true)
      assert.equal(enrolled.attestation.x5c?.length, 1)
      assert.equal(enrolled.counter, 1)
      assert.equal(toBase64url(enrolled.credentialId), captured.id)
    })

    it('is refused when its chain reaches no named root, or when no root is named', async () => {
      const unrelated = { roots: [vector('unrelated-root.pem')] }
      await assert.rejects(
        verifyEnrolment(captured, { ...fromChromium, allow: unrelated }),
        (error: Error & { subject?: string }) =>
          error.name === 'AttestationUntrustedError' && /CN=Batch Certificate/.test(error.subject ?? '')
      )
      await assert.rejects(
        verifyEnrolment(captured, { ...fromChromium, allow: {} }),
        (error: Error & { reason?: string }) =>
          error.name === 'AttestationUntrustedError' && error.reason === 'the policy names no attestation roots'
      )
      const unproven = await verifyEnrolment(captured, {
        ...fromChromium,
        origin: isLoopbackOrigin,
        allow: { allowNone: true }
      })
      assert.equal(unproven.attestation.trusted, false)
    })

    it('is refused for another challenge, and with a root that is not a certificate', async () => {
      const otherChallenge = { ...fromChromium, expectedChallenge: new Uint8Array(32), allow: {} }
      await assert.rejects(verifyEnrolment(captured, otherChallenge), { name: 'ChallengeMismatchError' })
      await assert.rejects(
        verifyEnrolment(captured, { ...fromChromium, allow: { roots: ['not a certificate'] } }),
        (error: Error & { field?: string }) =>
          error.name === 'MalformedWebAuthnError' && error.field === 'allow.roots[0]'
      )
    })
  })

  it('refuses malformed responses', async () => {
    const response = new SoftwareAuthenticator().register({ ...ceremony, fmt: 'none' })
    const inner = response.response as Record<string, unknown>
    const bad: Array<[unknown, string]> = [
      [null, 'credential'],
      [{ ...response, rawId: 'AAAA' }, 'credential.rawId'],
      [{ ...response, type: 'password' }, 'credential.type'],
      [{ ...response, extra: 1 }, 'credential.extra'],
      [{ ...response, response: { ...inner, clientDataJSON: 'a+b/' } }, 'credential.response.clientDataJSON'],
      [
        { ...response, response: { ...inner, attestationObject: 'A'.repeat(30_000) } },
        'credential.response.attestationObject'
      ],
      [{ ...response, response: { ...inner, transports: new Array(9).fill('usb') } }, 'credential.response.transports']
    ]
    for (const [value, field] of bad) {
      await assert.rejects(
        verifyEnrolment(value, { ...expected, allow: { allowNone: true } }),
        (error: Error & { field?: string }) => error.name === 'MalformedWebAuthnError' && error.field === field,
        field
      )
    }
  })
})
