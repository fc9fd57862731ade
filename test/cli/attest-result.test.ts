/**
 * fleet attest result and fleet attest keys on swtpm: an agent issues an EAR about a peer it
 * attested, signed in its TPM; a relying party verifies it with jose alone (jwtVerify against the
 * JWKS `fleet attest keys` prints), without any of this project's signing or verifying code.
 * Refusals: a device never judged (exit 1), a nonce out of bounds (exit 2), a tampered token; a
 * verdict that is not trusted gives contraindicated; swtpm is the software tier.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose'
import { TPM_TIER_ACTIONS, controlRequest, startControlServer, type Agent } from '../../src/agent/index.js'
import { encodeCanonical } from '../../src/codec/index.js'
import { formatOntologyActions } from '../../src/ledger/index.js'
import { publishOwnerStatements } from '../helpers/owner-statements.js'
import { SimFleet, type SimDevice } from '../../simnet/fleet.js'
import { runFleetAsync } from '../helpers/cli.js'
import { assertTrustedOnSoftwareTpm, submodOf } from '../helpers/ear.js'
import { haveSwtpm } from '../helpers/devices.js'
import { until } from '../helpers/wait.js'

describe('fleet attest result (swtpm)', function () {
  this.timeout(180_000)
  let fleet: SimFleet
  let dev1: SimDevice
  let dev2: SimDevice
  let agent1: Agent
  let control: { close: () => Promise<void> }
  let jwks: JSONWebKeySet

  before(async function () {
    if (!haveSwtpm()) this.skip()
    fleet = await SimFleet.create()
    ;[dev1, dev2] = (await fleet.addEnrolled(2)) as [SimDevice, SimDevice]
    agent1 = await fleet.start(dev1)
    const agent2 = await fleet.start(dev2)
    control = await startControlServer(agent1, dev1.dir, dev1.state.deviceId)
    await agent1.node.dial(agent2.node.getMultiaddrs()[0]!)
    await until(() => agent1.attestation.verdictOn(dev2.state.deviceId)?.trusted === true, 'dev1 to attest dev2')
    const keys = await runFleetAsync(['attest', 'keys', '--state', dev1.dir])
    assert.equal(keys.status, 0, keys.stderr)
    jwks = JSON.parse(keys.stdout) as JSONWebKeySet
  })

  after(async () => {
    await control?.close()
    await fleet?.close()
  })

  async function result(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
    return await runFleetAsync(['attest', 'result', '--state', dev1.dir, ...args])
  }

  it("publishes every enrolled device's key, named by its device id", () => {
    assert.deepEqual(jwks.keys.map((k) => k.kid).sort(), [dev1.state.deviceId, dev2.state.deviceId].sort())
    for (const key of jwks.keys) assert.deepEqual([key.kty, key.crv, key.alg, key.use], ['EC', 'P-256', 'ES256', 'sig'])
  })

  it('issues a result about an attested peer, signed by its TPM, that jose verifies from the JWKS: software tier, a warning', async () => {
    const nonce = randomBytes(32).toString('base64url')
    const issued = await result(['--device', dev2.state.deviceId, '--audience', 'https://rp.example', '--nonce', nonce])
    assert.equal(issued.status, 0, issued.stderr)
    const token = issued.stdout.trim()
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), {
      audience: 'https://rp.example',
      algorithms: ['ES256'],
      typ: 'JWT'
    })
    assert.equal(protectedHeader.kid, dev1.state.deviceId)
    assert.equal(payload.eat_profile, 'tag:github.com,2023:veraison/ear')
    assert.equal(payload.eat_nonce, nonce)
    assert.ok((payload.exp as number) > (payload.iat as number))
    const submod = submodOf(payload, dev2.state.deviceId)
    assertTrustedOnSoftwareTpm(submod)
    assert.match(String(submod['ear.appraisal-policy-id']), /^fleet:boot-policy:[0-9a-f]{64}$/)
    const verdict = submod['fleet.verdict'] as Record<string, unknown>
    assert.equal(verdict.trusted, true)
    assert.ok((verdict.age as number) >= 0 && (verdict.age as number) < 600)
  })

  it('a tampered token, or one checked against another key, fails jose verification', async () => {
    const issued = await result(['--device', dev2.state.deviceId])
    assert.equal(issued.status, 0, issued.stderr)
    const [h, p, s] = issued.stdout.trim().split('.') as [string, string, string]
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>
    claims.exp = (claims.exp as number) + 86_400
    const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`
    await assert.rejects(jwtVerify(forged, createLocalJWKSet(jwks)), { name: 'JWSSignatureVerificationFailed' })
    // Claimed by the other device's key: the signature is dev1's, so it does not verify.
    const header = { ...decodeProtectedHeader(issued.stdout.trim()), kid: dev2.state.deviceId }
    const rekeyed = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${p}.${s}`
    await assert.rejects(jwtVerify(rekeyed, createLocalJWKSet(jwks)), { name: 'JWSSignatureVerificationFailed' })
  })

  it('without a nonce the signed result is reused (one TPM signature per verdict); with --json it says so', async () => {
    const a = await result(['--device', dev2.state.deviceId, '--audience', 'cache-check', '--json'])
    const b = await result(['--device', dev2.state.deviceId, '--audience', 'cache-check', '--json'])
    const [first, second] = [JSON.parse(a.stdout), JSON.parse(b.stdout)] as Array<Record<string, unknown>>
    assert.equal(first!.cached, false)
    assert.equal(second!.cached, true)
    assert.equal(first!.token, second!.token)
  })

  it('refuses a device it never judged (exit 1), itself (exit 2), and a nonce out of bounds (exit 2, at the CLI and at the socket)', async () => {
    const unknown = await result(['--device', 'q'.repeat(52)])
    assert.equal(unknown.status, 1)
    assert.match(unknown.stderr, /no verdict on device/)
    const self = await result(['--device', dev1.state.deviceId])
    assert.equal(self.status, 2)
    for (const nonce of [randomBytes(7).toString('base64url'), randomBytes(65).toString('base64url')]) {
      const bad = await result(['--device', dev2.state.deviceId, '--nonce', nonce])
      assert.equal(bad.status, 2)
      assert.match(bad.stderr, /nonce: must be 8 to 64 bytes/)
      await assert.rejects(controlRequest(dev1.dir, { cmd: 'attest.result', device: dev2.state.deviceId, nonce }), {
        code: 'ERR_EAR_REQUEST',
        exitCode: 2
      })
    }
  })

  it("an owner's device.tpm under a spec defined otherwise is not taken: the result stays software", async () => {
    const issue = async (): Promise<Record<string, unknown>> => {
      const issued = await result(['--device', dev2.state.deviceId, '--nonce', randomBytes(16).toString('base64url')])
      assert.equal(issued.status, 0, issued.stderr)
      return submodOf((await jwtVerify(issued.stdout.trim(), createLocalJWKSet(jwks))).payload, dev2.state.deviceId)
    }
    // An owner's own action of that name, with another body: someone else's meaning, not taken.
    const otherwise = {
      'device.tpm': { roles: ['owner' as const], body: { deviceId: { kind: 'string' as const, max: 64 } } }
    }
    const version = agent1.membership.ontology.version
    await publishOwnerStatements(
      fleet,
      [
        {
          type: 'ontology.update',
          body: { version: version + 1, actions: encodeCanonical(formatOntologyActions(otherwise)) }
        },
        { type: 'device.tpm', body: { deviceId: dev2.state.deviceId } }
      ],
      [agent1]
    )
    await until(() => agent1.membership.ontology.version === version + 1, 'agent1 to take the update')
    assertTrustedOnSoftwareTpm(await issue())
    assert.equal(agent1.membership.tpmTiers.tierOf(dev2.state.deviceId), 'software')
  })

  it('the well-known device.tpm, defined and stated by the owner, says hardware: affirming, hardware 2', async () => {
    // A fresh fleet: its ontology has no device.tpm of another meaning.
    const other = await SimFleet.create()
    try {
      const [a, b] = (await other.addEnrolled(2)) as [SimDevice, SimDevice]
      const agentA = await other.start(a)
      const agentB = await other.start(b)
      await agentA.node.dial(agentB.node.getMultiaddrs()[0]!)
      await until(() => agentA.attestation.verdictOn(b.state.deviceId)?.trusted === true, 'a to attest b')
      await publishOwnerStatements(
        other,
        [
          {
            type: 'ontology.update',
            body: {
              version: agentA.membership.ontology.version + 1,
              actions: encodeCanonical(formatOntologyActions(TPM_TIER_ACTIONS))
            }
          },
          {
            type: 'device.tpm',
            body: { deviceId: b.state.deviceId, tier: 'hardware', ekCa: new Uint8Array(32).fill(7) }
          }
        ],
        [agentA]
      )
      await until(() => agentA.membership.tpmTiers.tierOf(b.state.deviceId) === 'hardware', 'a to take the tier')
      const issued = await agentA.ear.issue({ device: b.state.deviceId, nonce: randomBytes(16).toString('base64url') })
      const controlA = await startControlServer(agentA, a.dir, a.state.deviceId)
      const keys = await runFleetAsync(['attest', 'keys', '--state', a.dir])
      await controlA.close()
      assert.equal(keys.status, 0, keys.stderr)
      const { payload } = await jwtVerify(issued.token, createLocalJWKSet(JSON.parse(keys.stdout) as JSONWebKeySet))
      const submod = submodOf(payload, b.state.deviceId)
      assert.equal(submod['fleet.tpm-tier'], 'hardware')
      assert.equal(submod['ear.status'], 'affirming')
      assert.equal((submod['ear.trustworthiness-vector'] as Record<string, number>).hardware, 2)
    } finally {
      await other.close()
    }
  })

  it('a verdict that is not trusted gives a contraindicated result', async () => {
    await agent1.attestation.revoke(dev2.state.deviceId)
    const issued = await result(['--device', dev2.state.deviceId, '--nonce', randomBytes(16).toString('base64url')])
    assert.equal(issued.status, 0, issued.stderr)
    const { payload } = await jwtVerify(issued.stdout.trim(), createLocalJWKSet(jwks))
    const submod = submodOf(payload, dev2.state.deviceId)
    assert.equal(submod['ear.status'], 'contraindicated')
    assert.deepEqual(submod['ear.trustworthiness-vector'], { 'instance-identity': 96 })
    assert.equal((submod['fleet.verdict'] as Record<string, unknown>).kind, 'revoked')
  })
})
