import { DIGEST_SIZE, digest, type PcrSelection, type PcrValues } from '../pcrs.js'
import { TPM_CC, TPM_RH_ENDORSEMENT } from './constants.js'
import { TpmWriter } from './reader.js'
import { marshalPcrSelection } from './pcr-selection.js'
import { InvalidPcrSelectionError } from './errors.js'

/** Policy digests computed in software (TPM 2.0 Part 3, §23), SHA-256 policy sessions. */
export const ZERO_POLICY = new Uint8Array(32)

/** SHA-256 over the selected PCR values in selection order (PCRs ascending): PolicyPCR's pcrDigest. */
export function pcrCompositeDigest (selection: PcrSelection, values: PcrValues): Uint8Array {
  const parts: Uint8Array[] = []
  for (const bank of selection) {
    for (const pcr of [...bank.pcrs].sort((a, b) => a - b)) {
      const value = values[bank.hash]?.get(pcr)
      if (value === undefined || value.length !== DIGEST_SIZE[bank.hash]) throw new InvalidPcrSelectionError(`no ${bank.hash} value for PCR ${pcr}`)
      parts.push(value)
    }
  }
  return digest('sha256', ...parts)
}

/** TPM2_PolicyPCR: H(old ‖ TPM_CC_PolicyPCR ‖ TPML_PCR_SELECTION ‖ pcrDigest). */
export function policyPcr (previous: Uint8Array, selection: PcrSelection, values: PcrValues): Uint8Array {
  const cc = new TpmWriter().u32(TPM_CC.PolicyPCR).finish()
  return digest('sha256', previous, cc, marshalPcrSelection(selection), pcrCompositeDigest(selection, values))
}

/** PolicyUpdate (Part 3, §23.2.3): H(H(old ‖ cc ‖ name) ‖ policyRef). */
function policyUpdate (previous: Uint8Array, commandCode: number, name: Uint8Array, policyRef: Uint8Array): Uint8Array {
  const cc = new TpmWriter().u32(commandCode).finish()
  return digest('sha256', digest('sha256', previous, cc, name), policyRef)
}

export function policySecret (previous: Uint8Array, authObjectName: Uint8Array, policyRef: Uint8Array = new Uint8Array(0)): Uint8Array {
  return policyUpdate(previous, TPM_CC.PolicySecret, authObjectName, policyRef)
}

/** TPM2_PolicyAuthorize: the digest restarts from zero and names the authority's key. */
export function policyAuthorize (keySignName: Uint8Array, policyRef: Uint8Array = new Uint8Array(0)): Uint8Array {
  return policyUpdate(ZERO_POLICY, TPM_CC.PolicyAuthorize, keySignName, policyRef)
}

/** The Name of a permanent handle is the handle itself (4 bytes), e.g. TPM_RH_ENDORSEMENT. */
export function permanentHandleName (handle: number = TPM_RH_ENDORSEMENT): Uint8Array {
  return new TpmWriter().u32(handle).finish()
}
