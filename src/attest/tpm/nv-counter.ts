import { createHash } from 'node:crypto'
import { TpmReader, TpmWriter } from '../tpm2/index.js'
import { NvCounterUntrustedError } from './errors.js'

/**
 * The monotonic NV counters this project defines (rollback counters, the release approval
 * epoch), and the check that an index found at a counter's handle is one of them.
 *
 * Only a TPM_NT_COUNTER index never goes back: an ordinary index of the same size can be rewritten
 * with any value by whoever holds its authorisation, and the owner hierarchy's (empty) password
 * lets anyone define one at the handle before the agent does. So an index is trusted only when
 * its public area is exactly the one defined here.
 */

/** TPMA_NV bits (TPM 2.0 Part 2, §13.4). */
export const TPMA_NV = {
  AUTHWRITE: 0x00000004,
  POLICY_DELETE: 0x00000400,
  AUTHREAD: 0x00040000,
  NO_DA: 0x02000000,
  WRITTEN: 0x20000000,
  TYPE_MASK: 0x000000f0,
  TYPE_SHIFT: 4
} as const

export const TPM_NT_COUNTER = 0x1
const TPM_ALG_SHA256 = 0x000b

/**
 * The attributes a counter is defined with: TPM_NT_COUNTER, read and incremented with its own
 * (empty) authorisation, outside dictionary-attack protection. Not PPWRITE/OWNERWRITE or
 * POLICYWRITE: nothing but TPM2_NV_Increment writes it; not POLICY_DELETE: only the owner
 * hierarchy can undefine it, and a counter defined again starts above every value any counter of
 * the TPM has had.
 */
export const COUNTER_ATTRIBUTES =
  (TPM_NT_COUNTER << TPMA_NV.TYPE_SHIFT) | TPMA_NV.AUTHREAD | TPMA_NV.AUTHWRITE | TPMA_NV.NO_DA

/** TPMS_NV_PUBLIC of a counter as this project defines it, once it has been incremented (WRITTEN). */
export function counterNvPublic(nvIndex: number): Uint8Array {
  return new TpmWriter()
    .u32(nvIndex)
    .u16(TPM_ALG_SHA256)
    .u32((COUNTER_ATTRIBUTES | TPMA_NV.WRITTEN) >>> 0)
    .tpm2b(new Uint8Array(0))
    .u16(8)
    .finish()
}

/**
 * The Name of such a counter (nameAlg ‖ SHA-256(TPMS_NV_PUBLIC)): what TPM2_PolicyNV puts in a
 * policy digest, so a policy naming it is satisfied by no other index at that handle.
 */
export function counterNvName(nvIndex: number): Uint8Array {
  const digest = createHash('sha256').update(counterNvPublic(nvIndex)).digest()
  return new Uint8Array(Buffer.concat([Buffer.from([TPM_ALG_SHA256 >> 8, TPM_ALG_SHA256 & 0xff]), digest]))
}

export interface NvPublicArea {
  nvIndex: number
  nameAlg: number
  attributes: number
  authPolicy: Uint8Array
  dataSize: number
}

/** Parses a TPM2B_NV_PUBLIC (strictly: no trailing bytes). Unverified. */
export function parseNvPublic(bytes: Uint8Array): NvPublicArea {
  const reader = new TpmReader(bytes, 'TPM2B_NV_PUBLIC')
  const size = reader.u16()
  if (size !== reader.remaining) reader.fail(`size ${size} does not match the ${reader.remaining} bytes that follow`)
  const area = {
    nvIndex: reader.u32(),
    nameAlg: reader.u16(),
    attributes: reader.u32(),
    authPolicy: reader.tpm2b(64, 'authPolicy'),
    dataSize: reader.u16()
  }
  reader.end()
  return area
}

/**
 * Checks that the index at `nvIndex` is a counter exactly as this project defines it (see
 * COUNTER_ATTRIBUTES), else throws NvCounterUntrustedError naming what differs.
 */
export function verifyCounterPublic(tcti: string, nvIndex: number, publicArea: Uint8Array): void {
  const area = parseNvPublic(publicArea)
  const refuse = (reason: string): never => {
    throw new NvCounterUntrustedError(tcti, nvIndex, area.attributes, area.nameAlg, reason)
  }
  if (area.nvIndex !== nvIndex) refuse(`the TPM describes index 0x${area.nvIndex.toString(16)}`)
  const type = (area.attributes & TPMA_NV.TYPE_MASK) >>> TPMA_NV.TYPE_SHIFT
  if (type !== TPM_NT_COUNTER)
    refuse(`it is not a monotonic counter (TPM_NT ${type}): its value could be rewritten or lowered`)
  const expected = (COUNTER_ATTRIBUTES | TPMA_NV.WRITTEN) >>> 0
  if (area.attributes >>> 0 !== expected)
    refuse(`its attributes are 0x${(area.attributes >>> 0).toString(16)}, not 0x${expected.toString(16)}`)
  if (area.nameAlg !== TPM_ALG_SHA256) refuse(`its nameAlg is 0x${area.nameAlg.toString(16)}, not SHA-256`)
  if (area.authPolicy.length !== 0) refuse('it has an authorisation policy')
  if (area.dataSize !== 8) refuse(`its size is ${area.dataSize}, not 8`)
}

/** A counter value as the counter stores it (8 bytes, big-endian): TPM2_PolicyNV's operandB. */
export function counterBytes(value: bigint): Uint8Array {
  const bytes = Buffer.alloc(8)
  bytes.writeBigUInt64BE(value)
  return new Uint8Array(bytes)
}

/** The 8-byte big-endian value of a counter. */
export function counterValue(tcti: string, nvIndex: number, bytes: Uint8Array): bigint {
  if (bytes.length !== 8)
    throw new NvCounterUntrustedError(tcti, nvIndex, 0, 0, `reading it gave ${bytes.length} bytes, not 8`)
  return Buffer.from(bytes).readBigUInt64BE(0)
}
