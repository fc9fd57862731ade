import type crypto from 'node:crypto'
import type { PcrValues } from './pcrs.js'
import { parseAttest, verifyQuote, type TpmPublic, type VerifiedQuote } from './tpm2/index.js'
import {
  parseEventLog,
  replayEventLog,
  verifyEventLog,
  bootFacts,
  initialPcrValue,
  EV,
  type BootFacts,
  type UnverifiedEventLog,
  type VerifiedEventLog
} from './eventlog/index.js'
import { evaluateVerifiedBoot, type BootPolicy, type BootVerdict } from './policy/index.js'

export interface BootEvidence {
  ak: TpmPublic | crypto.KeyObject
  attest: Uint8Array
  signature: Uint8Array
  nonce: Uint8Array
  eventLog: Uint8Array
  allowSha1?: boolean
}

export interface VerifiedBoot {
  quote: VerifiedQuote
  log: VerifiedEventLog
  facts: BootFacts
  verdict: BootVerdict
  /**
   * PCRs the log has events for (EV_NO_ACTION aside) that the quote does not cover, with how many:
   * nothing vouches for those events, so they are left out of `log` and of everything judged or
   * hashed, and are only reported.
   */
  unquoted: Array<{ pcr: number; events: number }>
}

/**
 * Quote + event log + policy → verdict. The quote is checked against the PCR values the log
 * replays to (so a log that is not the measured one fails the quote's PCR digest), then the log is
 * verified against the quoted values, and only its verified events are judged by the policy.
 * Throws on evidence that does not verify; returns an untrusted verdict (with every reason) for
 * a verified boot that the policy does not allow. An AK given as a bare public key (PEM) never
 * gives a trusted verdict: whether it was made inside the TPM and is restricted cannot be checked
 * from it, and a software key signs any quote its holder likes.
 */
export function verifyBoot(evidence: BootEvidence, policy: BootPolicy): VerifiedBoot {
  const log = parseEventLog(evidence.eventLog)
  const claimed = parseAttest(evidence.attest)
  const quotedBanks = claimed.attested.kind === 'quote' ? claimed.attested.pcrSelect.map((bank) => bank.hash) : []
  const replayed = replayEventLog(log, { banks: quotedBanks })
  const values: PcrValues = {}
  if (claimed.attested.kind === 'quote') {
    for (const bank of claimed.attested.pcrSelect) {
      const map = new Map<number, Uint8Array>()
      for (const pcr of bank.pcrs)
        map.set(pcr, replayed[bank.hash]?.get(pcr) ?? initialPcrValue(bank.hash, pcr, log.startupLocality))
      values[bank.hash] = map
    }
  }
  const quote = verifyQuote({
    ak: evidence.ak,
    attest: evidence.attest,
    signature: evidence.signature,
    nonce: evidence.nonce,
    pcrs: values,
    allowSha1: evidence.allowSha1 === true
  })
  const verifiedLog = verifyEventLog(log, quote.pcrs)
  const facts = bootFacts(verifiedLog, policy.bank)
  const judged = evaluateVerifiedBoot(policy, verifiedLog.events, quote.pcrs, facts.secureBoot)
  const verdict: BootVerdict = quote.akRestrictionChecked
    ? judged
    : {
        ...judged,
        trusted: false,
        reasons: [
          ...judged.reasons,
          {
            code: 'ak_attributes_unchecked',
            message:
              'the AK is a bare public key: whether it was made inside the TPM (fixedTPM, sensitiveDataOrigin) and is restricted cannot be checked; give its TPM2B_PUBLIC'
          }
        ]
      }
  return { quote, log: verifiedLog, facts, verdict, unquoted: unquotedEvents(log, quote.pcrs) }
}

/** Events of the log in PCRs no quoted bank covers, counted per PCR (EV_NO_ACTION extends nothing: not counted). */
function unquotedEvents(log: UnverifiedEventLog, quoted: PcrValues): Array<{ pcr: number; events: number }> {
  const covered = new Set<number>()
  for (const bank of Object.values(quoted)) for (const pcr of bank?.keys() ?? []) covered.add(pcr)
  const counts = new Map<number, number>()
  for (const event of log.events) {
    if (event.type === EV.EV_NO_ACTION || covered.has(event.pcr)) continue
    counts.set(event.pcr, (counts.get(event.pcr) ?? 0) + 1)
  }
  return [...counts].sort((a, b) => a[0] - b[0]).map(([pcr, events]) => ({ pcr, events }))
}
