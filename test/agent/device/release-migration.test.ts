/**
 * Devices whose keys were sealed to the owner before approvals had epochs (device state version
 * 2: policyRef fleet-release-v1, PolicyPCR-only approvals, which can never be withdrawn). Their
 * first withdrawable approval re-seals the keys, after which no version-1 approval releases them.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import {
  EsysTpm,
  approvePcrState,
  releaseSecret,
  sealToAuthority,
  type SwtpmDevice,
  type PcrSelection
} from '../../../src/attest/index.js'
import { unlockDevice } from '../../../src/agent/device/identity.js'
import { installReleaseApproval } from '../../../src/agent/device/key-release.js'
import type { DeviceState } from '../../../src/agent/device/state.js'
import { sealedFromJson, sealedToJson } from '../../../src/attest/index.js'
import { toBase64 } from '../../../src/common/bytes.js'
import { releasePolicyRef, type toPcrApproval, type ReleaseApproval } from '../../../src/agent/release/approval.js'
import type { DeviceEnrolment } from '../../../src/agent/enrolment/record.js'
import { HybridSigner, softwareP256Signer, nodeMlDsa65, DOMAIN } from '../../../src/identity/index.js'
import { encodeCanonical } from '../../../src/codec/index.js'
import { haveSwtpm, startDevice, stopAllDevices } from '../../helpers/devices.js'
import { AGENT_DIGEST, AGENT_MEASUREMENT, approveCurrentBoot, initTestDevice } from '../../helpers/release-approval.js'

describe('agent: version-2 device states move to withdrawable approvals (swtpm)', function () {
  this.timeout(60_000)
  let device: SwtpmDevice
  let tpm: EsysTpm
  const owner = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32)))
  const fleetId = new Uint8Array(32).fill(4)
  const enrolment = { fleetId, ownerKey: owner.publicKey } as unknown as DeviceEnrolment
  const digest = AGENT_DIGEST
  const measurement = AGENT_MEASUREMENT

  before(async function () {
    if (!haveSwtpm()) this.skip()
    device = await startDevice()
    tpm = await EsysTpm.open({ tcti: device.tcti })
  })

  after(async () => {
    await tpm?.close()
    await stopAllDevices()
  })

  /** What the previous release of the agent wrote: seeds sealed with policyRef v1, a v1 approval. */
  async function versionTwoState(
    initial: DeviceState
  ): Promise<{ state: DeviceState; v1: ReturnType<typeof toPcrApproval> }> {
    const selection: PcrSelection = initial.sealing.selection
    const values = await tpm.readPcrs(selection)
    const policyRef = releasePolicyRef(initial.deviceId, 1)
    const reseal = async (json: DeviceState['mldsa']['sealed']): Promise<DeviceState['mldsa']['sealed']> => {
      const seed = await releaseSecret(tpm, sealedFromJson(json))
      return sealedToJson(await sealToAuthority(tpm, seed, selection, owner.publicKey.p256, policyRef))
    }
    const approved = await approvePcrState(owner.authority, selection, values, policyRef)
    const pcrs = selection[0]!.pcrs
    const record: ReleaseApproval = {
      v: 1,
      kind: 'release-approval',
      fleet: fleetId,
      deviceId: initial.deviceId,
      pcrs: Uint8Array.from(pcrs),
      values: pcrs.map((pcr) => values.sha256!.get(pcr)!),
      agentMeasurement: digest,
      approvedPolicy: new Uint8Array(Buffer.from(approved.approvedPolicy, 'hex')),
      policyRef,
      authorization: new Uint8Array(Buffer.from(approved.signature, 'hex')),
      policyId: 'c'.repeat(64),
      issuedAt: 1
    }
    const bytes = encodeCanonical(record)
    const signature = await owner.sign(DOMAIN.release, bytes)
    const state: DeviceState = {
      ...initial,
      version: 2,
      mldsa: { ...initial.mldsa, sealed: await reseal(initial.mldsa.sealed) },
      peer: { ...initial.peer, sealed: await reseal(initial.peer.sealed) },
      approvals: [{ approval: toBase64(bytes), p256: toBase64(signature.p256), mldsa65: toBase64(signature.mldsa65) }]
    }
    return { state, v1: approved }
  }

  it('the first withdrawable approval re-seals the keys; the old version-1 approval, which could never be withdrawn, no longer releases them', async () => {
    const initial = await initTestDevice(tpm, device.tcti)
    const { state: v2, v1 } = await versionTwoState(initial)
    await unlockDevice(tpm, v2, measurement)

    const signed = await approveCurrentBoot(tpm, owner, fleetId, v2)
    const installed = await installReleaseApproval(
      tpm,
      v2,
      { key: enrolment.ownerKey, fleetId: enrolment.fleetId },
      signed,
      measurement
    )
    assert.equal(installed.resealed, true)
    assert.equal(installed.state.version, 3)
    assert.equal(installed.state.approvals?.length, 1)
    const unlocked = await unlockDevice(tpm, installed.state, measurement)
    assert.equal(unlocked.state.deviceId, v2.deviceId)

    // The version-1 approval is for this very boot state and the owner's signature on it is valid.
    await assert.rejects(releaseSecret(tpm, sealedFromJson(installed.state.mldsa.sealed), v1), {
      name: 'KeyReleaseRefusedError'
    })
  })
})
