/**
 * Withdrawable approvals, checked by the TPM itself (swtpm): an authority's approval is
 * PolicyPCR ∧ PolicyNV(approval-epoch counter ≤ E). Raising the counter past E withdraws every
 * approval of an epoch below, even when the machine is back in the approved boot state.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import {
  EsysTpm,
  sealToAuthority,
  approvePcrState,
  releaseSecret,
  approvedPolicyDigest,
  policyPcr,
  ZERO_POLICY,
  type SwtpmDevice,
  type PcrSelection
} from '../../src/attest/index.js'
import { softwareP256Signer } from '../../src/identity/index.js'
import { haveSwtpm, startDevice, stopAllDevices } from '../helpers/devices.js'

describe('attest: approvals withdrawn through the approval-epoch counter (swtpm)', function () {
  this.timeout(60_000)
  let device: SwtpmDevice
  let tpm: EsysTpm
  const nvIndex = 0x01000b00
  const selection: PcrSelection = [{ hash: 'sha256', pcrs: [0, 7, 16] }]
  const authority = softwareP256Signer()
  const policyRef = randomBytes(32)

  before(async function () {
    if (!haveSwtpm()) this.skip()
    device = await startDevice()
    tpm = await EsysTpm.open({ tcti: device.tcti })
  })

  after(async () => {
    await tpm?.close()
    await stopAllDevices()
  })

  it('an approval of boot A at epoch E stops releasing the keys once the counter passes E, even back in boot A; B approved at E+1 still works', async () => {
    const secret = randomBytes(32)
    const sealed = await sealToAuthority(tpm, secret, selection, authority.publicKey, policyRef)
    const epoch = await tpm.readCounter(nvIndex)
    const bootA = await tpm.readPcrs(selection)
    const approvalA = await approvePcrState(authority, selection, bootA, policyRef, { nvIndex, epoch })
    assert.deepEqual(Buffer.from(await releaseSecret(tpm, sealed, approvalA)), secret)

    // An update to boot B (PCR 16 moves); the owner approves B at the next epoch, and the device,
    // installing it, raises the counter: A is withdrawn.
    const update = randomBytes(32)
    await tpm.extendPcr(16, { sha256: update })
    const bootB = await tpm.readPcrs(selection)
    const approvalB = await approvePcrState(authority, selection, bootB, policyRef, { nvIndex, epoch: epoch + 1n })
    assert.equal(await tpm.incrementCounter(nvIndex), epoch + 1n)
    assert.deepEqual(Buffer.from(await releaseSecret(tpm, sealed, approvalB)), secret)

    // Rebooted into boot A: the owner's signature on A is still valid and the PCRs match it, yet
    // the TPM refuses.
    await tpm.close()
    await device.reboot()
    tpm = await EsysTpm.open({ tcti: device.tcti })
    assert.deepEqual(await tpm.readPcrs(selection), bootA)
    await assert.rejects(
      releaseSecret(tpm, sealed, approvalA),
      (err: Error & { epoch?: bigint; counter?: bigint }) =>
        err.name === 'ApprovalWithdrawnError' && err.epoch === epoch && err.counter === epoch + 1n
    )
    // Booted into B again: released.
    await tpm.extendPcr(16, { sha256: update })
    assert.deepEqual(Buffer.from(await releaseSecret(tpm, sealed, approvalB)), secret)
  })

  it('the approved policy names the counter and the epoch: PCR-only approvals differ, and so do other epochs', async () => {
    const values = await tpm.readPcrs(selection)
    const a = approvedPolicyDigest(selection, values, { nvIndex, epoch: 5n })
    assert.notDeepEqual(Buffer.from(a), Buffer.from(policyPcr(ZERO_POLICY, selection, values)))
    assert.notDeepEqual(Buffer.from(a), Buffer.from(approvedPolicyDigest(selection, values, { nvIndex, epoch: 6n })))
    assert.notDeepEqual(
      Buffer.from(a),
      Buffer.from(approvedPolicyDigest(selection, values, { nvIndex: nvIndex + 1, epoch: 5n }))
    )
  })
})
