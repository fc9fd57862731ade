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
 */
import { FleetError, MalformedInputError } from '../common/errors.js'
import { bytesEqual, sha256, toHex } from '../common/bytes.js'
import {
  parsePublic, parseAttest, verifyQuote, parseEventLog, verifyEventLog, bootFacts, evaluateVerifiedBoot, expectedAgentPcr, policyPcr, ZERO_POLICY,
  approvePcrState, extendAgentMeasurement, EVENTLOG_LIMITS, type BootPolicy, type BootVerdict, type PcrApproval, type PcrSelection, type PcrValues, type Tpm, type AgentMeasurement
} from '../attest/index.js'
import { DOMAIN, verifyHybrid, verifyP256, type HybridPublicKey, type HybridSigner } from '../identity/index.js'
import { decodeCanonical, encodeCanonical } from '../ledger/cbor.js'
import { b64, unb64, type DeviceState } from './device-state.js'

export const RELEASE_LIMITS = {
  /** A request file: the event log (base64) and a few hundred bytes more. */
  maxRequestBytes: Math.ceil(EVENTLOG_LIMITS.maxLogBytes * 4 / 3) + 16 * 1024,
  maxApprovalBytes: 16 * 1024,
  /** Approvals a device keeps: the newest ones, so a device can boot the previous state too. */
  maxApprovals: 8
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

/** policyRef of a device's approvals: an approval for one device is never one for another. */
export function releasePolicyRef (deviceId: string): Uint8Array {
  return sha256('fleet-release-v1\0', deviceId)
}

/** The request quote's qualifyingData. */
export function releaseQuoteData (nonce: Uint8Array, deviceId: string): Uint8Array {
  return sha256('fleet-release-request-v1\0', nonce, deviceId)
}

export interface ReleaseRequest {
  deviceId: string
  /** The device's sealing selection (sha256 bank: boot PCRs and the agent PCR). */
  pcrs: number[]
  /** Values of `pcrs`, in order. */
  values: Uint8Array[]
  agentPcr: number
  agentMeasurement: Uint8Array
  nonce: Uint8Array
  quoteAttest: Uint8Array
  quoteSignature: Uint8Array
  eventLog: Uint8Array
}

/** The device's side: quote the sealing PCRs (after measuring the agent) for the owner to judge. */
export async function makeReleaseRequest (tpm: Tpm, state: DeviceState, measurement: AgentMeasurement, eventLog: Uint8Array, random: (n: number) => Uint8Array): Promise<ReleaseRequest> {
  await extendAgentMeasurement(tpm, measurement, state.sealing.agentPcr)
  const selection = state.sealing.selection
  const pcrs = selection[0]!.pcrs.slice()
  const current = await tpm.readPcrs(selection)
  const nonce = random(32)
  const ak = { public: unb64(state.attestationKey.public), private: unb64(state.attestationKey.private) }
  const quote = await tpm.quote(ak, releaseQuoteData(nonce, state.deviceId), selection)
  return {
    deviceId: state.deviceId, pcrs, values: pcrs.map((pcr) => current.sha256!.get(pcr)!), agentPcr: state.sealing.agentPcr,
    agentMeasurement: measurement.digest, nonce, quoteAttest: quote.attest, quoteSignature: quote.signature, eventLog
  }
}

export function encodeReleaseRequest (request: ReleaseRequest): string {
  return JSON.stringify({
    version: 1,
    kind: 'release-request',
    deviceId: request.deviceId,
    pcrs: request.pcrs,
    values: request.values.map(toHex),
    agentPcr: request.agentPcr,
    agentMeasurement: toHex(request.agentMeasurement),
    nonce: toHex(request.nonce),
    quote: { attest: b64(request.quoteAttest), signature: b64(request.quoteSignature) },
    eventLog: b64(request.eventLog)
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
  if (typeof json !== 'object' || json === null || json.version !== 1 || json.kind !== 'release-request') fail('not a version-1 release request')
  const keys = ['version', 'kind', 'deviceId', 'pcrs', 'values', 'agentPcr', 'agentMeasurement', 'nonce', 'quote', 'eventLog']
  for (const key of Object.keys(json)) if (!keys.includes(key)) fail(`unknown field "${key}"`)
  const hex = (value: unknown, field: string): Uint8Array => {
    if (typeof value !== 'string' || !/^[0-9a-f]{64}$/.test(value)) fail(`${field} must be 32 bytes of hex`)
    return new Uint8Array(Buffer.from(value as string, 'hex'))
  }
  const base64 = (value: unknown, field: string, max: number): Uint8Array => {
    if (typeof value !== 'string' || value.length === 0 || value.length > Math.ceil(max * 4 / 3) + 4 || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) fail(`bad ${field}`)
    return unb64(value as string)
  }
  if (typeof json.deviceId !== 'string' || !/^[a-z2-7]{52}$/.test(json.deviceId)) fail('bad deviceId')
  const pcrs = json.pcrs
  if (!Array.isArray(pcrs) || pcrs.length === 0 || pcrs.length > 24 || !pcrs.every((p) => Number.isInteger(p) && p >= 0 && p < 24) || new Set(pcrs).size !== pcrs.length) fail('bad pcrs')
  if (!Array.isArray(json.values) || json.values.length !== (pcrs as number[]).length) fail('values must match pcrs')
  if (!Number.isInteger(json.agentPcr) || !(pcrs as number[]).includes(json.agentPcr as number)) fail('agentPcr must be one of pcrs')
  const quote = json.quote as Record<string, unknown> | null
  if (typeof quote !== 'object' || quote === null) fail('bad quote')
  return {
    deviceId: json.deviceId as string,
    pcrs: pcrs as number[],
    values: (json.values as unknown[]).map((value, i) => hex(value, `values[${i}]`)),
    agentPcr: json.agentPcr as number,
    agentMeasurement: hex(json.agentMeasurement, 'agentMeasurement'),
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
}

/**
 * The owner's check of a request, against the device's enrolled AK and the fleet's boot policy:
 * the quote is the AK's, over exactly the requested PCRs and values; the agent PCR holds one
 * extension with the stated measurement; the event log replays to the boot PCRs; the policy
 * allows the boot. Returns an untrusted verdict (with every reason) for a boot the policy does
 * not allow; throws ReleaseRequestRefusedError for evidence that does not verify.
 */
export function verifyReleaseRequest (request: ReleaseRequest, device: { deviceId: string, akPub: Uint8Array }, policy: BootPolicy, expectAgent?: Uint8Array): VerifiedReleaseRequest {
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
    verifyQuote({ ak: parsePublic(device.akPub), attest: request.quoteAttest, signature: request.quoteSignature, nonce: releaseQuoteData(request.nonce, request.deviceId), pcrs: values })
  } catch (err) {
    if (err instanceof ReleaseRequestRefusedError) throw err
    refuse(`the quote does not verify with the device's enrolled AK: ${(err as Error).message}`)
  }
  if (!bytesEqual(map.get(request.agentPcr)!, expectedAgentPcr({ digest: request.agentMeasurement } as AgentMeasurement))) {
    refuse(`PCR ${request.agentPcr} does not hold exactly one measurement of the agent (${toHex(request.agentMeasurement).slice(0, 16)}…)`)
  }
  if (expectAgent !== undefined && !bytesEqual(expectAgent, request.agentMeasurement)) {
    refuse(`the agent measured is ${toHex(request.agentMeasurement)}, not the expected ${toHex(expectAgent)}`)
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
  return { selection, values, verdict }
}

/** What the owner signs (canonical CBOR, hybrid-signed with DOMAIN.release). */
export interface ReleaseApproval {
  v: 1
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
}

export interface SignedReleaseApproval {
  approval: Uint8Array
  p256: Uint8Array
  mldsa65: Uint8Array
}

const APPROVAL_FIELDS = ['v', 'kind', 'fleet', 'deviceId', 'pcrs', 'values', 'agentMeasurement', 'approvedPolicy', 'policyRef', 'authorization', 'policyId', 'issuedAt'].sort().join(',')

export async function signReleaseApproval (owner: HybridSigner, input: { fleetId: Uint8Array, deviceId: string, verified: VerifiedReleaseRequest, agentMeasurement: Uint8Array, policyId: string, now: Date }): Promise<SignedReleaseApproval> {
  const pcrs = input.verified.selection[0]!.pcrs
  const policyRef = releasePolicyRef(input.deviceId)
  const approval = await approvePcrState(owner.authority, input.verified.selection, input.verified.values, policyRef)
  const record: ReleaseApproval = {
    v: 1, kind: 'release-approval', fleet: input.fleetId, deviceId: input.deviceId, pcrs: Uint8Array.from(pcrs),
    values: pcrs.map((pcr) => input.verified.values.sha256!.get(pcr)!), agentMeasurement: input.agentMeasurement,
    approvedPolicy: new Uint8Array(Buffer.from(approval.approvedPolicy, 'hex')), policyRef, authorization: new Uint8Array(Buffer.from(approval.signature, 'hex')),
    policyId: input.policyId, issuedAt: input.now.getTime()
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
  if (typeof value !== 'object' || value === null || Object.keys(value).sort().join(',') !== APPROVAL_FIELDS || a.v !== 1 || a.kind !== 'release-approval') throw new ReleaseApprovalError('not a version-1 approval')
  if (!is32(a.fleet) || typeof a.deviceId !== 'string' || !/^[a-z2-7]{52}$/.test(a.deviceId) || !(a.pcrs instanceof Uint8Array) || a.pcrs.length === 0 || a.pcrs.length > 24 ||
    !Array.isArray(a.values) || a.values.length !== a.pcrs.length || !a.values.every(is32) || !is32(a.agentMeasurement) || !is32(a.approvedPolicy) || !is32(a.policyRef) ||
    !(a.authorization instanceof Uint8Array) || a.authorization.length !== 64 || typeof a.policyId !== 'string' || !/^[0-9a-f]{64}$/.test(a.policyId) || !Number.isSafeInteger(a.issuedAt)) {
    throw new ReleaseApprovalError('a field has the wrong type or size')
  }
  const pcrs = [...a.pcrs]
  if (pcrs.some((pcr, i) => pcr > 23 || (i > 0 && pcr <= pcrs[i - 1]!))) throw new ReleaseApprovalError('the PCR list is not ascending PCR numbers')
  if (!bytesEqual(policyPcr(ZERO_POLICY, approvalSelection(a), approvalValues(a)), a.approvedPolicy)) throw new ReleaseApprovalError('the approved policy is not the one of its PCR values')
  return a
}

export function approvalSelection (a: ReleaseApproval): PcrSelection {
  return [{ hash: 'sha256', pcrs: [...a.pcrs] }]
}

export function approvalValues (a: ReleaseApproval): PcrValues {
  return { sha256: new Map([...a.pcrs].map((pcr, i) => [pcr, a.values[i]!])) }
}

/**
 * Everything a device checks before it keeps an approval: both halves of the owner's signature,
 * this fleet and device, its sealing PCRs, the policyRef, and the P-256 authorization the TPM
 * will check.
 */
export function verifyReleaseApproval (signed: SignedReleaseApproval, owner: { key: HybridPublicKey, fleetId: Uint8Array }, device: { deviceId: string, selection: PcrSelection }): ReleaseApproval {
  const a = decodeReleaseApproval(signed.approval)
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
  return { selection: approvalSelection(a), values, approvedPolicy: toHex(a.approvedPolicy), policyRef: toHex(a.policyRef), signature: toHex(a.authorization) }
}

export function encodeSignedApproval (signed: SignedReleaseApproval): string {
  return JSON.stringify({ version: 1, kind: 'release-approval', approval: b64(signed.approval), p256: b64(signed.p256), mldsa65: b64(signed.mldsa65) }, null, 2) + '\n'
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
    return unb64(value as string)
  }
  return { approval: field('approval', RELEASE_LIMITS.maxApprovalBytes * 2), p256: field('p256', 128), mldsa65: field('mldsa65', 8192) }
}
