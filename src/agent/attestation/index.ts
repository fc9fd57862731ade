/**
 * Mutual attestation: the challenge-response protocol run on every connection, the judge that
 * turns a quote, an event log and an enrolment record into a verdict, and the service that keeps
 * each peer's verdict fresh and gates the connection on it.
 */
export {
  ATTEST_LIMITS,
  ATTEST_PROTOCOL,
  AttestationProtocolError,
  attestAsDialer,
  attestAsListener,
  type AttesterInput
} from './protocol.js'
export {
  attestationQuoteData,
  judgeAttestation,
  type AttestationEvidence,
  type AttestationOutcome,
  type Judge
} from './judge.js'
export { AttestationService, type AttestationServiceInit } from './service.js'
export type { PeerStatus } from './peer-table.js'
