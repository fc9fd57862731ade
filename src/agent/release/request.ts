/**
 * The device's release request: a quote of its sealing PCRs, its boot event log and its agent
 * measurement, for the owner to judge; and the owner's allowlist of agent measurements.
 */
import { MalformedInputError, bytesEqual, sha256, toHex, toBase64, fromBase64 } from '../../common/index.js'
import {
  parsePublic,
  parseAttest,
  verifyQuote,
  parseEventLog,
  verifyEventLog,
  bootFacts,
  evaluateVerifiedBoot,
  expectedAgentPcr,
  counterBytes,
  extendAgentMeasurement,
  EVENTLOG_LIMITS,
  type BootPolicy,
  type BootVerdict,
  type PcrSelection,
  type PcrValues,
  type Tpm,
  type AgentMeasurement
} from '../../attest/index.js'
import { RELEASE_LIMITS } from './limits.js'
import { ReleaseRequestRefusedError } from './errors.js'
import { approvalEpochIndex } from './approval.js'

/** The request quote's qualifyingData: the nonce, the device, and the epoch it reports. */
export function releaseQuoteData(nonce: Uint8Array, deviceId: string, epoch: bigint): Uint8Array {
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
  sealing: { selection: PcrSelection; agentPcr: number }
  attestationKey: { public: string; private: string }
}

/** The device's side: quote the sealing PCRs (after measuring the agent) for the owner to judge. */
export async function makeReleaseRequest(
  tpm: Tpm,
  state: ReleaseRequester,
  measurement: AgentMeasurement,
  eventLog: Uint8Array,
  random: (n: number) => Uint8Array
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
    deviceId: state.deviceId,
    pcrs,
    values: pcrs.map((pcr) => current.sha256!.get(pcr)!),
    agentPcr: state.sealing.agentPcr,
    agentMeasurement: measurement.digest,
    epoch,
    nonce,
    quoteAttest: quote.attest,
    quoteSignature: quote.signature,
    eventLog
  }
}

export function encodeReleaseRequest(request: ReleaseRequest): string {
  return `${JSON.stringify(
    {
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
    },
    null,
    2
  )}\n`
}

/** Strict parsing of a request file (every field checked for type and size). */
export function parseReleaseRequest(bytes: Uint8Array): ReleaseRequest {
  const fail = (reason: string): never => {
    throw new MalformedInputError(`release request: ${reason}`, { code: 'ERR_MALFORMED_RELEASE_REQUEST' })
  }
  if (bytes.length > RELEASE_LIMITS.maxRequestBytes) fail(`over ${RELEASE_LIMITS.maxRequestBytes} bytes`)
  let json: Record<string, unknown>
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>
  } catch {
    return fail('not JSON')
  }
  if (typeof json === 'object' && json !== null && json.version === 1 && json.kind === 'release-request')
    fail("version 1 (from an agent without approval epochs): update the device's agent and ask again")
  if (typeof json !== 'object' || json === null || json.version !== 2 || json.kind !== 'release-request')
    fail('not a version-2 release request')
  const keys = [
    'version',
    'kind',
    'deviceId',
    'pcrs',
    'values',
    'agentPcr',
    'agentMeasurement',
    'epoch',
    'nonce',
    'quote',
    'eventLog'
  ]
  for (const key of Object.keys(json)) if (!keys.includes(key)) fail(`unknown field "${key}"`)
  const hex = (value: unknown, field: string): Uint8Array => {
    if (typeof value !== 'string' || !/^[0-9a-f]{64}$/.test(value)) fail(`${field} must be 32 bytes of hex`)
    return new Uint8Array(Buffer.from(value as string, 'hex'))
  }
  const base64 = (value: unknown, field: string, max: number): Uint8Array => {
    if (
      typeof value !== 'string' ||
      value.length === 0 ||
      value.length > Math.ceil((max * 4) / 3) + 4 ||
      !/^[A-Za-z0-9+/]*={0,2}$/.test(value)
    )
      fail(`bad ${field}`)
    return fromBase64(value as string)
  }
  if (typeof json.deviceId !== 'string' || !/^[a-z2-7]{52}$/.test(json.deviceId)) fail('bad deviceId')
  const pcrs = json.pcrs
  if (
    !Array.isArray(pcrs) ||
    pcrs.length === 0 ||
    pcrs.length > 24 ||
    !pcrs.every((p) => Number.isInteger(p) && p >= 0 && p < 24) ||
    new Set(pcrs).size !== pcrs.length
  )
    fail('bad pcrs')
  if (!Array.isArray(json.values) || json.values.length !== (pcrs as number[]).length) fail('values must match pcrs')
  if (!Number.isInteger(json.agentPcr) || !(pcrs as number[]).includes(json.agentPcr as number))
    fail('agentPcr must be one of pcrs')
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
export function verifyReleaseRequest(
  request: ReleaseRequest,
  device: { deviceId: string; akPub: Uint8Array },
  policy: BootPolicy,
  allowedAgents: readonly Uint8Array[]
): VerifiedReleaseRequest {
  const refuse = (reason: string): never => {
    throw new ReleaseRequestRefusedError(reason)
  }
  if (request.deviceId !== device.deviceId) refuse(`it is from ${request.deviceId}, not ${device.deviceId}`)
  if (policy.bank !== 'sha256') refuse(`the boot policy uses the ${policy.bank} bank; sealing uses sha256`)
  const missing = policy.pcrs.filter((pcr) => !request.pcrs.includes(pcr) || pcr === request.agentPcr)
  if (missing.length > 0)
    refuse(`the device's keys are not sealed to PCR ${missing.join(', ')}, which the boot policy requires`)
  const selection: PcrSelection = [{ hash: 'sha256', pcrs: request.pcrs.slice().sort((a, b) => a - b) }]
  const map = new Map<number, Uint8Array>()
  for (const [i, pcr] of request.pcrs.entries()) map.set(pcr, request.values[i]!)
  const values: PcrValues = { sha256: map }
  try {
    const attest = parseAttest(request.quoteAttest)
    const quoted = attest.attested.kind === 'quote' ? attest.attested.pcrSelect : []
    if (
      quoted.length !== 1 ||
      quoted[0]!.hash !== 'sha256' ||
      quoted[0]!.pcrs.join(',') !== selection[0]!.pcrs.join(',')
    )
      refuse('the quote does not cover exactly the requested PCRs')
    verifyQuote({
      ak: parsePublic(device.akPub),
      attest: request.quoteAttest,
      signature: request.quoteSignature,
      nonce: releaseQuoteData(request.nonce, request.deviceId, request.epoch),
      pcrs: values
    })
  } catch (err) {
    if (err instanceof ReleaseRequestRefusedError) throw err
    refuse(`the quote does not verify with the device's enrolled AK: ${(err as Error).message}`)
  }
  if (
    !bytesEqual(map.get(request.agentPcr)!, expectedAgentPcr({ digest: request.agentMeasurement } as AgentMeasurement))
  ) {
    refuse(
      `PCR ${request.agentPcr} does not hold exactly one measurement of the agent (${toHex(request.agentMeasurement).slice(0, 16)}…)`
    )
  }
  // PCR agentPcr, quoted, holds exactly this measurement: the allowlist judges what was measured.
  if (!allowedAgents.some((allowed) => bytesEqual(allowed, request.agentMeasurement))) {
    refuse(
      `the agent measured is ${toHex(request.agentMeasurement)}, not one on the owner's allowlist (${allowedAgents.length} allowed)`
    )
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

/** The owner's allowlist of agent measurements, in its state directory unless named otherwise. */
export const AGENT_ALLOWLIST_FILE = 'agent-allowlist'

/**
 * Parses an agent allowlist: one agent measurement (64 hex digits) per line; blank lines and
 * lines starting with # are ignored; anything else is refused, as is a list with no entry.
 */
export function parseAgentAllowlist(bytes: Uint8Array): Uint8Array[] {
  const fail = (reason: string): never => {
    throw new MalformedInputError(`agent allowlist: ${reason}`, { code: 'ERR_MALFORMED_AGENT_ALLOWLIST' })
  }
  const allowed: Uint8Array[] = []
  Buffer.from(bytes)
    .toString('utf8')
    .split('\n')
    .forEach((raw, i) => {
      const line = raw.trim()
      if (line === '' || line.startsWith('#')) return
      if (!/^[0-9a-f]{64}$/.test(line)) fail(`line ${i + 1} is not an agent measurement (64 lowercase hex digits)`)
      if (allowed.length >= RELEASE_LIMITS.maxAllowedAgents)
        fail(`more than ${RELEASE_LIMITS.maxAllowedAgents} entries`)
      allowed.push(new Uint8Array(Buffer.from(line, 'hex')))
    })
  if (allowed.length === 0) fail('no agent measurement in it: it would allow none')
  return allowed
}
