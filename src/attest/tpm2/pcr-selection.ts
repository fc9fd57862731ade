import { HASH_ALG_ID, hashAlgFromId, PCR_COUNT, HASH_ALGS, type HashAlg, type PcrSelection } from '../pcrs.js'
import { TPM2_LIMITS } from './limits.js'
import { TpmReader, TpmWriter } from './reader.js'
import { InvalidPcrSelectionError } from './errors.js'

/** TPML_PCR_SELECTION with sizeofSelect 3 (24 PCRs). */
export function marshalPcrSelection (selection: PcrSelection): Uint8Array {
  const w = new TpmWriter().u32(selection.length)
  for (const bank of selection) {
    const bits = new Uint8Array(3)
    for (const pcr of bank.pcrs) {
      if (!Number.isInteger(pcr) || pcr < 0 || pcr >= PCR_COUNT) throw new InvalidPcrSelectionError(`PCR ${pcr} out of range`)
      bits[pcr >> 3]! |= 1 << (pcr & 7)
    }
    w.u16(HASH_ALG_ID[bank.hash]).u8(3).raw(bits)
  }
  return w.finish()
}

/** Reads a TPML_PCR_SELECTION from a reader (inside a larger structure). */
export function readPcrSelection (r: TpmReader): PcrSelection {
  const count = r.u32()
  if (count > TPM2_LIMITS.maxPcrBanks) r.fail(`${count} PCR banks exceed ${TPM2_LIMITS.maxPcrBanks}`)
  const out: PcrSelection = []
  for (let i = 0; i < count; i++) {
    const id = r.u16()
    const hash = hashAlgFromId(id)
    if (hash === undefined) r.fail(`unknown PCR bank algorithm 0x${id.toString(16)}`)
    const size = r.u8()
    if (size < 1 || size > TPM2_LIMITS.maxSizeofSelect) r.fail(`sizeofSelect ${size} out of range`)
    const bits = r.bytesOf(size)
    const pcrs: number[] = []
    for (let pcr = 0; pcr < size * 8; pcr++) {
      if ((bits[pcr >> 3]! & (1 << (pcr & 7))) === 0) continue
      if (pcr >= PCR_COUNT) r.fail(`PCR ${pcr} selected, beyond the ${PCR_COUNT} PCRs of a PC Client TPM`)
      pcrs.push(pcr)
    }
    if (out.some((b) => b.hash === hash)) r.fail(`bank ${hash} selected twice`)
    out.push({ hash, pcrs })
  }
  return out
}

export function parsePcrSelection (bytes: Uint8Array): PcrSelection {
  const r: TpmReader = new TpmReader(bytes, 'TPML_PCR_SELECTION')
  const selection = readPcrSelection(r)
  r.end()
  return selection
}

/**
 * Parses the tpm2-tools spelling: `sha256:0,1,2,3,7`, banks joined with `+`
 * (`sha1:0,1+sha256:0,1`). Duplicates and out-of-range PCRs are refused.
 */
export function parsePcrSelectionSpec (spec: string): PcrSelection {
  if (typeof spec !== 'string' || spec.length === 0 || spec.length > 256) throw new InvalidPcrSelectionError('empty or too long')
  const out: PcrSelection = []
  for (const part of spec.split('+')) {
    const match = /^([a-z0-9]+):([0-9,]+)$/.exec(part)
    if (match === null) throw new InvalidPcrSelectionError(`"${part}" is not BANK:PCR,PCR,…`)
    const hash = match[1] as HashAlg
    if (!HASH_ALGS.includes(hash)) throw new InvalidPcrSelectionError(`unknown bank "${match[1]}"`)
    if (out.some((b) => b.hash === hash)) throw new InvalidPcrSelectionError(`bank ${hash} given twice`)
    const pcrs = match[2]!.split(',').map((text) => {
      if (!/^\d{1,2}$/.test(text)) throw new InvalidPcrSelectionError(`"${text}" is not a PCR number`)
      const pcr = Number(text)
      if (pcr >= PCR_COUNT) throw new InvalidPcrSelectionError(`PCR ${pcr} out of range 0..${PCR_COUNT - 1}`)
      return pcr
    })
    if (new Set(pcrs).size !== pcrs.length) throw new InvalidPcrSelectionError(`a PCR is listed twice in ${part}`)
    out.push({ hash, pcrs: pcrs.sort((a, b) => a - b) })
  }
  return out
}
