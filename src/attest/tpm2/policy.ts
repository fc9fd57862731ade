import { digest, type PcrSelection, type PcrValues, hashAlgFromId, DIGEST_SIZE } from '../pcrs.js'
import { toHex } from '../../common/index.js'
import { TPM_CC, TPM_RH } from './constants.js'
import { TpmWriter } from './writer.js'
import { marshalPcrSelection, normalizePcrSelection } from './pcr-selection.js'
import { orderedPcrValues } from './pcrs-file.js'
import { InvalidObjectNameError, PolicyDigestSizeError } from './errors.js'

/**
 * Policy digests computed in software, as a trial session would (TPM 2.0 Part 3, §23), for
 * SHA-256 policy sessions: each command extends policyDigest ← H(policyDigest ‖ TPM_CC ‖ …).
 */

/** A policy session's digest before any policy command. */
export const ZERO_POLICY: Uint8Array = new Uint8Array(32)

const cc = (code: number): Uint8Array => new TpmWriter().u32(code).finish()

function checkPrevious(previous: Uint8Array): void {
  if (!(previous instanceof Uint8Array) || previous.length !== 32)
    throw new PolicyDigestSizeError(previous instanceof Uint8Array ? previous.length : 0)
}

/** A Name is nameAlg ‖ digest, or a 4-byte handle for permanent entities (hierarchies, PCRs). */
function checkName(name: Uint8Array): void {
  if (name.length === 4) return
  const alg = name.length >= 2 ? hashAlgFromId((name[0]! << 8) | name[1]!) : undefined
  if (alg === undefined || name.length !== 2 + DIGEST_SIZE[alg])
    throw new InvalidObjectNameError(toHex(name), 'neither a handle nor nameAlg ‖ digest')
}

/** PolicyUpdate (Part 3, §23.2.3): H(H(old ‖ cc ‖ name) ‖ policyRef). */
function policyUpdate(previous: Uint8Array, commandCode: number, name: Uint8Array, policyRef: Uint8Array): Uint8Array {
  checkPrevious(previous)
  checkName(name)
  return digest('sha256', digest('sha256', previous, cc(commandCode), name), policyRef)
}

/** SHA-256 over the selected PCR values in selection order, PCRs ascending: PolicyPCR's pcrDigest. */
export function pcrCompositeDigest(selection: PcrSelection, values: PcrValues): Uint8Array {
  return digest('sha256', ...orderedPcrValues(selection, values))
}

/** TPM2_PolicyPCR: H(old ‖ TPM_CC_PolicyPCR ‖ TPML_PCR_SELECTION ‖ pcrDigest). */
export function policyPcr(previous: Uint8Array, selection: PcrSelection, values: PcrValues): Uint8Array {
  checkPrevious(previous)
  const banks = normalizePcrSelection(selection)
  return digest('sha256', previous, cc(TPM_CC.PolicyPCR), marshalPcrSelection(banks), pcrCompositeDigest(banks, values))
}

/** TPM2_PolicySecret: authorisation by another entity (e.g. the endorsement hierarchy, by its Name). */
export function policySecret(
  previous: Uint8Array,
  authObjectName: Uint8Array,
  policyRef: Uint8Array = new Uint8Array(0)
): Uint8Array {
  return policyUpdate(previous, TPM_CC.PolicySecret, authObjectName, policyRef)
}

/** TPM_EO: how TPM2_PolicyNV compares the index's contents (A) with operandB (B). */
export const TPM_EO = { EQ: 0x0000, UNSIGNED_LE: 0x0009 } as const

/**
 * TPM2_PolicyNV (Part 3, §23.9): H(old ‖ TPM_CC_PolicyNV ‖ H(operandB ‖ offset ‖ operation) ‖ nvName).
 * The index's Name covers its attributes, so the policy names one exact index, not a handle.
 */
export function policyNv(
  previous: Uint8Array,
  nvName: Uint8Array,
  operandB: Uint8Array,
  offset: number,
  operation: number
): Uint8Array {
  checkPrevious(previous)
  checkName(nvName)
  const args = digest('sha256', new TpmWriter().raw(operandB).u16(offset).u16(operation).finish())
  return digest('sha256', previous, cc(TPM_CC.PolicyNV), args, nvName)
}

/** TPM2_PolicyCommandCode: H(old ‖ TPM_CC_PolicyCommandCode ‖ commandCode). */
export function policyCommandCode(previous: Uint8Array, commandCode: number): Uint8Array {
  checkPrevious(previous)
  return digest('sha256', previous, cc(TPM_CC.PolicyCommandCode), cc(commandCode))
}

/**
 * TPM2_PolicyAuthorize. The TPM resets the session digest to zero before extending it, so the
 * result does not depend on `previous` (the approved policy the session had reached); it is taken
 * to keep every policy step's signature alike. The deprecated two-argument form
 * (keySignName, policyRef) is what existing callers use.
 */
export function policyAuthorize(previous: Uint8Array, keySignName: Uint8Array, policyRef: Uint8Array): Uint8Array
/** @deprecated pass the previous digest first: policyAuthorize(previous, keySignName, policyRef). */
export function policyAuthorize(keySignName: Uint8Array, policyRef?: Uint8Array): Uint8Array
export function policyAuthorize(a: Uint8Array, b?: Uint8Array, c?: Uint8Array): Uint8Array {
  if (c === undefined) return policyUpdate(ZERO_POLICY, TPM_CC.PolicyAuthorize, a, b ?? new Uint8Array(0))
  checkPrevious(a)
  return policyUpdate(ZERO_POLICY, TPM_CC.PolicyAuthorize, b ?? new Uint8Array(0), c)
}

/** The Name of a permanent handle is the handle itself (4 bytes), e.g. TPM_RH_ENDORSEMENT. */
export function permanentHandleName(handle: number = TPM_RH.ENDORSEMENT): Uint8Array {
  return new TpmWriter().u32(handle).finish()
}
