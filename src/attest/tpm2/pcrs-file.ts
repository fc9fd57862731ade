import {
  HASH_ALG_ID,
  hashAlgFromId,
  DIGEST_SIZE,
  HASH_ALGS,
  PCR_COUNT,
  type HashAlg,
  type PcrSelection,
  type PcrValues
} from '../pcrs.js'
import { TPM2_LIMITS } from './limits.js'
import { normalizePcrSelection } from './pcr-selection.js'
import { MalformedTpmStructureError, InvalidPcrSelectionError, MalformedPcrFileError } from './errors.js'

/**
 * tpm2-tools "serialized" PCR files (`tpm2_quote -o`, `tpm2_pcrread -o`, read by
 * `tpm2_checkquote -f`) are tpm2-tss C structures written raw, in host byte order (little-endian
 * on every platform this runs on):
 *
 *   TPML_PCR_SELECTION  u32 count, then 16 slots of TPMS_PCR_SELECTION
 *                       (u16 hash, u8 sizeofSelect, u8[4] pcrSelect, 1 byte of padding)
 *   u32                 number of TPML_DIGEST that follow
 *   TPML_DIGEST × n     u32 count, then 8 slots of TPM2B_DIGEST (u16 size, 64-byte buffer)
 *
 * The values run bank by bank in selection order, PCRs ascending, packed into the digest lists in
 * order (tpm2-tools fills one list per TPM2_PCR_Read answer, at most 8 values each).
 */
const SELECTION_SLOTS = 16
const SELECTION_SLOT_SIZE = 8
const SELECTION_SIZE = 4 + SELECTION_SLOTS * SELECTION_SLOT_SIZE
const SELECT_BYTES = 4
const DIGEST_SLOTS = 8
const DIGEST_SLOT_SIZE = 2 + 64
const DIGEST_LIST_SIZE = 4 + DIGEST_SLOTS * DIGEST_SLOT_SIZE
const MAX_DIGEST_LISTS = TPM2_LIMITS.maxSerializedDigestLists

/** A PCR file's content: which PCRs, and their values. */
export interface PcrFile {
  selection: PcrSelection
  values: PcrValues
}

const STRUCTURE = 'tpm2-tools serialized PCR file'

function malformed(offset: number, reason: string): never {
  throw new MalformedTpmStructureError(STRUCTURE, offset, reason)
}

/** Parses a tpm2-tools serialized PCR file. */
export function parseSerializedPcrs(bytes: Uint8Array): PcrFile {
  if (!(bytes instanceof Uint8Array)) malformed(0, 'not a byte array')
  if (bytes.length < SELECTION_SIZE + 4)
    malformed(bytes.length, `truncated: ${bytes.length} bytes, the header alone has ${SELECTION_SIZE + 4}`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const banks = view.getUint32(0, true)
  if (banks === 0 || banks > SELECTION_SLOTS) malformed(0, `bank count ${banks} out of range 1..${SELECTION_SLOTS}`)
  const selection: PcrSelection = []
  for (let i = 0; i < banks; i++) {
    const at = 4 + i * SELECTION_SLOT_SIZE
    const id = view.getUint16(at, true)
    const hash = hashAlgFromId(id)
    if (hash === undefined) malformed(at, `unknown bank 0x${id.toString(16)}`)
    const size = view.getUint8(at + 2)
    if (size < 1 || size > SELECT_BYTES) malformed(at + 2, `sizeofSelect ${size} out of range 1..${SELECT_BYTES}`)
    const pcrs: number[] = []
    for (let pcr = 0; pcr < size * 8; pcr++) {
      if ((view.getUint8(at + 3 + (pcr >> 3)) & (1 << (pcr & 7))) === 0) continue
      if (pcr >= PCR_COUNT) malformed(at + 3, `PCR ${pcr} out of range 0..${PCR_COUNT - 1}`)
      pcrs.push(pcr)
    }
    if (selection.some((b) => b.hash === hash)) malformed(at, `bank ${hash} selected twice`)
    selection.push({ hash, pcrs })
  }
  const lists = view.getUint32(SELECTION_SIZE, true)
  if (lists > MAX_DIGEST_LISTS) malformed(SELECTION_SIZE, `${lists} digest lists exceed ${MAX_DIGEST_LISTS}`)
  const expected = SELECTION_SIZE + 4 + lists * DIGEST_LIST_SIZE
  if (bytes.length !== expected)
    malformed(Math.min(bytes.length, expected), `${bytes.length} bytes, but ${lists} digest lists make ${expected}`)
  const digests: Array<{ value: Uint8Array; at: number }> = []
  for (let l = 0; l < lists; l++) {
    const at = SELECTION_SIZE + 4 + l * DIGEST_LIST_SIZE
    const count = view.getUint32(at, true)
    if (count > DIGEST_SLOTS) malformed(at, `digest count ${count} exceeds ${DIGEST_SLOTS}`)
    for (let d = 0; d < count; d++) {
      const slot = at + 4 + d * DIGEST_SLOT_SIZE
      const size = view.getUint16(slot, true)
      if (size > 64) malformed(slot, `digest size ${size} exceeds 64`)
      digests.push({ value: bytes.slice(slot + 2, slot + 2 + size), at: slot })
    }
  }
  const values: PcrValues = {}
  let index = 0
  for (const bank of selection) {
    const map = new Map<number, Uint8Array>()
    for (const pcr of bank.pcrs) {
      const entry = digests[index++]
      if (entry === undefined) malformed(SELECTION_SIZE, `${digests.length} digests for more selected PCRs`)
      if (entry.value.length !== DIGEST_SIZE[bank.hash])
        malformed(
          entry.at,
          `${bank.hash} PCR ${pcr} value has ${entry.value.length} bytes, not ${DIGEST_SIZE[bank.hash]}`
        )
      map.set(pcr, entry.value)
    }
    values[bank.hash] = map
  }
  if (index !== digests.length) malformed(SELECTION_SIZE, `${digests.length} digests for ${index} selected PCRs`)
  return { selection, values }
}

/** Selected values in the TPM's hashing order; every one must be present and of its bank's size. */
export function orderedPcrValues(selection: PcrSelection, values: PcrValues): Uint8Array[] {
  const out: Uint8Array[] = []
  for (const bank of normalizePcrSelection(selection)) {
    for (const pcr of bank.pcrs) {
      const value = values[bank.hash]?.get(pcr)
      if (value === undefined) throw new InvalidPcrSelectionError(`no value for ${bank.hash} PCR ${pcr}`)
      if (value.length !== DIGEST_SIZE[bank.hash])
        throw new InvalidPcrSelectionError(
          `${bank.hash} PCR ${pcr} value has ${value.length} bytes, not ${DIGEST_SIZE[bank.hash]}`
        )
      out.push(value)
    }
  }
  return out
}

/** Writes the serialized format byte for byte as tpm2-tools does (8 values per digest list). */
export function serializePcrs(selection: PcrSelection, values: PcrValues): Uint8Array {
  const banks = normalizePcrSelection(selection)
  if (banks.length === 0) throw new InvalidPcrSelectionError('nothing selected')
  const ordered = orderedPcrValues(banks, values)
  const lists = Math.ceil(ordered.length / DIGEST_SLOTS)
  if (lists > MAX_DIGEST_LISTS)
    throw new InvalidPcrSelectionError(
      `${ordered.length} values do not fit tpm2-tools' ${MAX_DIGEST_LISTS} digest lists`
    )
  const out = new Uint8Array(SELECTION_SIZE + 4 + lists * DIGEST_LIST_SIZE)
  const view = new DataView(out.buffer)
  view.setUint32(0, banks.length, true)
  banks.forEach((bank, i) => {
    const at = 4 + i * SELECTION_SLOT_SIZE
    view.setUint16(at, HASH_ALG_ID[bank.hash], true)
    view.setUint8(at + 2, TPM2_LIMITS.writtenSizeofSelect)
    for (const pcr of bank.pcrs) out[at + 3 + (pcr >> 3)]! |= 1 << (pcr & 7)
  })
  view.setUint32(SELECTION_SIZE, lists, true)
  for (let l = 0; l < lists; l++) {
    const at = SELECTION_SIZE + 4 + l * DIGEST_LIST_SIZE
    const chunk = ordered.slice(l * DIGEST_SLOTS, (l + 1) * DIGEST_SLOTS)
    view.setUint32(at, chunk.length, true)
    chunk.forEach((value, d) => {
      view.setUint16(at + 4 + d * DIGEST_SLOT_SIZE, value.length, true)
      out.set(value, at + 4 + d * DIGEST_SLOT_SIZE + 2)
    })
  }
  return out
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** JSON PCR file: {"pcrs": {"sha256": {"0": "hex", …}, …}}. Banks keep their order; PCRs ascend. */
export function parseJsonPcrs(text: string): PcrFile {
  if (typeof text !== 'string') throw new MalformedPcrFileError('not text')
  if (text.length > TPM2_LIMITS.maxPcrJsonSize)
    throw new MalformedPcrFileError(`larger than ${TPM2_LIMITS.maxPcrJsonSize} bytes`)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new MalformedPcrFileError(`the JSON does not parse (${(err as Error).message})`)
  }
  const pcrs = isPlainObject(value) ? value.pcrs : undefined
  if (!isPlainObject(pcrs)) throw new MalformedPcrFileError('needs an object "pcrs" mapping banks to {pcr: hex}')
  const selection: PcrSelection = []
  const values: PcrValues = {}
  for (const [bank, entries] of Object.entries(pcrs)) {
    if (!HASH_ALGS.includes(bank as HashAlg)) throw new InvalidPcrSelectionError(`unknown bank "${bank}"`)
    if (!isPlainObject(entries)) throw new MalformedPcrFileError(`bank ${bank} must map PCR numbers to hex`)
    const size = DIGEST_SIZE[bank as HashAlg]
    const map = new Map<number, Uint8Array>()
    for (const [index, hex] of Object.entries(entries)) {
      if (!/^(0|[1-9][0-9]?)$/.test(index) || Number(index) >= PCR_COUNT)
        throw new InvalidPcrSelectionError(`"${index}" is not a PCR number 0..${PCR_COUNT - 1}`)
      if (typeof hex !== 'string' || hex.length !== size * 2 || !/^[0-9a-fA-F]+$/.test(hex))
        throw new MalformedPcrFileError(`${bank} PCR ${index} is not ${size} bytes of hex`)
      map.set(Number(index), new Uint8Array(Buffer.from(hex, 'hex')))
    }
    selection.push({ hash: bank as HashAlg, pcrs: [...map.keys()].sort((a, b) => a - b) })
    values[bank as HashAlg] = map
  }
  return { selection, values }
}

/** A PCR file in either format: JSON if its first non-blank byte is "{", else tpm2-tools serialized. */
export function readPcrsFile(bytes: Uint8Array): PcrFile {
  const first = bytes.find((b) => b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09)
  if (first === 0x7b) {
    if (bytes.length > TPM2_LIMITS.maxPcrJsonSize)
      throw new MalformedPcrFileError(`larger than ${TPM2_LIMITS.maxPcrJsonSize} bytes`)
    return parseJsonPcrs(Buffer.from(bytes).toString('utf8'))
  }
  return parseSerializedPcrs(bytes)
}

/** PcrValues → {"sha256": {"0": "hex"}} for JSON output (PCRs ascending). */
export function pcrValuesToJson(values: PcrValues): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {}
  for (const [bank, map] of Object.entries(values)) {
    const entries: Record<string, string> = {}
    for (const [pcr, value] of [...(map as Map<number, Uint8Array>)].sort((a, b) => a[0] - b[0]))
      entries[String(pcr)] = Buffer.from(value).toString('hex')
    out[bank] = entries
  }
  return out
}
