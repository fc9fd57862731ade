/**
 * Measured boot end to end on a real swtpm: simulated boot → quote → verify with the event log →
 * boot policy → keys sealed to the boot and the agent's own measurement; then a tampered boot, a
 * changed agent, and an authority-approved new boot state.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import {
  EsysTpm,
  type SwtpmDevice,
  parsePublic,
  verifyBoot,
  createBootPolicy,
  measureAgent,
  extendAgentMeasurement,
  sealToPcrs,
  sealToAuthority,
  approvePcrState,
  releaseSecret,
  type PcrSelection,
  type KeyBlob,
  type BootPolicy
} from '../../src/attest/index.js'
import { softwareP256Signer } from '../../src/identity/index.js'
import { bootDevice, type BootVariant } from '../../simnet/index.js'
import { haveSwtpm, startDevice, stopAllDevices } from '../helpers/devices.js'

const QUOTED: PcrSelection = [{ hash: 'sha256', pcrs: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] }]
const SEALED: PcrSelection = [{ hash: 'sha256', pcrs: [0, 1, 2, 3, 4, 7, 23] }]
const bundle = [path.resolve('dist/src')]

describe('attest: measured boot and key release on swtpm', function () {
  this.timeout(120_000)
  let device: SwtpmDevice
  let tpm: EsysTpm
  let ak: KeyBlob

  async function boot(variant: BootVariant, config = 'agent config v1'): Promise<Uint8Array> {
    await tpm?.close()
    await device.reboot()
    tpm = await EsysTpm.open({ tcti: device.tcti })
    const log = await bootDevice(tpm, variant)
    await extendAgentMeasurement(tpm, await measureAgent(bundle, Buffer.from(config)))
    return log
  }

  async function attest(log: Uint8Array, policy: BootPolicy): Promise<ReturnType<typeof verifyBoot>> {
    const nonce = randomBytes(32)
    const quote = await tpm.quote(ak, nonce, QUOTED)
    return verifyBoot(
      { ak: parsePublic(ak.public), attest: quote.attest, signature: quote.signature, nonce, eventLog: log },
      policy
    )
  }

  before(async function () {
    if (!haveSwtpm()) this.skip()
    device = await startDevice()
    tpm = await EsysTpm.open({ tcti: device.tcti })
    ak = await tpm.createKey('attestation')
  })

  after(async () => {
    await tpm?.close()
    await stopAllDevices()
  })

  it('a good boot is trusted; a tampered kernel is refused with the PCR, event and digest, and keys stay sealed', async () => {
    const goodLog = await boot('good')
    const reference = await attest(goodLog, { version: 1, bank: 'sha256', pcrs: [0], secureBoot: 'any', events: {} })
    const policy = createBootPolicy(reference.log.events, reference.facts.secureBoot)
    assert.equal(policy.secureBoot, 'required')
    const good = await attest(goodLog, policy)
    assert.deepEqual(good.verdict.reasons, [])
    assert.equal(good.verdict.trusted, true)

    const secret = randomBytes(32)
    const sealed = await sealToPcrs(tpm, secret, SEALED, await tpm.readPcrs(SEALED))
    assert.deepEqual(Buffer.from(await releaseSecret(tpm, sealed)), secret)

    const tamperedLog = await boot('tampered-kernel')
    const tampered = await attest(tamperedLog, policy)
    assert.equal(tampered.verdict.trusted, false)
    assert.deepEqual(
      tampered.verdict.reasons.map((r) => [r.code, r.pcr]),
      [['event_not_allowed', 4]]
    )
    await assert.rejects(
      releaseSecret(tpm, sealed),
      (err: Error & { differences?: Array<{ pcr: number }> }) =>
        err.name === 'KeyReleaseRefusedError' && JSON.stringify(err.differences?.map((d) => d.pcr)) === '[4]'
    )
  })

  it('Secure Boot off and an extra boot application are refused by the policy', async () => {
    const goodLog = await boot('good')
    const policy = createBootPolicy(
      (await attest(goodLog, { version: 1, bank: 'sha256', pcrs: [0], secureBoot: 'any', events: {} })).log.events,
      true
    )
    const off = await attest(await boot('secure-boot-off'), policy)
    assert.ok(off.verdict.reasons.some((r) => r.code === 'secure_boot_off'))
    assert.ok(off.verdict.reasons.some((r) => r.code === 'event_not_allowed' && r.pcr === 7))
    const extra = await attest(await boot('extra-event'), policy)
    assert.deepEqual(
      extra.verdict.reasons.map((r) => [r.code, r.pcr]),
      [['event_not_allowed', 4]]
    )
  })

  it('a log that is not the measured one fails the quote, and a replayed quote fails the nonce', async () => {
    const goodLog = await boot('good')
    const policy: BootPolicy = { version: 1, bank: 'sha256', pcrs: [0], secureBoot: 'any', events: {} }
    const otherLog = (await import('../../simnet/index.js')).simulatedBootLog('tampered-kernel').log
    const nonce = randomBytes(32)
    const quote = await tpm.quote(ak, nonce, QUOTED)
    assert.throws(() => verifyBoot({ ak: parsePublic(ak.public), ...quote, nonce, eventLog: otherLog }, policy), {
      name: 'QuotePcrDigestMismatchError'
    })
    assert.throws(
      () => verifyBoot({ ak: parsePublic(ak.public), ...quote, nonce: randomBytes(32), eventLog: goodLog }, policy),
      { name: 'QuoteNonceMismatchError' }
    )
  })

  it('events of PCRs the quote does not cover are reported and left out of what is judged', async () => {
    const log = await boot('good')
    const nonce = randomBytes(32)
    const pcrs = [0, 1, 2, 3, 4, 7]
    const quote = await tpm.quote(ak, nonce, [{ hash: 'sha256', pcrs }])
    const result = verifyBoot(
      { ak: parsePublic(ak.public), attest: quote.attest, signature: quote.signature, nonce, eventLog: log },
      { version: 1, bank: 'sha256', pcrs, secureBoot: 'any', events: {} }
    )
    assert.deepEqual(
      result.unquoted.map((u) => u.pcr),
      [5, 6, 8, 9]
    )
    assert.ok(result.unquoted.every((u) => u.events > 0))
    assert.ok(
      result.log.events.every((e) => pcrs.includes(e.pcr)),
      'an unquoted event reached the verified log'
    )
  })

  it('a changed agent (code or config) cannot unseal: PCR 23 differs', async () => {
    await boot('good', 'agent config v1')
    const secret = randomBytes(16)
    const sealed = await sealToPcrs(tpm, secret, SEALED, await tpm.readPcrs(SEALED))
    await boot('good', 'agent config v2 (changed)')
    await assert.rejects(
      releaseSecret(tpm, sealed),
      (err: Error & { differences?: Array<{ pcr: number }> }) =>
        err.name === 'KeyReleaseRefusedError' && JSON.stringify(err.differences?.map((d) => d.pcr)) === '[23]'
    )
  })

  it("the agent refuses to start when PCR 23 already holds another agent's measurement", async () => {
    await boot('good', 'agent config v1')
    await assert.rejects(extendAgentMeasurement(tpm, await measureAgent(bundle, Buffer.from('another config'))), {
      name: 'AgentMeasurementMismatchError'
    })
    // The same agent restarting without a reboot is fine (already measured).
    await extendAgentMeasurement(tpm, await measureAgent(bundle, Buffer.from('agent config v1')))
  })

  it('PolicyAuthorize: an approved new boot state releases the secret without re-sealing; unapproved states do not', async () => {
    const authority = softwareP256Signer()
    const policyRef = Buffer.from('fleet-boot-v1')
    await boot('good')
    const secret = randomBytes(32)
    const sealed = await sealToAuthority(tpm, secret, SEALED, authority.publicKey, policyRef)
    const approvedGood = await approvePcrState(authority, SEALED, await tpm.readPcrs(SEALED), policyRef)
    assert.deepEqual(Buffer.from(await releaseSecret(tpm, sealed, approvedGood)), secret)

    await boot('new-kernel')
    await assert.rejects(releaseSecret(tpm, sealed, approvedGood), { name: 'KeyReleaseRefusedError' })
    const approvedNew = await approvePcrState(authority, SEALED, await tpm.readPcrs(SEALED), policyRef)
    assert.deepEqual(Buffer.from(await releaseSecret(tpm, sealed, approvedNew)), secret)

    // An approval signed by someone else is refused by the TPM.
    const forged = await approvePcrState(softwareP256Signer(), SEALED, await tpm.readPcrs(SEALED), policyRef)
    await assert.rejects(releaseSecret(tpm, sealed, forged), { name: 'KeyReleaseRefusedError' })
  })
})
