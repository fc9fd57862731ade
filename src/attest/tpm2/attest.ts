import type { PcrSelection } from '../pcrs.js'
import { TPM_ST } from './constants.js'
import { TPM2_LIMITS } from './limits.js'
import { TpmReader } from './reader.js'
import { readPcrSelection } from './pcr-selection.js'

export interface ClockInfo {
  clock: bigint
  resetCount: number
  restartCount: number
  safe: boolean
}

export type Attested =
  | { kind: 'quote', pcrSelect: PcrSelection, pcrDigest: Uint8Array }
  | { kind: 'certify', name: Uint8Array, qualifiedName: Uint8Array }

/** A parsed, NOT verified, TPMS_ATTEST. Only verifyQuote/verifyCertify make it trustworthy. */
export interface UnverifiedAttest {
  magic: number
  type: number
  qualifiedSigner: Uint8Array
  extraData: Uint8Array
  clockInfo: ClockInfo
  firmwareVersion: bigint
  attested: Attested
  /** The exact bytes that were signed. */
  raw: Uint8Array
}

/** Parses TPMS_ATTEST bytes (the content of a TPM2B_ATTEST; what tpm2_quote -m writes). */
export function parseAttest (bytes: Uint8Array): UnverifiedAttest {
  const r: TpmReader = new TpmReader(bytes, 'TPMS_ATTEST')
  if (bytes.length > TPM2_LIMITS.maxStructureSize) r.fail('too large')
  const magic = r.u32()
  const type = r.u16()
  const qualifiedSigner = r.tpm2b()
  const extraData = r.tpm2b()
  const clockInfo: ClockInfo = { clock: r.u64(), resetCount: r.u32(), restartCount: r.u32(), safe: false }
  const safe = r.u8()
  if (safe > 1) r.fail('clockInfo.safe is not a TPMI_YES_NO')
  clockInfo.safe = safe === 1
  const firmwareVersion = r.u64()
  let attested: Attested
  if (type === TPM_ST.ATTEST_QUOTE) {
    attested = { kind: 'quote', pcrSelect: readPcrSelection(r), pcrDigest: r.tpm2b() }
  } else if (type === TPM_ST.ATTEST_CERTIFY) {
    attested = { kind: 'certify', name: r.tpm2b(), qualifiedName: r.tpm2b() }
  } else {
    r.fail(`attestation type 0x${type.toString(16)} unsupported`)
  }
  r.end()
  return { magic, type, qualifiedSigner, extraData, clockInfo, firmwareVersion, attested, raw: bytes }
}
