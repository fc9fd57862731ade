/**
 * Owner-authorised key release (TPM2_PolicyAuthorize with the owner as the authority).
 *
 * A device's ML-DSA-65 and libp2p seeds are first sealed to its boot PCRs and agent PCR directly.
 * Once enrolled, the device can have them re-sealed to the fleet owner: from then on they are
 * released under any PCR state the owner has approved, so a legitimate kernel or agent update
 * needs an owner's approval, not a new identity.
 *
 *   device  fleet release request   quote (AK) of the sealing PCRs + the boot event log + the
 *                                   agent's measurement                    → request.json
 *   owner   fleet release approve   verifies the quote against the enrolled AK, replays the log,
 *                                   judges it by the fleet's boot policy, signs the PCR policy
 *                                   (P-256, what the TPM checks) inside a hybrid-signed approval,
 *                                   records device.approve_release in its feed → approval.json
 *   device  fleet release install   checks the owner's signatures and stores the approval; the
 *                                   first one re-seals the seeds to the owner
 *
 * The TPM itself checks the owner's P-256 signature (PolicyAuthorize); the hybrid envelope is
 * checked when the approval is installed, so a forged approval is refused twice.
 *
 * Approvals can be withdrawn. Each device has an approval-epoch counter in its TPM (a monotonic NV
 * counter, approvalEpochIndex); the policy the owner signs is PolicyPCR(boot and agent PCRs) then
 * PolicyNV(counter ≤ epoch), so the owner's signature covers the epoch. An approval made with
 * `withdrawPrevious` is for the epoch after the device's current one: installing it raises the
 * counter, and from then on no approval of an earlier epoch releases the keys, even when the
 * machine boots the state it approved (the counter never goes back). The agent measurement the
 * owner approves must be on the owner's allowlist, not merely the one the device reports.
 *
 * Version 1 approvals (PolicyPCR only, policyRef fleet-release-v1) cannot be withdrawn. The owner
 * signs version 2 only, with another policyRef, so a version-1 signature never satisfies a seal
 * made for version 2; a device whose keys are sealed for version 1 re-seals them at its first
 * version-2 approval.
 */
import { FleetError, MalformedInputError } from '../../common/errors.js'
import { bytesEqual, sha256, toHex } from '../../common/bytes.js'
import { createHash } from 'node:crypto'
import {
  parsePublic, parseAttest, verifyQuote, parseEventLog, verifyEventLog, bootFacts, evaluateVerifiedBoot, expectedAgentPcr, policyPcr, ZERO_POLICY,
  approvePcrState, approvedPolicyDigest, counterBytes, extendAgentMeasurement, EVENTLOG_LIMITS,
  type BootPolicy, type BootVerdict, type PcrApproval, type PcrSelection, type PcrValues, type Tpm, type AgentMeasurement, type ApprovalEpoch
} from '../../attest/index.js'
import { DOMAIN, verifyHybrid, verifyP256, type HybridPublicKey, type HybridSigner } from '../../identity/index.js'
import { decodeCanonical, encodeCanonical } from '../../ledger/cbor.js'
import { toBase64, fromBase64 } from '../../common/bytes.js'

export const RELEASE_LIMITS = {
  /** A request file: the event log (base64) and a few hundred bytes more. */
  maxRequestBytes: Math.ceil(EVENTLOG_LIMITS.maxLogBytes * 4 / 3) + 16 * 1024,
  maxApprovalBytes: 16 * 1024,
  /** Approvals a device keeps: the newest ones, so a device can boot the previous state too. */
  maxApprovals: 8,
  /**
   * How far one installed approval may raise the approval-epoch counter: each step is an NV
   * write, which hardware TPMs rate-limit and wear.
   */
  maxEpochStep: 16n,
  /** Agent measurements in an owner's allowlist file. */
  maxAllowedAgents: 1024
} as const

/** Thrown when a release request does not verify or its boot is not allowed: nothing is signed. */
export class ReleaseRequestRefusedError extends FleetError {
  constructor (reason: string) {
    super(`release request refused: ${reason}`, { code: 'ERR_RELEASE_REQUEST_REFUSED' })
  }
}

/** Thrown when an approval is malformed, not the owner's, or not for this device and state. */
export class ReleaseApprovalError extends FleetError {
  constructor (reason: string) {
    super(`release approval: ${reason}`, { code: 'ERR_RELEASE_APPROVAL' })
  }
}

/**
 * policyRef of a device's approvals: an approval for one device is never one for another, and a
 * version-2 (withdrawable) approval is never one of version 1.
 */
export function releasePolicyRef (deviceId: string, version: 1 | 2 = 2): Uint8Array {
  return sha256(`fleet-release-v${version}\0`, deviceId)
}

/**
 * The NV index of a device's approval-epoch counter, in the owner range (0x01000000-0x013FFFFF)
 * and apart from the rollback counters' derivation.
 */
export function approvalEpochIndex (deviceId: string): number {
  return 0x01000000 + (createHash('sha256').update('fleet-approval-epoch-v1\0').update(deviceId).digest().readUInt32BE(0) & 0x3fffff)
}

/** The request quote's qualifyingData: the nonce, the device, and the epoch it reports. */
export function releaseQuoteData (nonce: Uint8Array, deviceId: string, epoch: bigint): Uint8Array {
  return sha256('fleet-release-request-v2\0', nonce, deviceId, counterBytes(epoch))
}

export interface ReleaseRequest {
  deviceId: string
  /** The device's sealing selection (sha256 bank: boot PCRs and the agent PCR). */
  pcrs: number[]
  /** Values of `pcrs`, in order. */
  values: Uint8Array[]
  agentPcr: number
  agentMeasurement: Uint8Array
  /** The device's approval-epoch counter when it asked. */
  epoch: bigint
  nonce: Uint8Array
  quoteAttest: Uint8Array
  quoteSignature: Uint8Array
  eventLog: Uint8Array
}

/** What a release request needs of the device's state (its state file, read by the device room). */
export interface ReleaseRequester {
  deviceId: string
  sealing: { selection: PcrSelection, agentPcr: number }
  attestationKey: { public: string, private: string }
}

/** The device's side: quote the sealing PCRs (after measuring the agent) for the owner to judge. */
export async function makeReleaseRequest (
  tpm: Tpm, state: ReleaseRequester, measurement: AgentMeasurement, eventLog: Uint8Array, random: (n: number) => Uint8Array
): Promise<ReleaseRequest> {
  await extendAgentMeasurement(tpm, measurement, state.sealing.agentPcr)
  const selection = state.sealing.selection
  const pcrs = selection[0]!.pcrs.slice()
  const current = await tpm.readPcrs(selection)
  const epoch = await tpm.readCounter(approvalEpochIndex(state.deviceId))
  const nonce = random(32)
  const ak = { public: fromBase64(state.attestationKey.public), private: fromBase64(state.attestationKey.private) }
  const quote = await tpm.quote(ak, releaseQuoteData(nonce, state.deviceId, epoch), selection)
  return {
    deviceId: state.deviceId, pcrs, values: pcrs.map((pcr) => current.sha256!.get(pcr)!), agentPcr: state.sealing.agentPcr,
    agentMeasurement: measurement.digest, epoch, nonce, quoteAttest: quote.attest, quoteSignature: quote.signature, eventLog
  }
}

export function encodeReleaseRequest (request: ReleaseRequest): string {
  return JSON.stringify({
    version: 2,
    kind: 'release-request',
    deviceId: request.deviceId,
    pcrs: request.pcrs,
    values: request.values.map(toHex),
    agentPcr: request.agentPcr,
    agentMeasurement: toHex(request.agentMeasurement),
    epoch: toHex(counterBytes(request.epoch)),
    nonce: toHex(request.nonce),
    quote: { attest: toBase64(request.quoteAttest), signature: toBase64(request.quoteSignature) },
    eventLog: toBase64(request.eventLog)
  }, null, 2) + '\n'
}

/** Strict parsing of a request file (every field checked for type and size). */
export function parseReleaseRequest (bytes: Uint8Array): ReleaseRequest {
  const fail = (reason: string): never => { throw new MalformedInputError(`release request: ${reason}`, { code: 'ERR_MALFORMED_RELEASE_REQUEST' }) }
  if (bytes.length > RELEASE_LIMITS.maxRequestBytes) fail(`over ${RELEASE_LIMITS.maxRequestBytes} bytes`)
  let json: Record<string, unknown>
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>
  } catch {
    return fail('not JSON')
  }
  if (typeof json === 'object' && json !== null && json.version === 1 && json.kind === 'release-request') fail('version 1 (from an agent without approval epochs): update the device\'s agent and ask again')
  if (typeof json !== 'object' || json === null || json.version !== 2 || json.kind !== 'release-request') fail('not a version-2 release request')
  const keys = ['version', 'kind', 'deviceId', 'pcrs', 'values', 'agentPcr', 'agentMeasurement', 'epoch', 'nonce', 'quote', 'eventLog']
  for (const key of Object.keys(json)) if (!keys.includes(key)) fail(`unknown field "${key}"`)
  const hex = (value: unknown, field: string): Uint8Array => {
    if (typeof value !== 'string' || !/^[0-9a-f]{64}$/.test(value)) fail(`${field} must be 32 bytes of hex`)
    return new Uint8Array(Buffer.from(value as string, 'hex'))
  }
  const base64 = (value: unknown, field: string, max: number): Uint8Array => {
    if (typeof value !== 'string' || value.length === 0 || value.length > Math.ceil(max * 4 / 3) + 4 || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) fail(`bad ${field}`)
    return fromBase64(value as string)
  }
  if (typeof json.deviceId !== 'string' || !/^[a-z2-7]{52}$/.test(json.deviceId)) fail('bad deviceId')
  const pcrs = json.pcrs
  if (!Array.isArray(pcrs) || pcrs.length === 0 || pcrs.length > 24 || !pcrs.every((p) => Number.isInteger(p) && p >= 0 && p < 24) || new Set(pcrs).size !== pcrs.length) fail('bad pcrs')
  if (!Array.isArray(json.values) || json.values.length !== (pcrs as number[]).length) fail('values must match pcrs')
  if (!Number.isInteger(json.agentPcr) || !(pcrs as number[]).includes(json.agentPcr as number)) fail('agentPcr must be one of pcrs')
  const quote = json.quote as Record<string, unknown> | null
  if (typeof quote !== 'object' || quote === null) fail('bad quote')
  if (typeof json.epoch !== 'string' || !/^[0-9a-f]{16}$/.test(json.epoch)) fail('epoch must be 8 bytes of hex')
  return {
    deviceId: json.deviceId as string,
    pcrs: pcrs as number[],
    values: (json.values as unknown[]).map((value, i) => hex(value, `values[${i}]`)),
    agentPcr: json.agentPcr as number,
    agentMeasurement: hex(json.agentMeasurement, 'agentMeasurement'),
    epoch: BigInt(`0x${json.epoch as string}`),
    nonce: hex(json.nonce, 'nonce'),
    quoteAttest: base64(quote!.attest, 'quote.attest', 2048),
    quoteSignature: base64(quote!.signature, 'quote.signature', 1024),
    eventLog: base64(json.eventLog, 'eventLog', EVENTLOG_LIMITS.maxLogBytes)
  }
}

export interface VerifiedReleaseRequest {
  selection: PcrSelection
  values: PcrValues
  verdict: BootVerdict
  /** The device's approval-epoch counter, as it reported it (bound to the quote). */
  epoch: bigint
}

/**
 * The owner's check of a request, against the device's enrolled AK and the fleet's boot policy:
 * the quote is the AK's, over exactly the requested PCRs and values; the agent PCR holds one
 * extension with the stated measurement; the event log replays to the boot PCRs; the policy
 * allows the boot; the measured agent is one of `allowedAgents`, the owner's allowlist (an empty
 * list allows none). Returns an untrusted verdict (with every reason) for a boot the policy does
 * not allow; throws ReleaseRequestRefusedError for evidence that does not verify.
 */
export function verifyReleaseRequest (request: ReleaseRequest, device: { deviceId: string, akPub: Uint8Array }, policy: BootPolicy, allowedAgents: readonly Uint8Array[]): VerifiedReleaseRequest {
  const refuse = (reason: string): never => { throw new ReleaseRequestRefusedError(reason) }
  if (request.deviceId !== device.deviceId) refuse(`it is from ${request.deviceId}, not ${device.deviceId}`)
  if (policy.bank !== 'sha256') refuse(`the boot policy uses the ${policy.bank} bank; sealing uses sha256`)
  const missing = policy.pcrs.filter((pcr) => !request.pcrs.includes(pcr) || pcr === request.agentPcr)
  if (missing.length > 0) refuse(`the device's keys are not sealed to PCR ${missing.join(', ')}, which the boot policy requires`)
  const selection: PcrSelection = [{ hash: 'sha256', pcrs: request.pcrs.slice().sort((a, b) => a - b) }]
  const map = new Map<number, Uint8Array>()
  request.pcrs.forEach((pcr, i) => map.set(pcr, request.values[i]!))
  const values: PcrValues = { sha256: map }
  try {
    const attest = parseAttest(request.quoteAttest)
    const quoted = attest.attested.kind === 'quote' ? attest.attested.pcrSelect : []
    if (quoted.length !== 1 || quoted[0]!.hash !== 'sha256' || quoted[0]!.pcrs.join(',') !== selection[0]!.pcrs.join(',')) refuse('the quote does not cover exactly the requested PCRs')
    verifyQuote({ ak: parsePublic(device.akPub), attest: request.quoteAttest, signature: request.quoteSignature, nonce: releaseQuoteData(request.nonce, request.deviceId, request.epoch), pcrs: values })
  } catch (err) {
    if (err instanceof ReleaseRequestRefusedError) throw err
    refuse(`the quote does not verify with the device's enrolled AK: ${(err as Error).message}`)
  }
  if (!bytesEqual(map.get(request.agentPcr)!, expectedAgentPcr({ digest: request.agentMeasurement } as AgentMeasurement))) {
    refuse(`PCR ${request.agentPcr} does not hold exactly one measurement of the agent (${toHex(request.agentMeasurement).slice(0, 16)}…)`)
  }
  // PCR agentPcr, quoted, holds exactly this measurement: the allowlist judges what was measured.
  if (!allowedAgents.some((allowed) => bytesEqual(allowed, request.agentMeasurement))) {
    refuse(`the agent measured is ${toHex(request.agentMeasurement)}, not one on the owner's allowlist (${allowedAgents.length} allowed)`)
  }
  const boot = new Map(map)
  boot.delete(request.agentPcr)
  let verdict: BootVerdict
  try {
    const verified = verifyEventLog(parseEventLog(request.eventLog), { sha256: boot })
    verdict = evaluateVerifiedBoot(policy, verified.events, { sha256: boot }, bootFacts(verified, 'sha256').secureBoot)
  } catch (err) {
    return refuse(`the event log does not match the quoted PCRs: ${(err as Error).message}`)
  }
  return { selection, values, verdict, epoch: request.epoch }
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

const APPROVAL_FIELDS_V1 = ['v', 'kind', 'fleet', 'deviceId', 'pcrs', 'values', 'agentMeasurement', 'approvedPolicy', 'policyRef', 'authorization', 'policyId', 'issuedAt'].sort().join(',')
const APPROVAL_FIELDS_V2 = [...APPROVAL_FIELDS_V1.split(','), 'epoch'].sort().join(',')

/**
 * The owner signs an approval of the verified boot state, valid while the device's approval-epoch
 * counter is at most its epoch: the device's current one, or with `withdrawPrevious` the next,
 * which withdraws every earlier approval once the device installs it.
 */
export async function signReleaseApproval (owner: HybridSigner, input: { fleetId: Uint8Array, deviceId: string, verified: VerifiedReleaseRequest, agentMeasurement: Uint8Array, policyId: string, now: Date, withdrawPrevious?: boolean }): Promise<SignedReleaseApproval> {
  const pcrs = input.verified.selection[0]!.pcrs
  const policyRef = releasePolicyRef(input.deviceId)
  const epoch = input.verified.epoch + (input.withdrawPrevious === true ? 1n : 0n)
  if (epoch > 0xffffffffffffffffn) throw new ReleaseRequestRefusedError('the device\'s approval-epoch counter is at its end')
  const approval = await approvePcrState(owner.authority, input.verified.selection, input.verified.values, policyRef, { nvIndex: approvalEpochIndex(input.deviceId), epoch })
  const record: ReleaseApproval = {
    v: 2, kind: 'release-approval', fleet: input.fleetId, deviceId: input.deviceId, pcrs: Uint8Array.from(pcrs),
    values: pcrs.map((pcr) => input.verified.values.sha256!.get(pcr)!), agentMeasurement: input.agentMeasurement,
    approvedPolicy: new Uint8Array(Buffer.from(approval.approvedPolicy, 'hex')), policyRef, authorization: new Uint8Array(Buffer.from(approval.signature, 'hex')),
    policyId: input.policyId, issuedAt: input.now.getTime(), epoch: counterBytes(epoch)
  }
  const bytes = encodeCanonical(record)
  const signature = await owner.sign(DOMAIN.release, bytes)
  return { approval: bytes, p256: signature.p256, mldsa65: signature.mldsa65 }
}

/** Strict decoding, and the checks that need no owner key: the policy digest is the one of the values. */
export function decodeReleaseApproval (bytes: Uint8Array): ReleaseApproval {
  let value: unknown
  try {
    value = decodeCanonical(bytes, { maxBytes: RELEASE_LIMITS.maxApprovalBytes })
  } catch (err) {
    throw new ReleaseApprovalError((err as Error).message)
  }
  const a = value as ReleaseApproval
  const is32 = (v: unknown): boolean => v instanceof Uint8Array && v.length === 32
  const fields = typeof value === 'object' && value !== null ? Object.keys(value).sort().join(',') : ''
  if (!((a?.v === 1 && fields === APPROVAL_FIELDS_V1) || (a?.v === 2 && fields === APPROVAL_FIELDS_V2)) || a.kind !== 'release-approval') throw new ReleaseApprovalError('not a version-1 or version-2 approval')
  if (a.v === 2 && !(a.epoch instanceof Uint8Array && a.epoch.length === 8)) throw new ReleaseApprovalError('a field has the wrong type or size')
  if (!is32(a.fleet) || typeof a.deviceId !== 'string' || !/^[a-z2-7]{52}$/.test(a.deviceId) || !(a.pcrs instanceof Uint8Array) || a.pcrs.length === 0 || a.pcrs.length > 24 ||
    !Array.isArray(a.values) || a.values.length !== a.pcrs.length || !a.values.every(is32) || !is32(a.agentMeasurement) || !is32(a.approvedPolicy) || !is32(a.policyRef) ||
    !(a.authorization instanceof Uint8Array) || a.authorization.length !== 64 || typeof a.policyId !== 'string' || !/^[0-9a-f]{64}$/.test(a.policyId) || !Number.isSafeInteger(a.issuedAt)) {
    throw new ReleaseApprovalError('a field has the wrong type or size')
  }
  const pcrs = [...a.pcrs]
  if (pcrs.some((pcr, i) => pcr > 23 || (i > 0 && pcr <= pcrs[i - 1]!))) throw new ReleaseApprovalError('the PCR list is not ascending PCR numbers')
  const expected = a.v === 1 ? policyPcr(ZERO_POLICY, approvalSelection(a), approvalValues(a)) : approvedPolicyDigest(approvalSelection(a), approvalValues(a), approvalEpoch(a))
  if (!bytesEqual(expected, a.approvedPolicy)) throw new ReleaseApprovalError(`the approved policy is not the one of its PCR values${a.v === 2 ? ' and epoch' : ''}`)
  return a
}

/** The counter and epoch a version-2 approval is bound to; undefined for version 1. */
export function approvalEpoch (a: ReleaseApproval): ApprovalEpoch | undefined {
  return a.v === 2 && a.epoch !== undefined ? { nvIndex: approvalEpochIndex(a.deviceId), epoch: Buffer.from(a.epoch).readBigUInt64BE(0) } : undefined
}

export function approvalSelection (a: ReleaseApproval): PcrSelection {
  return [{ hash: 'sha256', pcrs: [...a.pcrs] }]
}

export function approvalValues (a: ReleaseApproval): PcrValues {
  return { sha256: new Map([...a.pcrs].map((pcr, i) => [pcr, a.values[i]!])) }
}

/**
 * Everything a device checks before it keeps an approval: version 2 (withdrawable), both halves
 * of the owner's signature, this fleet and device, its sealing PCRs, the policyRef, and the P-256
 * authorization the TPM will check.
 */
export function verifyReleaseApproval (signed: SignedReleaseApproval, owner: { key: HybridPublicKey, fleetId: Uint8Array }, device: { deviceId: string, selection: PcrSelection }): ReleaseApproval {
  const a = decodeReleaseApproval(signed.approval)
  if (a.v !== 2) throw new ReleaseApprovalError('a version-1 approval cannot be withdrawn and is no longer installed: ask the owner for a new one')
  try {
    verifyHybrid(owner.key, DOMAIN.release, signed.approval, { p256: signed.p256, mldsa65: signed.mldsa65 })
  } catch (err) {
    throw new ReleaseApprovalError(`not signed by this fleet's owner (${(err as Error).message})`)
  }
  if (!bytesEqual(a.fleet, owner.fleetId)) throw new ReleaseApprovalError('it belongs to another fleet')
  if (a.deviceId !== device.deviceId) throw new ReleaseApprovalError(`it is for device ${a.deviceId}, not this one (${device.deviceId})`)
  if (device.selection.length !== 1 || device.selection[0]!.hash !== 'sha256' || [...a.pcrs].join(',') !== [...device.selection[0]!.pcrs].sort((x, y) => x - y).join(',')) {
    throw new ReleaseApprovalError(`it covers PCRs ${[...a.pcrs].join(',')}, not the ones this device's keys are sealed to`)
  }
  if (!bytesEqual(a.policyRef, releasePolicyRef(device.deviceId))) throw new ReleaseApprovalError('its policyRef is not this device\'s')
  if (!verifyP256(owner.key.p256, new Uint8Array(Buffer.concat([a.approvedPolicy, a.policyRef])), a.authorization)) throw new ReleaseApprovalError('the TPM authorization is not the owner\'s signature')
  return a
}

/** The form releaseSecret hands to the TPM. */
export function toPcrApproval (a: ReleaseApproval): PcrApproval {
  const values: Record<string, string> = {}
  ;[...a.pcrs].forEach((pcr, i) => { values[String(pcr)] = toHex(a.values[i]!) })
  const epoch = approvalEpoch(a)
  const approval = { selection: approvalSelection(a), values, approvedPolicy: toHex(a.approvedPolicy), policyRef: toHex(a.policyRef), signature: toHex(a.authorization) }
  return epoch === undefined ? approval : { ...approval, epoch }
}

/** The owner's allowlist of agent measurements, in its state directory unless named otherwise. */
export const AGENT_ALLOWLIST_FILE = 'agent-allowlist'

/**
 * Parses an agent allowlist: one agent measurement (64 hex digits) per line; blank lines and
 * lines starting with # are ignored; anything else is refused, as is a list with no entry.
 */
export function parseAgentAllowlist (bytes: Uint8Array): Uint8Array[] {
  const fail = (reason: string): never => { throw new MalformedInputError(`agent allowlist: ${reason}`, { code: 'ERR_MALFORMED_AGENT_ALLOWLIST' }) }
  const allowed: Uint8Array[] = []
  Buffer.from(bytes).toString('utf8').split('\n').forEach((raw, i) => {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) return
    if (!/^[0-9a-f]{64}$/.test(line)) fail(`line ${i + 1} is not an agent measurement (64 lowercase hex digits)`)
    if (allowed.length >= RELEASE_LIMITS.maxAllowedAgents) fail(`more than ${RELEASE_LIMITS.maxAllowedAgents} entries`)
    allowed.push(new Uint8Array(Buffer.from(line, 'hex')))
  })
  if (allowed.length === 0) fail('no agent measurement in it: it would allow none')
  return allowed
}

export function encodeSignedApproval (signed: SignedReleaseApproval): string {
  return JSON.stringify({ version: 1, kind: 'release-approval', approval: toBase64(signed.approval), p256: toBase64(signed.p256), mldsa65: toBase64(signed.mldsa65) }, null, 2) + '\n'
}

export function parseSignedApproval (bytes: Uint8Array): SignedReleaseApproval {
  const fail = (reason: string): never => { throw new MalformedInputError(`release approval file: ${reason}`, { code: 'ERR_MALFORMED_RELEASE_APPROVAL' }) }
  if (bytes.length > RELEASE_LIMITS.maxApprovalBytes * 2) fail('too large')
  let json: Record<string, unknown>
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>
  } catch {
    return fail('not JSON')
  }
  if (typeof json !== 'object' || json === null || json.version !== 1 || json.kind !== 'release-approval' || Object.keys(json).length !== 5) fail('not a version-1 release approval')
  const field = (name: string, max: number): Uint8Array => {
    const value = json[name]
    if (typeof value !== 'string' || value.length === 0 || value.length > max || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) fail(`bad ${name}`)
    return fromBase64(value as string)
  }
  return { approval: field('approval', RELEASE_LIMITS.maxApprovalBytes * 2), p256: field('p256', 128), mldsa65: field('mldsa65', 8192) }
}
