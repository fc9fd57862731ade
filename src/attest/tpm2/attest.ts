import type { PcrSelection } from '../pcrs.js'
import { TPM_ST } from './constants.js'
import { TPM2_LIMITS } from './limits.js'
import { TpmReader } from './reader.js'
import { readPcrSelection } from './pcr-selection.js'

/** TPMS_CLOCK_INFO. */
export interface ClockInfo {
  /** Milliseconds the TPM has been powered since its clock was last set. */
  clock: bigint
  resetCount: number
  restartCount: number
  /** False when the clock may have gone back (an unorderly shutdown since it was last saved). */
  safe: boolean
}

/** TPMU_ATTEST for the two types this project verifies. */
export type Attested =
  | { kind: 'quote'; pcrSelect: PcrSelection; pcrDigest: Uint8Array }
  | { kind: 'certify'; name: Uint8Array; qualifiedName: Uint8Array }

/** A parsed, NOT verified, TPMS_ATTEST. Only verifyQuote/verifyCertify make its fields trustworthy. */
export interface UnverifiedAttest {
  magic: number
  type: number
  qualifiedSigner: Uint8Array
  extraData: Uint8Array
  clockInfo: ClockInfo
  firmwareVersion: bigint
  attested: Attested
  /** The exact bytes that were signed (a copy of the input). */
  raw: Uint8Array
}

/**
 * Parses TPMS_ATTEST bytes: the content of a TPM2B_ATTEST, what `tpm2_quote -m` and
 * `tpm2_certify -o` write. The magic is read but not judged here; verification does that.
 */
export function parseAttest(bytes: Uint8Array): UnverifiedAttest {
  const r: TpmReader = new TpmReader(bytes, 'TPMS_ATTEST')
  const magic = r.u32()
  const type = r.u16()
  if (type !== TPM_ST.ATTEST_QUOTE && type !== TPM_ST.ATTEST_CERTIFY) {
    r.offset -= 2
    r.fail(`attestation type 0x${type.toString(16)} unsupported`)
  }
  const qualifiedSigner = r.tpm2b(TPM2_LIMITS.maxNameSize, 'qualifiedSigner')
  const extraData = r.tpm2b(TPM2_LIMITS.maxDigestSize, 'extraData')
  const clock = r.u64()
  const resetCount = r.u32()
  const restartCount = r.u32()
  const safe = r.u8()
  if (safe > 1) {
    r.offset -= 1
    r.fail('clockInfo.safe is not a TPMI_YES_NO')
  }
  const clockInfo: ClockInfo = { clock, resetCount, restartCount, safe: safe === 1 }
  const firmwareVersion = r.u64()
  const attested: Attested =
    type === TPM_ST.ATTEST_QUOTE
      ? { kind: 'quote', pcrSelect: readPcrSelection(r), pcrDigest: r.tpm2b(TPM2_LIMITS.maxDigestSize, 'pcrDigest') }
      : {
          kind: 'certify',
          name: r.tpm2b(TPM2_LIMITS.maxNameSize, 'name'),
          qualifiedName: r.tpm2b(TPM2_LIMITS.maxNameSize, 'qualifiedName')
        }
  r.end()
  return { magic, type, qualifiedSigner, extraData, clockInfo, firmwareVersion, attested, raw: bytes.slice() }
}

/**
 * Parses a TPM2B_ATTEST (u16 size, then the TPMS_ATTEST), as TPM responses carry it. Separate from
 * parseAttest on purpose: guessing the form from the bytes would let one input parse two ways.
 */
export function parseTpm2bAttest(bytes: Uint8Array): UnverifiedAttest {
  const r: TpmReader = new TpmReader(bytes, 'TPM2B_ATTEST', TPM2_LIMITS.maxStructureSize + 2)
  const size = r.u16()
  if (size !== r.remaining) r.fail(`size field says ${size} bytes, ${r.remaining} follow`)
  return parseAttest(r.bytesOf(size))
}
