import { HASH_ALG_ID, hashAlgFromId, PCR_COUNT, HASH_ALGS, type HashAlg, type PcrSelection } from '../pcrs.js'
import { TPM2_LIMITS } from './limits.js'
import { TpmReader } from './reader.js'
import { TpmWriter } from './writer.js'
import { InvalidPcrSelectionError } from './errors.js'

/**
 * Checks a selection built in code before it is marshalled or hashed: known banks, each once,
 * PCRs integers in range, each once. Returns it with every bank's PCRs sorted ascending, the order
 * in which the TPM hashes them.
 */
export function normalizePcrSelection(selection: PcrSelection): PcrSelection {
  if (!Array.isArray(selection)) throw new InvalidPcrSelectionError('not a list of banks')
  if (selection.length > TPM2_LIMITS.maxPcrBanks)
    throw new InvalidPcrSelectionError(`${selection.length} banks exceed ${TPM2_LIMITS.maxPcrBanks}`)
  const seen = new Set<HashAlg>()
  return selection.map((bank) => {
    if (!HASH_ALGS.includes(bank?.hash)) throw new InvalidPcrSelectionError(`unknown bank "${String(bank?.hash)}"`)
    if (seen.has(bank.hash)) throw new InvalidPcrSelectionError(`bank ${bank.hash} selected twice`)
    seen.add(bank.hash)
    if (!Array.isArray(bank.pcrs)) throw new InvalidPcrSelectionError(`bank ${bank.hash} has no PCR list`)
    for (const pcr of bank.pcrs) {
      if (!Number.isInteger(pcr) || pcr < 0 || pcr >= PCR_COUNT)
        throw new InvalidPcrSelectionError(`PCR ${String(pcr)} out of range 0..${PCR_COUNT - 1}`)
    }
    if (new Set(bank.pcrs).size !== bank.pcrs.length)
      throw new InvalidPcrSelectionError(`a PCR is selected twice in bank ${bank.hash}`)
    return { hash: bank.hash, pcrs: [...bank.pcrs].sort((a, b) => a - b) }
  })
}

/** TPML_PCR_SELECTION with sizeofSelect 3 (24 PCRs), banks in the order given. */
export function marshalPcrSelection(selection: PcrSelection): Uint8Array {
  const banks = normalizePcrSelection(selection)
  const w = new TpmWriter().u32(banks.length)
  for (const bank of banks) {
    const bits = new Uint8Array(TPM2_LIMITS.writtenSizeofSelect)
    for (const pcr of bank.pcrs) bits[pcr >> 3]! |= 1 << (pcr & 7)
    w.u16(HASH_ALG_ID[bank.hash]).u8(bits.length).raw(bits)
  }
  return w.finish()
}

/**
 * Reads a TPML_PCR_SELECTION inside a larger structure. sizeofSelect 1..4 is accepted (TPMs with
 * more PCRs use 4) but a selected PCR beyond the 24 of a PC Client TPM is refused.
 */
export function readPcrSelection(r: TpmReader): PcrSelection {
  const count = r.u32()
  if (count > TPM2_LIMITS.maxPcrBanks) r.fail(`${count} PCR banks exceed ${TPM2_LIMITS.maxPcrBanks}`)
  const out: PcrSelection = []
  for (let i = 0; i < count; i++) {
    const id = r.u16()
    const hash = hashAlgFromId(id)
    if (hash === undefined) r.fail(`unknown PCR bank algorithm 0x${id.toString(16)}`)
    const size = r.u8()
    if (size < 1 || size > TPM2_LIMITS.maxSizeofSelect)
      r.fail(`sizeofSelect ${size} out of range 1..${TPM2_LIMITS.maxSizeofSelect}`)
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

/** Parses a standalone TPML_PCR_SELECTION. */
export function parsePcrSelection(bytes: Uint8Array): PcrSelection {
  const r: TpmReader = new TpmReader(bytes, 'TPML_PCR_SELECTION')
  const selection = readPcrSelection(r)
  r.end()
  return selection
}

/**
 * Parses the tpm2-tools spelling: `sha256:0,1,2,3,7`, banks joined with `+`
 * (`sha1:0,1+sha256:0,1`). Bank order is kept (it is the order the TPM hashes them in).
 */
export function parsePcrSelectionSpec(spec: string): PcrSelection {
  if (typeof spec !== 'string' || spec.length === 0) throw new InvalidPcrSelectionError('the selection is empty')
  if (spec.length > TPM2_LIMITS.maxPcrSpecLength)
    throw new InvalidPcrSelectionError(`the selection is longer than ${TPM2_LIMITS.maxPcrSpecLength} characters`)
  const out: PcrSelection = []
  for (const part of spec.split('+')) {
    const match = /^([a-z0-9]+):([0-9]+(?:,[0-9]+)*)$/.exec(part)
    if (match === null) throw new InvalidPcrSelectionError(`"${part}" is not BANK:PCR,PCR,…`)
    const hash = match[1] as HashAlg
    if (!HASH_ALGS.includes(hash)) throw new InvalidPcrSelectionError(`unknown bank "${match[1]}"`)
    if (out.some((b) => b.hash === hash)) throw new InvalidPcrSelectionError(`bank ${hash} given twice`)
    const pcrs = match[2]!.split(',').map((text) => {
      if (!/^(0|[1-9][0-9]?)$/.test(text)) throw new InvalidPcrSelectionError(`"${text}" is not a PCR number`)
      const pcr = Number(text)
      if (pcr >= PCR_COUNT) throw new InvalidPcrSelectionError(`PCR ${pcr} out of range 0..${PCR_COUNT - 1}`)
      return pcr
    })
    if (new Set(pcrs).size !== pcrs.length) throw new InvalidPcrSelectionError(`a PCR is listed twice in "${part}"`)
    out.push({ hash, pcrs: pcrs.sort((a, b) => a - b) })
  }
  return out
}

/** The tpm2-tools spelling of a selection (inverse of parsePcrSelectionSpec). */
export function formatPcrSelectionSpec(selection: PcrSelection): string {
  return normalizePcrSelection(selection)
    .map((bank) => `${bank.hash}:${bank.pcrs.join(',')}`)
    .join('+')
}
