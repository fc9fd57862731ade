/**
 * The C2SP transparency-log witness protocol, log side (c2sp.org/tlog-witness add-checkpoint,
 * c2sp.org/tlog-cosignature cosignature/v1 with Ed25519): encoding a submission, reading a
 * witness's answer, and verifying its cosignature over a checkpoint. Pure: no I/O.
 *
 * @example
 * const witness = parseWitnessKey('witness.example/w1+1c2a3b4d+BN…')
 * const body = encodeAddCheckpoint({ oldSize: 10, proof, note })
 * // … POST body to <prefix>/add-checkpoint; on 200:
 * const cosignature = verifyCosignature(parseCosignatureLines(text), checkpointText, witness, time)
 */
export {
  COSIGNATURE_V1_TYPE,
  cosignatureKeyId,
  cosignedMessage,
  cosignersAmong,
  formatWitnessKey,
  parseWitnessKey,
  verifyCosignature,
  type VerifiedCosignature,
  type WitnessKey
} from './cosignature.js'
export {
  encodeAddCheckpoint,
  parseConflictSize,
  parseCosignatureLines,
  type AddCheckpointRequest
} from './add-checkpoint.js'
export { CosignatureRejectedError, MalformedVerifierKeyError, MalformedWitnessResponseError } from './errors.js'
export { TLOG_WITNESS_LIMITS } from './limits.js'
