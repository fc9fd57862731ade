/**
 * Release approvals checked by the device before it keeps one (pure: software owner keys). The
 * swtpm end-to-end path, with the TPM's own PolicyAuthorize check, is in test/cli/release.test.ts.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import {
  signReleaseApproval,
  verifyReleaseApproval,
  decodeReleaseApproval,
  parseReleaseRequest,
  encodeReleaseRequest,
  parseSignedApproval,
  encodeSignedApproval,
  releasePolicyRef,
  approvalEpoch,
  approvalEpochIndex,
  parseAgentAllowlist,
  toPcrApproval,
  ReleaseApprovalError
} from '../../../src/agent/release/index.js'
import { HybridSigner, softwareP256Signer, nodeMlDsa65 } from '../../../src/identity/index.js'
import { encodeCanonical, decodeCanonical } from '../../../src/codec/index.js'
import { approvedPolicyDigest, policyPcr, ZERO_POLICY, type PcrSelection } from '../../../src/attest/index.js'

describe('agent: release approvals', () => {
  const fleetId = new Uint8Array(32).fill(1)
  const deviceId = 'a'.repeat(52)
  const pcrs = [0, 4, 7, 23]
  const selection: PcrSelection = [{ hash: 'sha256', pcrs }]
  const verified = {
    selection,
    values: { sha256: new Map(pcrs.map((pcr) => [pcr, new Uint8Array(32).fill(pcr + 1)])) },
    verdict: { trusted: true, reasons: [] },
    epoch: 7n
  } as unknown as Parameters<typeof signReleaseApproval>[1]['verified']
  const makeOwner = (): HybridSigner => new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32)))
  const owner = makeOwner()
  const ownerView = { key: owner.publicKey, fleetId }
  const sign = async (
    signer = owner,
    id = deviceId,
    withdrawPrevious = false
  ): Promise<Awaited<ReturnType<typeof signReleaseApproval>>> =>
    await signReleaseApproval(signer, {
      fleetId,
      deviceId: id,
      verified,
      agentMeasurement: new Uint8Array(32).fill(9),
      policyId: 'c'.repeat(64),
      now: new Date(),
      withdrawPrevious
    })

  it("an owner-signed approval of this device's sealing PCRs is kept; its file form round-trips", async () => {
    const signed = parseSignedApproval(new Uint8Array(Buffer.from(encodeSignedApproval(await sign()))))
    const approval = verifyReleaseApproval(signed, ownerView, { deviceId, selection })
    assert.deepEqual([...approval.pcrs], pcrs)
    assert.deepEqual(Buffer.from(approval.policyRef), Buffer.from(releasePolicyRef(deviceId)))
  })

  it('refuses another owner, another fleet, another device and other PCRs', async () => {
    await assert.rejects(
      async () => verifyReleaseApproval(await sign(makeOwner()), ownerView, { deviceId, selection }),
      /not signed by this fleet's owner/
    )
    assert.throws(
      () =>
        verifyReleaseApproval(
          signedOnce!,
          { key: owner.publicKey, fleetId: new Uint8Array(32).fill(2) },
          { deviceId, selection }
        ),
      /another fleet/
    )
    assert.throws(
      () => verifyReleaseApproval(signedOnce!, ownerView, { deviceId: 'b'.repeat(52), selection }),
      /for device a+, not this one/
    )
    assert.throws(
      () =>
        verifyReleaseApproval(signedOnce!, ownerView, { deviceId, selection: [{ hash: 'sha256', pcrs: [0, 7, 23] }] }),
      /covers PCRs 0,4,7,23/
    )
  })

  let signedOnce: Awaited<ReturnType<typeof signReleaseApproval>> | undefined
  before(async () => {
    signedOnce = await sign()
  })

  it("refuses a validly enveloped approval whose TPM authorization is not the owner's, or whose values were changed", async () => {
    const fields = decodeCanonical(signedOnce!.approval) as Record<string, unknown>
    const forgedAuth = encodeCanonical({ ...fields, authorization: new Uint8Array(64).fill(7) })
    const resigned = await owner.sign('release-approval', forgedAuth)
    assert.throws(
      () => verifyReleaseApproval({ approval: forgedAuth, ...resigned }, ownerView, { deviceId, selection }),
      /TPM authorization is not the owner's/
    )
    const values = (fields.values as Uint8Array[]).map((v) => v.slice())
    values[1]![0]! ^= 1
    assert.throws(
      () => decodeReleaseApproval(encodeCanonical({ ...fields, values })),
      (err: Error) => err instanceof ReleaseApprovalError && /not the one of its PCR values/.test(err.message)
    )
    assert.throws(
      () => decodeReleaseApproval(encodeCanonical({ ...fields, extra: 1 })),
      /not a version-1 or version-2 approval/
    )
    assert.throws(() => decodeReleaseApproval(new Uint8Array([0xff])), ReleaseApprovalError)
  })

  it('parses requests strictly: unknown fields, short digests and oversized input are typed errors', () => {
    const request = {
      deviceId,
      pcrs,
      values: pcrs.map(() => new Uint8Array(32)),
      agentPcr: 23,
      agentMeasurement: new Uint8Array(32),
      epoch: 0x1_0000_0001n,
      nonce: new Uint8Array(32),
      quoteAttest: new Uint8Array(10),
      quoteSignature: new Uint8Array(10),
      eventLog: new Uint8Array(10)
    }
    const text = encodeReleaseRequest(request)
    assert.equal(parseReleaseRequest(new Uint8Array(Buffer.from(text))).agentPcr, 23)
    assert.equal(parseReleaseRequest(new Uint8Array(Buffer.from(text))).epoch, 0x1_0000_0001n)
    const json = JSON.parse(text) as Record<string, unknown>
    const bad = (value: unknown): Uint8Array => new Uint8Array(Buffer.from(JSON.stringify(value)))
    assert.throws(() => parseReleaseRequest(bad({ ...json, extra: 1 })), /unknown field "extra"/)
    assert.throws(() => parseReleaseRequest(bad({ ...json, nonce: 'ab' })), /nonce must be 32 bytes/)
    assert.throws(() => parseReleaseRequest(bad({ ...json, agentPcr: 9 })), /agentPcr must be one of pcrs/)
    assert.throws(() => parseReleaseRequest(new Uint8Array(30 * 1024 * 1024)), /over \d+ bytes/)
    assert.throws(() => parseReleaseRequest(bad({ ...json, epoch: 1 })), /epoch must be 8 bytes of hex/)
    const { epoch: _, ...old } = json
    assert.throws(() => parseReleaseRequest(bad({ ...old, version: 1 })), /version 1 .*update the device's agent/)
  })

  it("an approval is bound to the device's approval-epoch counter and its epoch: PolicyPCR then PolicyNV, under the version-2 policyRef", async () => {
    const approval = decodeReleaseApproval(signedOnce!.approval)
    assert.equal(approval.v, 2)
    assert.deepEqual(approvalEpoch(approval), { nvIndex: approvalEpochIndex(deviceId), epoch: 7n })
    assert.deepEqual(
      Buffer.from(approval.approvedPolicy),
      Buffer.from(
        approvedPolicyDigest(selection, verified.values, { nvIndex: approvalEpochIndex(deviceId), epoch: 7n })
      )
    )
    assert.notDeepEqual(Buffer.from(approval.policyRef), Buffer.from(releasePolicyRef(deviceId, 1)))
    assert.equal(toPcrApproval(approval).epoch?.epoch, 7n)
    // With withdrawPrevious, the next epoch: installing it raises the counter past every earlier approval.
    assert.equal(approvalEpoch(decodeReleaseApproval((await sign(owner, deviceId, true)).approval))?.epoch, 8n)
    assert.ok(approvalEpochIndex(deviceId) >= 0x01000000 && approvalEpochIndex(deviceId) <= 0x013fffff)
  })

  it('an approval whose epoch was moved to an unwithdrawn one without the owner re-signing is refused', () => {
    const fields = decodeCanonical(signedOnce!.approval) as Record<string, unknown>
    const later = new Uint8Array(8)
    later[7] = 99
    assert.throws(
      () => decodeReleaseApproval(encodeCanonical({ ...fields, epoch: later })),
      /not the one of its PCR values and epoch/
    )
    assert.throws(
      () => decodeReleaseApproval(encodeCanonical({ ...fields, epoch: new Uint8Array(4) })),
      /wrong type or size/
    )
  })

  it('a version-1 approval (PolicyPCR only: it could never be withdrawn) is not installed, even signed by the owner', async () => {
    const fields = decodeCanonical(signedOnce!.approval) as Record<string, unknown>
    const { epoch: _, ...rest } = fields
    const v1 = encodeCanonical({
      ...rest,
      v: 1,
      approvedPolicy: policyPcr(ZERO_POLICY, selection, verified.values),
      policyRef: releasePolicyRef(deviceId, 1)
    })
    assert.equal(decodeReleaseApproval(v1).v, 1)
    const signature = await owner.sign('release-approval', v1)
    assert.throws(
      () => verifyReleaseApproval({ approval: v1, ...signature }, ownerView, { deviceId, selection }),
      /version-1 approval cannot be withdrawn/
    )
  })

  it("parses the owner's agent allowlist strictly: comments and blank lines only besides measurements, and never an empty list", () => {
    const text = (t: string): Uint8Array => new Uint8Array(Buffer.from(t))
    assert.equal(parseAgentAllowlist(text(`# fleet 1.4\n${'ab'.repeat(32)}\n\n${'cd'.repeat(32)}\n`)).length, 2)
    assert.throws(() => parseAgentAllowlist(text('# nothing\n')), /it would allow none/)
    assert.throws(() => parseAgentAllowlist(text(`${'ab'.repeat(31)}\n`)), /line 1 is not an agent measurement/)
    assert.throws(() => parseAgentAllowlist(text(`${'AB'.repeat(32)}\n`)), /line 1/)
  })
})
