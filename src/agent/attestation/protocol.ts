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
import type { BootPolicy, Tpm, PcrSelection, HashAlg } from '../../attest/index.js'
import { FleetError, fromBase64 } from '../../common/index.js'
import { type FramedStream, decodeMessage, encodeMessage, type WireMessage, type WireSchema } from '../../p2p/index.js'
import type { DeviceEnrolment } from '../enrolment/index.js'
import type { DeviceState } from '../device/index.js'
import {
  attestationQuoteData,
  judgeAttestation,
  screenRecord,
  type AttestationEvidence,
  type AttestationOutcome,
  type Judge
} from './judge.js'
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
