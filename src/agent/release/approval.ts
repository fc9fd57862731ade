/** The owner's signed approval of a boot state for one device, and the names its policy binds to. */
import { MalformedInputError, bytesEqual, sha256, toHex, toBase64, fromBase64 } from '../../common/index.js'
import { createHash } from 'node:crypto'
import {
  policyPcr,
  ZERO_POLICY,
  approvePcrState,
  approvedPolicyDigest,
  counterBytes,
  type PcrApproval,
  type PcrSelection,
  type PcrValues,
  type ApprovalEpoch
} from '../../attest/index.js'
import { DOMAIN, verifyHybrid, verifyP256, type HybridPublicKey, type HybridSigner } from '../../identity/index.js'
import { decodeCanonical, encodeCanonical } from '../../codec/index.js'
import { RELEASE_LIMITS } from './limits.js'
import { ReleaseApprovalError, ReleaseRequestRefusedError } from './errors.js'
import type { VerifiedReleaseRequest } from './request.js'

/**
 * policyRef of a device's approvals: an approval for one device is never one for another, and a
 * version-2 (withdrawable) approval is never one of version 1.
 */
export function releasePolicyRef(deviceId: string, version: 1 | 2 = 2): Uint8Array {
  return sha256(`fleet-release-v${version}\0`, deviceId)
}

/**
 * The NV index of a device's approval-epoch counter, in the owner range (0x01000000-0x013FFFFF)
 * and apart from the rollback counters' derivation.
 */
export function approvalEpochIndex(deviceId: string): number {
  return (
    0x01000000 +
    (createHash('sha256').update('fleet-approval-epoch-v1\0').update(deviceId).digest().readUInt32BE(0) & 0x3fffff)
  )
}

/**
 * What the owner signs (canonical CBOR, hybrid-signed with DOMAIN.release). Frozen format:
 *   v1: approvedPolicy = PolicyPCR; policyRef fleet-release-v1 (read only, for devices sealed so);
 *   v2: approvedPolicy = PolicyPCR then PolicyNV(approval-epoch counter ≤ epoch); policyRef
 *       fleet-release-v2; adds `epoch` (8 bytes, big-endian: PolicyNV's operandB).
 */
export interface ReleaseApproval {
  v: 1 | 2
  kind: 'release-approval'
  fleet: Uint8Array
  deviceId: string
  pcrs: Uint8Array
  values: Uint8Array[]
  agentMeasurement: Uint8Array
  approvedPolicy: Uint8Array
  policyRef: Uint8Array
  /** The owner's P-256 signature over approvedPolicy ‖ policyRef (IEEE P1363): what the TPM checks. */
  authorization: Uint8Array
  policyId: string
  issuedAt: number
  /** v2 */
  epoch?: Uint8Array
}

export interface SignedReleaseApproval {
  approval: Uint8Array
  p256: Uint8Array
  mldsa65: Uint8Array
}

const APPROVAL_FIELDS_V1 = [
  'v',
  'kind',
  'fleet',
  'deviceId',
  'pcrs',
  'values',
  'agentMeasurement',
  'approvedPolicy',
  'policyRef',
  'authorization',
  'policyId',
  'issuedAt'
]
  .sort()
  .join(',')
const APPROVAL_FIELDS_V2 = [...APPROVAL_FIELDS_V1.split(','), 'epoch'].sort().join(',')

/**
 * The owner signs an approval of the verified boot state, valid while the device's approval-epoch
 * counter is at most its epoch: the device's current one, or with `withdrawPrevious` the next,
 * which withdraws every earlier approval once the device installs it.
 */
export async function signReleaseApproval(
  owner: HybridSigner,
  input: {
    fleetId: Uint8Array
    deviceId: string
    verified: VerifiedReleaseRequest
    agentMeasurement: Uint8Array
    policyId: string
    now: Date
    withdrawPrevious?: boolean
  }
): Promise<SignedReleaseApproval> {
  const pcrs = input.verified.selection[0]!.pcrs
  const policyRef = releasePolicyRef(input.deviceId)
  const epoch = input.verified.epoch + (input.withdrawPrevious === true ? 1n : 0n)
  if (epoch > 0xffffffffffffffffn)
    throw new ReleaseRequestRefusedError("the device's approval-epoch counter is at its end")
  const approval = await approvePcrState(owner.authority, input.verified.selection, input.verified.values, policyRef, {
    nvIndex: approvalEpochIndex(input.deviceId),
    epoch
  })
  const record: ReleaseApproval = {
    v: 2,
    kind: 'release-approval',
    fleet: input.fleetId,
    deviceId: input.deviceId,
    pcrs: Uint8Array.from(pcrs),
    values: pcrs.map((pcr) => input.verified.values.sha256!.get(pcr)!),
    agentMeasurement: input.agentMeasurement,
    approvedPolicy: new Uint8Array(Buffer.from(approval.approvedPolicy, 'hex')),
    policyRef,
    authorization: new Uint8Array(Buffer.from(approval.signature, 'hex')),
    policyId: input.policyId,
    issuedAt: input.now.getTime(),
    epoch: counterBytes(epoch)
  }
  const bytes = encodeCanonical(record)
  const signature = await owner.sign(DOMAIN.release, bytes)
  return { approval: bytes, p256: signature.p256, mldsa65: signature.mldsa65 }
}

/** Strict decoding, and the checks that need no owner key: the policy digest is the one of the values. */
export function decodeReleaseApproval(bytes: Uint8Array): ReleaseApproval {
  let value: unknown
  try {
    value = decodeCanonical(bytes, { maxBytes: RELEASE_LIMITS.maxApprovalBytes })
  } catch (err) {
    throw new ReleaseApprovalError((err as Error).message)
  }
  const a = value as ReleaseApproval
  const is32 = (v: unknown): boolean => v instanceof Uint8Array && v.length === 32
  const fields = typeof value === 'object' && value !== null ? Object.keys(value).sort().join(',') : ''
  if (
    !((a?.v === 1 && fields === APPROVAL_FIELDS_V1) || (a?.v === 2 && fields === APPROVAL_FIELDS_V2)) ||
    a.kind !== 'release-approval'
  )
    throw new ReleaseApprovalError('not a version-1 or version-2 approval')
  if (a.v === 2 && !(a.epoch instanceof Uint8Array && a.epoch.length === 8))
    throw new ReleaseApprovalError('a field has the wrong type or size')
  if (
    !is32(a.fleet) ||
    typeof a.deviceId !== 'string' ||
    !/^[a-z2-7]{52}$/.test(a.deviceId) ||
    !(a.pcrs instanceof Uint8Array) ||
    a.pcrs.length === 0 ||
    a.pcrs.length > 24 ||
    !Array.isArray(a.values) ||
    a.values.length !== a.pcrs.length ||
    !a.values.every(is32) ||
    !is32(a.agentMeasurement) ||
    !is32(a.approvedPolicy) ||
    !is32(a.policyRef) ||
    !(a.authorization instanceof Uint8Array) ||
    a.authorization.length !== 64 ||
    typeof a.policyId !== 'string' ||
    !/^[0-9a-f]{64}$/.test(a.policyId) ||
    !Number.isSafeInteger(a.issuedAt)
  ) {
    throw new ReleaseApprovalError('a field has the wrong type or size')
  }
  const pcrs = [...a.pcrs]
  if (pcrs.some((pcr, i) => pcr > 23 || (i > 0 && pcr <= pcrs[i - 1]!)))
    throw new ReleaseApprovalError('the PCR list is not ascending PCR numbers')
  const expected =
    a.v === 1
      ? policyPcr(ZERO_POLICY, approvalSelection(a), approvalValues(a))
      : approvedPolicyDigest(approvalSelection(a), approvalValues(a), approvalEpoch(a))
  if (!bytesEqual(expected, a.approvedPolicy))
    throw new ReleaseApprovalError(
      `the approved policy is not the one of its PCR values${a.v === 2 ? ' and epoch' : ''}`
    )
  return a
}

/** The counter and epoch a version-2 approval is bound to; undefined for version 1. */
export function approvalEpoch(a: ReleaseApproval): ApprovalEpoch | undefined {
  return a.v === 2 && a.epoch !== undefined
    ? { nvIndex: approvalEpochIndex(a.deviceId), epoch: Buffer.from(a.epoch).readBigUInt64BE(0) }
    : undefined
}

export function approvalSelection(a: ReleaseApproval): PcrSelection {
  return [{ hash: 'sha256', pcrs: [...a.pcrs] }]
}

export function approvalValues(a: ReleaseApproval): PcrValues {
  return { sha256: new Map([...a.pcrs].map((pcr, i) => [pcr, a.values[i]!])) }
}

/**
 * Everything a device checks before it keeps an approval: version 2 (withdrawable), both halves
 * of the owner's signature, this fleet and device, its sealing PCRs, the policyRef, and the P-256
 * authorization the TPM will check.
 */
export function verifyReleaseApproval(
  signed: SignedReleaseApproval,
  owner: { key: HybridPublicKey; fleetId: Uint8Array },
  device: { deviceId: string; selection: PcrSelection }
): ReleaseApproval {
  const a = decodeReleaseApproval(signed.approval)
  if (a.v !== 2)
    throw new ReleaseApprovalError(
      'a version-1 approval cannot be withdrawn and is no longer installed: ask the owner for a new one'
    )
  try {
    verifyHybrid(owner.key, DOMAIN.release, signed.approval, { p256: signed.p256, mldsa65: signed.mldsa65 })
  } catch (err) {
    throw new ReleaseApprovalError(`not signed by this fleet's owner (${(err as Error).message})`)
  }
  if (!bytesEqual(a.fleet, owner.fleetId)) throw new ReleaseApprovalError('it belongs to another fleet')
  if (a.deviceId !== device.deviceId)
    throw new ReleaseApprovalError(`it is for device ${a.deviceId}, not this one (${device.deviceId})`)
  if (
    device.selection.length !== 1 ||
    device.selection[0]!.hash !== 'sha256' ||
    [...a.pcrs].join(',') !== [...device.selection[0]!.pcrs].sort((x, y) => x - y).join(',')
  ) {
    throw new ReleaseApprovalError(
      `it covers PCRs ${[...a.pcrs].join(',')}, not the ones this device's keys are sealed to`
    )
  }
  if (!bytesEqual(a.policyRef, releasePolicyRef(device.deviceId)))
    throw new ReleaseApprovalError("its policyRef is not this device's")
  if (!verifyP256(owner.key.p256, new Uint8Array(Buffer.concat([a.approvedPolicy, a.policyRef])), a.authorization))
    throw new ReleaseApprovalError("the TPM authorization is not the owner's signature")
  return a
}

/** The form releaseSecret hands to the TPM. */
export function toPcrApproval(a: ReleaseApproval): PcrApproval {
  const values: Record<string, string> = {}
  ;[...a.pcrs].forEach((pcr, i) => {
    values[String(pcr)] = toHex(a.values[i]!)
  })
  const epoch = approvalEpoch(a)
  const approval = {
    selection: approvalSelection(a),
    values,
    approvedPolicy: toHex(a.approvedPolicy),
    policyRef: toHex(a.policyRef),
    signature: toHex(a.authorization)
  }
  return epoch === undefined ? approval : { ...approval, epoch }
}

export function encodeSignedApproval(signed: SignedReleaseApproval): string {
  return `${JSON.stringify(
    {
      version: 1,
      kind: 'release-approval',
      approval: toBase64(signed.approval),
      p256: toBase64(signed.p256),
      mldsa65: toBase64(signed.mldsa65)
    },
    null,
    2
  )}\n`
}

export function parseSignedApproval(bytes: Uint8Array): SignedReleaseApproval {
  const fail = (reason: string): never => {
    throw new MalformedInputError(`release approval file: ${reason}`, { code: 'ERR_MALFORMED_RELEASE_APPROVAL' })
  }
  if (bytes.length > RELEASE_LIMITS.maxApprovalBytes * 2) fail('too large')
  let json: Record<string, unknown>
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>
  } catch {
    return fail('not JSON')
  }
  if (
    typeof json !== 'object' ||
    json === null ||
    json.version !== 1 ||
    json.kind !== 'release-approval' ||
    Object.keys(json).length !== 5
  )
    fail('not a version-1 release approval')
  const field = (name: string, max: number): Uint8Array => {
    const value = json[name]
    if (typeof value !== 'string' || value.length === 0 || value.length > max || !/^[A-Za-z0-9+/]*={0,2}$/.test(value))
      fail(`bad ${name}`)
    return fromBase64(value as string)
  }
  return {
    approval: field('approval', RELEASE_LIMITS.maxApprovalBytes * 2),
    p256: field('p256', 128),
    mldsa65: field('mldsa65', 8192)
  }
}
