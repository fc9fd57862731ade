/** The judge: turns a peer's enrolment record, quote and event log into a verdict (pure, no I/O). */
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
  type HashAlg,
  type PcrValues
} from '../../attest/index.js'
import {
  verifyEnrolmentRecord,
  type DeviceEnrolment,
  type EnrolmentRecord,
  type SignedEnrolment
} from '../enrolment/index.js'

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
      /** For an untrusted boot: the boot policy's reason codes (what an attestation result maps). */
      codes?: string[]
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
        codes: boot.verdict.reasons.map((r) => r.code),
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
