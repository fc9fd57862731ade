/**
 * External witnesses: C2SP tlog-witness services outside the fleet that the owner lists in its
 * feed (witness.external), to which each agent submits its own feed's checkpoints with consistency
 * proofs, keeping their Ed25519 cosignatures (cosignature/v1) beside the fleet's own. A witness
 * that holds another view of the feed (409 above what the device signed, 422 to its proof) is a
 * split view: a log line and a rate-limited alert.external_witness. The protocol's bytes are the
 * ledger's (src/ledger/tlog-witness); this module does the I/O and holds the owner's list.
 *
 * @example
 * const service = new ExternalWitnessing(
 *   { ledger, source, witnesses: () => membership.externalWitnesses.list(), ontology: () => membership.ontology, clock },
 *   { feedId }
 * )
 * service.start()
 * await service.sync()             // submit the newest checkpoint now, and wait for the answers
 * await service.cosignersOfNewest() // names of the witnesses whose cosignature verifies on it
 */
export {
  EXTERNAL_WITNESS_ACTIONS,
  ExternalWitnessList,
  definesWellKnown,
  missingWitnessActions,
  type ExternalWitness
} from './statements.js'
export {
  ExternalWitnessing,
  type ExternalWitnessingComponents,
  type ExternalWitnessingInit,
  type ExternalWitnessStatus
} from './service.js'
export { AlertLimiter, judgeRefusal, type WitnessVerdict } from './split-view.js'
export { postToWitness, type Fetch, type WitnessAnswer } from './http.js'
export {
  WitnessRefusedError,
  WitnessResponseTooLargeError,
  WitnessTimeoutError,
  WitnessUnreachableError
} from './errors.js'
export { EXTERNAL_WITNESS_LIMITS } from './limits.js'
