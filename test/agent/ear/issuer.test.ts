/**
 * The EAR issuer with an injected clock and a counting software signer: what it refuses (unknown
 * device, itself, stale or future verdicts, nonces and audiences out of bounds), how a result
 * without a nonce is signed once per verdict and reused until it expires, and a nonce'd one each time.
 */
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { decodeJwt } from 'jose'
import { EAR_LIMITS, EarIssuer, type EarVerdict } from '../../../src/agent/index.js'

const ISSUER = 'a'.repeat(52)
const PEER = 'b'.repeat(52)
const STRANGER = 'c'.repeat(52)
const T0 = Date.UTC(2026, 0, 1)

function issuerWith(verdicts: Map<string, EarVerdict>, excluded = new Map<string, 'revoked' | 'quarantined'>()) {
  const clock = { ms: T0, now: () => clock.ms }
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const counter = { signs: 0 }
  const issuer = new EarIssuer({
    issuer: ISSUER,
    signer: {
      async sign(message) {
        counter.signs++
        return new Uint8Array(crypto.sign('sha256', message, { key: privateKey, dsaEncoding: 'ieee-p1363' }))
      }
    },
    build: 'test',
    clock: { now: () => clock.ms },
    verdictOn: (deviceId) => verdicts.get(deviceId),
    exclusion: (deviceId) => excluded.get(deviceId),
    policyId: () => 'cd'.repeat(32)
  })
  return { issuer, clock, counter }
}

const trusted: EarVerdict = { deviceId: PEER, trusted: true, at: T0, policyId: 'ab'.repeat(32) }

describe('EAR issuer', () => {
  it('refuses a device it never judged, and itself', async () => {
    const { issuer } = issuerWith(new Map([[PEER, trusted]]))
    await assert.rejects(issuer.issue({ device: STRANGER }), { name: 'EarUnknownDeviceError', exitCode: 1 })
    await assert.rejects(issuer.issue({ device: ISSUER }), { name: 'EarSelfError', exitCode: 2 })
    await assert.rejects(issuer.issue({ device: 'not-a-device' }), { name: 'EarRequestError', exitCode: 2 })
  })

  it('refuses a verdict older than the freshness window, or dated ahead of its clock', async () => {
    const { issuer, clock } = issuerWith(new Map([[PEER, trusted]]))
    clock.ms = T0 + EAR_LIMITS.verdictFreshMs
    assert.equal((await issuer.issue({ device: PEER })).status, 'warning')
    clock.ms = T0 + EAR_LIMITS.verdictFreshMs + 1
    await assert.rejects(issuer.issue({ device: PEER }), {
      name: 'EarStaleVerdictError',
      code: 'ERR_EAR_STALE_VERDICT'
    })
    clock.ms = T0 - EAR_LIMITS.verdictSkewMs - 1
    await assert.rejects(issuer.issue({ device: PEER }), { name: 'EarStaleVerdictError' })
  })

  it('refuses nonces outside 8..64 bytes, not base64url or not canonical, and audiences out of bounds', async () => {
    const { issuer, counter } = issuerWith(new Map([[PEER, trusted]]))
    const nonce = (n: number) => Buffer.alloc(n, 7).toString('base64url')
    for (const bad of [nonce(7), nonce(65), `${nonce(8)}=`, 'q83vEjRWeJA+', 'q83vEjRWeJB']) {
      await assert.rejects(issuer.issue({ device: PEER, nonce: bad }), { name: 'EarRequestError', field: 'nonce' }, bad)
    }
    for (const bad of ['', 'a'.repeat(EAR_LIMITS.maxAudienceChars + 1), 'rp\nX-Injected: 1']) {
      await assert.rejects(issuer.issue({ device: PEER, audience: bad }), {
        name: 'EarRequestError',
        field: 'audience'
      })
    }
    assert.equal(counter.signs, 0)
    await issuer.issue({ device: PEER, nonce: nonce(8), audience: 'a'.repeat(EAR_LIMITS.maxAudienceChars) })
    await issuer.issue({ device: PEER, nonce: nonce(64) })
    assert.equal(counter.signs, 2)
  })

  it('signs a result without a nonce once per verdict and audience, reuses it until it expires, and signs each nonce', async () => {
    const verdicts = new Map([[PEER, trusted]])
    const { issuer, clock, counter } = issuerWith(verdicts)
    const first = await Promise.all([issuer.issue({ device: PEER }), issuer.issue({ device: PEER })])
    assert.equal(counter.signs, 1)
    assert.equal(first[0].token, first[1].token)
    clock.ms += 60_000
    const again = await issuer.issue({ device: PEER })
    assert.equal(again.cached, true)
    assert.equal(again.token, first[0].token)
    await issuer.issue({ device: PEER, audience: 'https://rp.example' })
    assert.equal(counter.signs, 2)
    // A new verdict (a re-attestation) is a new result.
    verdicts.set(PEER, { ...trusted, at: clock.ms })
    const renewed = await issuer.issue({ device: PEER })
    assert.equal(renewed.cached, false)
    assert.equal(counter.signs, 3)
    assert.equal(decodeJwt(renewed.token).exp, Math.floor((clock.ms + EAR_LIMITS.verdictFreshMs) / 1000))
    const n1 = await issuer.issue({ device: PEER, nonce: 'q83vEjRWeJA' })
    const n2 = await issuer.issue({ device: PEER, nonce: 'q83vEjRWeJA' })
    assert.notEqual(n1.token, n2.token)
    assert.equal(counter.signs, 5)
  })

  it('keeps at most maxCachedResults signed results', async () => {
    const { issuer } = issuerWith(new Map([[PEER, trusted]]))
    for (let i = 0; i < EAR_LIMITS.maxCachedResults + 10; i++) await issuer.issue({ device: PEER, audience: `rp-${i}` })
    assert.equal(issuer.cached, EAR_LIMITS.maxCachedResults)
  })

  it('a device revoked or quarantined now gets a contraindicated result, even with no fresh verdict', async () => {
    const { issuer, clock } = issuerWith(new Map([[PEER, trusted]]), new Map([[PEER, 'revoked']]))
    clock.ms = T0 + 3 * EAR_LIMITS.verdictFreshMs
    const issued = await issuer.issue({ device: PEER })
    assert.equal(issued.status, 'contraindicated')
    const submod = (decodeJwt(issued.token).submods as Record<string, Record<string, unknown>>)[PEER]!
    assert.deepEqual(submod['ear.trustworthiness-vector'], { 'instance-identity': 96 })
    assert.deepEqual(submod['fleet.verdict'], {
      trusted: false,
      kind: 'revoked',
      at: Math.floor(clock.ms / 1000),
      age: 0,
      'fresh-until': Math.floor((clock.ms + EAR_LIMITS.verdictFreshMs) / 1000)
    })
  })

  it('a result about an excluded device is signed once per freshness window, not anew each call (regression: dated now, it missed the cache)', async () => {
    const excluded = new Map<string, 'revoked' | 'quarantined'>([[PEER, 'quarantined']])
    const verdicts = new Map([[PEER, trusted]])
    const { issuer, clock, counter } = issuerWith(verdicts, excluded)
    const first = await issuer.issue({ device: PEER })
    clock.ms += 1_500
    const again = await issuer.issue({ device: PEER })
    assert.equal(again.cached, true)
    assert.equal(again.token, first.token)
    assert.equal(again.expiresAt, first.expiresAt)
    assert.equal(counter.signs, 1)
    // Past the window it is signed again, dated then.
    clock.ms = first.expiresAt + 1
    const renewed = await issuer.issue({ device: PEER })
    assert.equal(renewed.cached, false)
    assert.equal(counter.signs, 2)
    // The quarantine cleared (and a fresh verdict): the key changes, the old result is not served.
    excluded.delete(PEER)
    verdicts.set(PEER, { ...trusted, at: clock.ms })
    const cleared = await issuer.issue({ device: PEER })
    assert.equal(cleared.cached, false)
    assert.notEqual(cleared.status, 'contraindicated')
    assert.equal(counter.signs, 3)
  })
})
