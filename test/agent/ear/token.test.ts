/**
 * The EAR encoder against its golden vector (test/vectors/ear/golden.json: a software P-256 key
 * and one recorded signature, because ECDSA signatures from a TPM are randomised), verified with
 * jose; and the appraisal mapping from a verdict to a status and an AR4SI vector.
 */
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { decodeJwt, decodeProtectedHeader, importJWK, jwtVerify } from 'jose'
import {
  AR4SI,
  earClaims,
  earHeader,
  earSigningInput,
  earStatus,
  encodeEar,
  trustworthinessVector,
  type EarClaimsInput,
  type EarVerdict
} from '../../../src/agent/index.js'
import { projectRoot } from '../../../src/common/index.js'
import { assertTrustedOnSoftwareTpm, submodOf } from '../../helpers/ear.js'

interface Golden {
  key: { kty: string; crv: string; x: string; y: string; d: string }
  issuer: string
  input: EarClaimsInput
  claims: Record<string, unknown>
  signingInput: string
  signature: string
  token: string
}

const golden = JSON.parse(
  readFileSync(path.join(projectRoot(import.meta.url), 'test/vectors/ear/golden.json'), 'utf8')
) as Golden
const publicJwk = { kty: golden.key.kty, crv: golden.key.crv, x: golden.key.x, y: golden.key.y }
/** The moment the golden result was issued (jose checks exp against it). */
const ISSUED = new Date(golden.input.now)

describe('EAR token', () => {
  it('encodes the golden claims to the golden signing input and token, byte for byte', async () => {
    const header = earHeader(golden.issuer)
    const claims = earClaims(golden.input)
    assert.deepEqual(claims, golden.claims)
    assert.equal(earSigningInput(header, claims), golden.signingInput)
    const signed: string[] = []
    const recorded = {
      async sign(message: Uint8Array) {
        signed.push(Buffer.from(message).toString('ascii'))
        return new Uint8Array(Buffer.from(golden.signature, 'base64url'))
      }
    }
    assert.equal(await encodeEar(header, claims, recorded), golden.token)
    assert.deepEqual(signed, [golden.signingInput])
  })

  it('the golden token verifies with jose under the published key, with its header and claims as the draft names them', async () => {
    const { payload, protectedHeader } = await jwtVerify(golden.token, await importJWK(publicJwk, 'ES256'), {
      currentDate: ISSUED,
      audience: 'https://rp.example',
      algorithms: ['ES256']
    })
    assert.deepEqual(protectedHeader, { alg: 'ES256', kid: golden.issuer, typ: 'JWT' })
    assert.equal(payload.eat_profile, 'tag:github.com,2023:veraison/ear')
    assert.equal(payload.eat_nonce, 'q83vEjRWeJA')
    assertTrustedOnSoftwareTpm(submodOf(payload, golden.input.verdict.deviceId))
  })

  it('a token altered in its claims, or past its verdict freshness, is refused by jose', async () => {
    const key = await importJWK(publicJwk, 'ES256')
    const [h, p, s] = golden.token.split('.') as [string, string, string]
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>
    const submods = claims.submods as Record<string, Record<string, unknown>>
    submods[golden.input.verdict.deviceId]!['ear.status'] = 'affirming'
    const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`
    await assert.rejects(jwtVerify(forged, key, { currentDate: ISSUED }), { name: 'JWSSignatureVerificationFailed' })
    const expired = new Date((golden.claims.exp as number) * 1000 + 1000)
    await assert.rejects(jwtVerify(golden.token, key, { currentDate: expired }), { name: 'JWTExpired' })
  })

  it('a fresh signature over the signing input with the golden key verifies: the signer signs SHA-256 of the ASCII input, r‖s', async () => {
    const privateKey = crypto.createPrivateKey({ key: golden.key, format: 'jwk' })
    const signer = {
      async sign(message: Uint8Array) {
        return new Uint8Array(crypto.sign('sha256', message, { key: privateKey, dsaEncoding: 'ieee-p1363' }))
      }
    }
    const token = await encodeEar(earHeader(golden.issuer), earClaims(golden.input), signer)
    assert.notEqual(token, golden.token) // ECDSA here is randomised too
    const { payload } = await jwtVerify(token, await importJWK(publicJwk, 'ES256'), { currentDate: ISSUED })
    assert.deepEqual(payload, golden.claims)
    assert.equal(decodeProtectedHeader(token).kid, golden.issuer)
  })

  it('refuses a signer that does not give a 64-byte r‖s signature (a DER signature would not verify)', async () => {
    const der = { sign: async () => new Uint8Array(71) }
    await assert.rejects(encodeEar(earHeader(golden.issuer), earClaims(golden.input), der), RangeError)
  })
})

describe('EAR appraisal', () => {
  const base: EarVerdict = { deviceId: 'x'.repeat(52), trusted: true, at: 0, policyId: 'ab'.repeat(32) }
  const appraise = (verdict: EarVerdict, tier: 'hardware' | 'software') => {
    const vector = trustworthinessVector(verdict, tier)
    return { vector, status: earStatus(verdict, vector) }
  }

  it('a trusted verdict on a hardware TPM affirms; on a software TPM it warns (never presented as hardware)', () => {
    assert.deepEqual(appraise(base, 'hardware'), {
      vector: { 'instance-identity': 2, executables: 3, configuration: 2, hardware: 2 },
      status: 'affirming'
    })
    const software = appraise(base, 'software')
    assert.equal(software.status, 'warning')
    assert.equal(software.vector.hardware, AR4SI.unsafeHardware)
  })

  it('an untrusted boot is contraindicated, naming executables or configuration from the policy reason codes', () => {
    const loaded = appraise(
      { ...base, trusted: false, kind: 'untrusted-boot', codes: ['event_not_allowed'] },
      'hardware'
    )
    assert.equal(loaded.status, 'contraindicated')
    assert.equal(loaded.vector.executables, 96)
    assert.equal(loaded.vector.configuration, undefined)
    assert.equal(loaded.vector['instance-identity'], 2)
    const config = appraise({ ...base, trusted: false, kind: 'untrusted-boot', codes: ['secure_boot_off'] }, 'hardware')
    assert.equal(config.vector.configuration, 96)
    assert.equal(config.vector.executables, undefined)
  })

  it('a revoked, quarantined or cloned device is an untrustworthy instance; evidence that did not validate is a failed validation', () => {
    for (const kind of ['revoked', 'quarantined', 'clone']) {
      const { vector, status } = appraise({ ...base, trusted: false, kind }, 'hardware')
      assert.deepEqual(vector, { 'instance-identity': 96 }, kind)
      assert.equal(status, 'contraindicated')
    }
    assert.deepEqual(appraise({ ...base, trusted: false, kind: 'refused' }, 'hardware').vector, {
      'instance-identity': 99
    })
  })

  it('claims nothing about file system, memory, storage or sourced data (no evidence covers them)', () => {
    const claims = decodeJwt(golden.token)
    const submod = (claims.submods as Record<string, Record<string, Record<string, number>>>)[
      golden.input.verdict.deviceId
    ]!
    assert.deepEqual(Object.keys(submod['ear.trustworthiness-vector']!).sort(), [
      'configuration',
      'executables',
      'hardware',
      'instance-identity'
    ])
  })
})
