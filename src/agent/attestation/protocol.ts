/**
 * Mutual attestation, /fleet/attest/1, on one stream opened by the dialer:
 *
 *   dialer → listener   challenge  {nonce nA, dialer's owner-signed enrolment record}
 *   listener → dialer   response   {nonce nB, listener's record, AK, quote over
 *                                   SHA-256("fleet-attest-v1" ‖ nA ‖ listenerPeerId ‖ dialerPeerId), event log}
 *   dialer → listener   response   {AK, quote over SHA-256("fleet-attest-v1" ‖ nB ‖ dialerPeerId ‖ listenerPeerId), event log}
 *   listener → dialer   verdict    {trusted}
 *
 * Each side judges the other with judgeAttestation: the record is signed by this fleet's owner,
 * names the PeerId that Noise authenticated (else: a stranger, who cannot be the enrolled device,
 * whose Noise key is sealed in that device's TPM), and is not revoked; the quoting AK is the
 * enrolled AK (else: a clone); the quote is over this session's nonce and both PeerIds (so a quote relayed
 * from another session fails); the event log replays to the quoted PCRs and satisfies the fleet's
 * boot policy; the TPM's resetCount, restartCount and clock never go back.
 *
 * The listener quotes for the dialer's nonce only after the dialer's record passed the checks
 * that need no TPM (screenRecord): a stranger presenting another device's record, or a revoked
 * device, costs it no TPM work.
 */
import { createHash } from 'node:crypto'
import {
  verifyBoot,
  verifyQuote,
  parsePublic,
  parseEventLog,
  replayEventLog,
  initialPcrValue,
  type BootPolicy,
  type ClockInfo,
  type Tpm,
  type PcrSelection,
  type HashAlg,
  type PcrValues
} from '../../attest/index.js'
import { FleetError, fromBase64 } from '../../common/index.js'
import { type FramedStream, decodeMessage, encodeMessage, type WireMessage, type WireSchema } from '../../p2p/index.js'
import {
  verifyEnrolmentRecord,
  type DeviceEnrolment,
  type EnrolmentRecord,
  type SignedEnrolment
} from '../enrolment/index.js'
import type { DeviceState } from '../device/index.js'
import { ATTEST_LIMITS } from './limits.js'

export const ATTEST_PROTOCOL = '/fleet/attest/1'

/** Thrown when a peer breaks /fleet/attest/1 or stops it; `peerReason` is the reason it gave, if any. */
export class AttestationProtocolError extends FleetError {
  readonly peerReason: string | undefined
  constructor(reason: string, evidence: { peerReason?: string } = {}) {
    super(`attestation: ${reason}`, { code: 'ERR_ATTESTATION_PROTOCOL' })
    this.peerReason = evidence.peerReason
  }
}

const RECORD_FIELDS = {
  record: { kind: 'bytes', max: 8192 },
  p256: { kind: 'bytes', max: 128 },
  mldsa65: { kind: 'bytes', max: 4096 }
} as const
export const CHALLENGE = { nonce: { kind: 'bytes', size: 32, max: 32 }, ...RECORD_FIELDS } as const satisfies WireSchema
const EVIDENCE = {
  akPub: { kind: 'bytes', max: 1024 },
  quoteAttest: { kind: 'bytes', max: 2048 },
  quoteSignature: { kind: 'bytes', max: 1024 },
  eventLog: { kind: 'bytes', max: ATTEST_LIMITS.maxEventLogBytes },
  /** The attester's PCR values in the policy's order (unverified: used only to explain a mismatch). */
  pcrValues: { kind: 'list', maxItems: 24, item: { kind: 'bytes', max: 64 } }
} as const
export const RESPONSE = {
  nonce: { kind: 'bytes', size: 32, max: 32 },
  ...RECORD_FIELDS,
  ...EVIDENCE
} as const satisfies WireSchema
export const FINAL = { ...EVIDENCE } as const satisfies WireSchema
export const VERDICT = { trusted: { kind: 'bool' } } as const satisfies WireSchema

/** qualifyingData of an attestation quote: this session's nonce, the attester, the verifier. */
export function attestationQuoteData(
  verifierNonce: Uint8Array,
  attesterPeerId: string,
  verifierPeerId: string
): Uint8Array {
  return new Uint8Array(
    createHash('sha256')
      .update('fleet-attest-v1')
      .update(verifierNonce)
      .update(attesterPeerId)
      .update(verifierPeerId)
      .digest()
  )
}

/** What one side presents: its record, and evidence made for the other side's nonce. */
export interface AttestationEvidence {
  signed: SignedEnrolment
  akPub: Uint8Array
  quoteAttest: Uint8Array
  quoteSignature: Uint8Array
  eventLog: Uint8Array
  pcrValues?: Uint8Array[]
}

export type AttestationOutcome =
  | {
      trusted: true
      record: EnrolmentRecord
      signed: SignedEnrolment
      clock: ClockInfo
      quoteHash: Uint8Array
      policyId: string
    }
  | {
      trusted: false
      kind: RefusalKind
      reasons: string[]
      record?: EnrolmentRecord
      quoteHash?: Uint8Array
      policyId: string
    }

/**
 * Why a peer is not trusted. stranger: its record enrols another PeerId (anyone can copy a record;
 * only the device holds its Noise key). clone: the enrolled PeerId quoted with another AK.
 */
export type RefusalKind = 'refused' | 'stranger' | 'clone' | 'revoked' | 'untrusted-boot'
type Refusal = Extract<AttestationOutcome, { trusted: false }>

export interface Judge {
  fleetId: Uint8Array
  ownerKey: DeviceEnrolment['ownerKey']
  policy: BootPolicy
  policyId: string
  isRevoked: (deviceId: string) => boolean
  /** The last TPM clock seen from this device, if any. */
  lastClock: (deviceId: string) => ClockInfo | undefined
}

function clockWentBack(last: ClockInfo | undefined, now: ClockInfo): string | undefined {
  if (last === undefined) return undefined
  if (now.resetCount < last.resetCount) return `TPM resetCount went back (${last.resetCount} → ${now.resetCount})`
  if (now.resetCount === last.resetCount && now.restartCount < last.restartCount)
    return `TPM restartCount went back (${last.restartCount} → ${now.restartCount})`
  if (now.resetCount === last.resetCount && now.restartCount === last.restartCount && now.clock < last.clock)
    return `TPM clock went back (${last.clock} → ${now.clock})`
  return undefined
}

/**
 * The checks of a presented record that need no TPM and no quote: signed by this fleet's owner,
 * not revoked, enrolling the PeerId that Noise authenticated. Returns the record, or why not.
 */
export function screenRecord(
  signed: SignedEnrolment,
  attesterPeerId: string,
  judge: Judge
): { record: EnrolmentRecord } | Refusal {
  const policyId = judge.policyId
  let record: EnrolmentRecord
  try {
    record = verifyEnrolmentRecord(signed, { key: judge.ownerKey, fleetId: judge.fleetId })
  } catch (err) {
    return { trusted: false, kind: 'refused', reasons: [(err as Error).message], policyId }
  }
  if (judge.isRevoked(record.deviceId))
    return { trusted: false, kind: 'revoked', reasons: [`device ${record.deviceId} is revoked`], record, policyId }
  if (record.peerId !== attesterPeerId) {
    return {
      trusted: false,
      kind: 'stranger',
      reasons: [`the record enrols PeerId ${record.peerId}, but the peer is ${attesterPeerId}`],
      record,
      policyId
    }
  }
  return { record }
}

/** Judges one side's evidence. Never throws for bad evidence: it returns why it is not trusted. */
export function judgeAttestation(
  evidence: AttestationEvidence,
  session: { nonce: Uint8Array; attesterPeerId: string; verifierPeerId: string },
  judge: Judge
): AttestationOutcome {
  const policyId = judge.policyId
  const screened = screenRecord(evidence.signed, session.attesterPeerId, judge)
  if ('trusted' in screened) return screened
  const record = screened.record
  if (Buffer.compare(evidence.akPub, record.akPub) !== 0) {
    return {
      trusted: false,
      kind: 'clone',
      reasons: [`device ${record.deviceId} quoted with an AK that is not its enrolled AK`],
      record,
      policyId
    }
  }
  const quoteHash = new Uint8Array(
    createHash('sha256').update(evidence.quoteAttest).update(evidence.quoteSignature).digest()
  )
  try {
    const boot = verifyBoot(
      {
        ak: parsePublic(record.akPub),
        attest: evidence.quoteAttest,
        signature: evidence.quoteSignature,
        nonce: attestationQuoteData(session.nonce, session.attesterPeerId, session.verifierPeerId),
        eventLog: evidence.eventLog
      },
      judge.policy
    )
    if (!boot.verdict.trusted)
      return {
        trusted: false,
        kind: 'untrusted-boot',
        reasons: boot.verdict.reasons.map((r) => r.message),
        record,
        quoteHash,
        policyId
      }
    const back = clockWentBack(judge.lastClock(record.deviceId), boot.quote.clockInfo)
    if (back !== undefined) return { trusted: false, kind: 'refused', reasons: [back], record, quoteHash, policyId }
    return { trusted: true, record, signed: evidence.signed, clock: boot.quote.clockInfo, quoteHash, policyId }
  } catch (err) {
    return {
      trusted: false,
      kind: 'refused',
      reasons: [
        (err as Error).message,
        ...explainMismatch(
          record,
          evidence,
          attestationQuoteData(session.nonce, session.attesterPeerId, session.verifierPeerId),
          judge.policy
        )
      ],
      record,
      quoteHash,
      policyId
    }
  }
}

/**
 * When the event log does not replay to the quoted PCRs: if the PCR values the attester sent are
 * the ones its TPM signed, name each PCR whose value differs from what the log replays to.
 */
function explainMismatch(
  record: EnrolmentRecord,
  evidence: AttestationEvidence,
  qualifyingData: Uint8Array,
  policy: BootPolicy
): string[] {
  const claimed = evidence.pcrValues
  if (claimed === undefined || claimed.length !== policy.pcrs.length) return []
  try {
    const bank = policy.bank as HashAlg
    const values: PcrValues = { [bank]: new Map(policy.pcrs.map((pcr, i) => [pcr, claimed[i]!])) }
    verifyQuote({
      ak: parsePublic(record.akPub),
      attest: evidence.quoteAttest,
      signature: evidence.quoteSignature,
      nonce: qualifyingData,
      pcrs: values
    })
    const log = parseEventLog(evidence.eventLog)
    const replayed = replayEventLog(log, { banks: [bank] })[bank]
    const out: string[] = []
    policy.pcrs.forEach((pcr, i) => {
      const fromLog = replayed?.get(pcr) ?? initialPcrValue(bank, pcr, log.startupLocality)
      if (Buffer.compare(fromLog, claimed[i]!) !== 0) {
        out.push(
          `PCR ${pcr} (${bank}) is ${Buffer.from(claimed[i]!).toString('hex')} in the quote, ` +
            `but the event log replays to ${Buffer.from(fromLog).toString('hex')}: ` +
            'something was measured that the log does not show'
        )
      }
    })
    return out
  } catch {
    return []
  }
}

export interface AttesterInput {
  tpm: Tpm
  state: DeviceState
  enrolment: DeviceEnrolment
  eventLog: () => Promise<Uint8Array>
  random: (n: number) => Uint8Array
  /** The boot policy in force (the owner may have set another since enrolment): its PCRs are quoted. */
  policy?: () => BootPolicy
}

async function makeEvidence(
  self: AttesterInput,
  verifierNonce: Uint8Array,
  verifierPeerId: string
): Promise<Record<string, Uint8Array | Uint8Array[]>> {
  const ak = {
    public: fromBase64(self.state.attestationKey.public),
    private: fromBase64(self.state.attestationKey.private)
  }
  const policy = self.policy?.() ?? self.enrolment.policy
  const selection: PcrSelection = [{ hash: policy.bank as HashAlg, pcrs: [...policy.pcrs] }]
  const quote = await self.tpm.quote(
    ak,
    attestationQuoteData(verifierNonce, self.state.peer.peerId, verifierPeerId),
    selection
  )
  const read = await self.tpm.readPcrs(selection)
  const pcrValues = policy.pcrs.map((pcr) => read[policy.bank as HashAlg]?.get(pcr) ?? new Uint8Array(0))
  return {
    akPub: ak.public,
    quoteAttest: quote.attest,
    quoteSignature: quote.signature,
    eventLog: await self.eventLog(),
    pcrValues
  }
}

function recordFields(enrolment: DeviceEnrolment): Record<string, Uint8Array> {
  return {
    record: enrolment.signed.record,
    p256: enrolment.signed.signature.p256,
    mldsa65: enrolment.signed.signature.mldsa65
  }
}

async function receive<S extends WireSchema>(stream: FramedStream, type: string, schema: S): Promise<WireMessage<S>> {
  const message = decodeMessage(ATTEST_PROTOCOL, await stream.read(), type, schema, ATTEST_LIMITS.maxFrameBytes)
  if (message.t === 'abort') {
    const peerReason = String((message as { reason?: unknown }).reason).slice(0, 200)
    throw new AttestationProtocolError(`the peer stopped: ${peerReason}`, { peerReason })
  }
  return message as WireMessage<S>
}

function evidenceOf(
  m: { record: Uint8Array; p256: Uint8Array; mldsa65: Uint8Array },
  e: {
    akPub: Uint8Array
    quoteAttest: Uint8Array
    quoteSignature: Uint8Array
    eventLog: Uint8Array
    pcrValues: Uint8Array[]
  }
): AttestationEvidence {
  return {
    signed: { record: m.record, signature: { p256: m.p256, mldsa65: m.mldsa65 } },
    akPub: e.akPub,
    quoteAttest: e.quoteAttest,
    quoteSignature: e.quoteSignature,
    eventLog: e.eventLog,
    pcrValues: e.pcrValues
  }
}

/** The dialer's side: returns its judgement of the listener (and whether the listener trusted it). */
export async function attestAsDialer(
  stream: FramedStream,
  self: AttesterInput,
  judge: Judge,
  remotePeerId: string
): Promise<{ outcome: AttestationOutcome; trustedByPeer: boolean; evidence?: AttestationEvidence }> {
  const nonce = self.random(32)
  await stream.write(encodeMessage('challenge', { nonce, ...recordFields(self.enrolment) }))
  const response = await receive(stream, 'response', RESPONSE)
  const evidence = evidenceOf(response, response)
  const outcome = judgeAttestation(
    evidence,
    { nonce, attesterPeerId: remotePeerId, verifierPeerId: self.state.peer.peerId },
    judge
  )
  if (!outcome.trusted) {
    await stream
      .write(encodeMessage('abort', { reason: `not trusted: ${outcome.reasons.join('; ')}`.slice(0, 1024) }))
      .catch(() => undefined)
    await stream.close()
    return { outcome, trustedByPeer: false, evidence }
  }
  await stream.write(encodeMessage('final', await makeEvidence(self, response.nonce, remotePeerId)))
  let trustedByPeer = false
  try {
    trustedByPeer = (await receive(stream, 'verdict', VERDICT)).trusted
  } catch {}
  await stream.close()
  return { outcome, trustedByPeer, evidence }
}

/**
 * The listener's side: screens the dialer's record (no TPM work for a stranger or a revoked
 * device), answers the challenge, then judges the dialer.
 */
export async function attestAsListener(
  stream: FramedStream,
  self: AttesterInput,
  judge: Judge,
  remotePeerId: string
): Promise<{ outcome: AttestationOutcome; evidence?: AttestationEvidence }> {
  const challenge = await receive(stream, 'challenge', CHALLENGE)
  const screened = screenRecord(
    { record: challenge.record, signature: { p256: challenge.p256, mldsa65: challenge.mldsa65 } },
    remotePeerId,
    judge
  )
  if ('trusted' in screened) {
    await stream
      .write(encodeMessage('abort', { reason: `not trusted: ${screened.reasons.join('; ')}`.slice(0, 1024) }))
      .catch(() => undefined)
    await stream.close()
    return { outcome: screened }
  }
  const nonce = self.random(32)
  await stream.write(
    encodeMessage('response', {
      nonce,
      ...recordFields(self.enrolment),
      ...(await makeEvidence(self, challenge.nonce, remotePeerId))
    })
  )
  const final = await receive(stream, 'final', FINAL)
  const evidence = evidenceOf(challenge, final)
  const outcome = judgeAttestation(
    evidence,
    { nonce, attesterPeerId: remotePeerId, verifierPeerId: self.state.peer.peerId },
    judge
  )
  await stream.write(encodeMessage('verdict', { trusted: outcome.trusted })).catch(() => undefined)
  await stream.close()
  return { outcome, evidence }
}

export { ATTEST_LIMITS }
