import { HASH_ALG_ID, hashAlgFromId, DIGEST_SIZE, HASH_ALGS, PCR_COUNT, type HashAlg, type PcrSelection, type PcrValues } from '../pcrs.js'
import { TPM2_LIMITS } from './limits.js'
import { MalformedTpmStructureError, InvalidPcrSelectionError } from './errors.js'

/**
 * tpm2-tools "serialized" PCR files (`tpm2_quote -o`, read by `tpm2_checkquote -f`) are raw C
 * structures in host byte order (little-endian here): a TPML_PCR_SELECTION padded to its full
 * C size, a u32 count, then that many TPML_DIGEST (each 8 slots of u16 size + 64-byte buffer).
 * Values run bank by bank in selection order, PCRs ascending, 8 per TPML_DIGEST.
 */
const SELECTION_SLOTS = 16
const SELECTION_SLOT_SIZE = 8 // u16 hash, u8 sizeofSelect, u8[4] pcrSelect, 1 byte padding
const SELECTION_SIZE = 4 + SELECTION_SLOTS * SELECTION_SLOT_SIZE
const DIGEST_SLOTS = 8
const DIGEST_SLOT_SIZE = 2 + 64
const DIGEST_LIST_SIZE = 4 + DIGEST_SLOTS * DIGEST_SLOT_SIZE

export interface PcrFile {
  selection: PcrSelection
  values: PcrValues
}

function malformed (offset: number, reason: string): never {
  throw new MalformedTpmStructureError('tpm2-tools serialized PCR file', offset, reason)
}

export function parseSerializedPcrs (bytes: Uint8Array): PcrFile {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (bytes.length < SELECTION_SIZE + 4) malformed(0, `truncated: ${bytes.length} bytes`)
  const banks = view.getUint32(0, true)
  if (banks === 0 || banks > SELECTION_SLOTS) malformed(0, `bank count ${banks} out of range`)
  const selection: PcrSelection = []
  for (let i = 0; i < banks; i++) {
    const at = 4 + i * SELECTION_SLOT_SIZE
    const hash = hashAlgFromId(view.getUint16(at, true))
    if (hash === undefined) malformed(at, `unknown bank 0x${view.getUint16(at, true).toString(16)}`)
    const size = view.getUint8(at + 2)
    if (size < 1 || size > 4) malformed(at + 2, `sizeofSelect ${size} out of range`)
    const pcrs: number[] = []
    for (let pcr = 0; pcr < size * 8; pcr++) {
      if ((view.getUint8(at + 3 + (pcr >> 3)) & (1 << (pcr & 7))) === 0) continue
      if (pcr >= PCR_COUNT) malformed(at + 3, `PCR ${pcr} out of range`)
      pcrs.push(pcr)
    }
    if (selection.some((b) => b.hash === hash)) malformed(at, `bank ${hash} twice`)
    selection.push({ hash, pcrs })
  }
  const lists = view.getUint32(SELECTION_SIZE, true)
  if (lists > TPM2_LIMITS.maxSerializedDigestLists) malformed(SELECTION_SIZE, `${lists} digest lists exceed ${TPM2_LIMITS.maxSerializedDigestLists}`)
  if (bytes.length !== SELECTION_SIZE + 4 + lists * DIGEST_LIST_SIZE) malformed(SELECTION_SIZE, `size ${bytes.length} does not match ${lists} digest lists`)
  const digests: Uint8Array[] = []
  for (let l = 0; l < lists; l++) {
    const at = SELECTION_SIZE + 4 + l * DIGEST_LIST_SIZE
    const count = view.getUint32(at, true)
    if (count > DIGEST_SLOTS) malformed(at, `digest count ${count} exceeds ${DIGEST_SLOTS}`)
    for (let d = 0; d < count; d++) {
      const slot = at + 4 + d * DIGEST_SLOT_SIZE
      const size = view.getUint16(slot, true)
      if (size > 64) malformed(slot, `digest size ${size} exceeds 64`)
      digests.push(bytes.slice(slot + 2, slot + 2 + size))
    }
  }
  const values: PcrValues = {}
  let index = 0
  for (const bank of selection) {
    const map = new Map<number, Uint8Array>()
    for (const pcr of bank.pcrs) {
      const value = digests[index++]
      if (value === undefined) malformed(SELECTION_SIZE, 'fewer digests than selected PCRs')
      if (value.length !== DIGEST_SIZE[bank.hash]) malformed(SELECTION_SIZE, `${bank.hash} PCR ${pcr} value has ${value.length} bytes`)
      map.set(pcr, value)
    }
    values[bank.hash] = map
  }
  if (index !== digests.length) malformed(SELECTION_SIZE, 'more digests than selected PCRs')
  return { selection, values }
}

/** Writes the serialized format, byte-compatible with tpm2-tools (little-endian hosts). */
export function serializePcrs (selection: PcrSelection, values: PcrValues): Uint8Array {
  const ordered: Uint8Array[] = []
  for (const bank of selection) {
    for (const pcr of [...bank.pcrs].sort((a, b) => a - b)) {
      const value = values[bank.hash]?.get(pcr)
      if (value === undefined) throw new InvalidPcrSelectionError(`no value for ${bank.hash} PCR ${pcr}`)
      ordered.push(value)
    }
  }
  const lists = Math.ceil(ordered.length / DIGEST_SLOTS)
  const out = new Uint8Array(SELECTION_SIZE + 4 + lists * DIGEST_LIST_SIZE)
  const view = new DataView(out.buffer)
  view.setUint32(0, selection.length, true)
  selection.forEach((bank, i) => {
    const at = 4 + i * SELECTION_SLOT_SIZE
    view.setUint16(at, HASH_ALG_ID[bank.hash], true)
    view.setUint8(at + 2, 3)
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

/** JSON PCR file: {"pcrs": {"sha256": {"0": "hex", …}}}. */
export function parseJsonPcrs (text: string): PcrFile {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new InvalidPcrSelectionError(`PCR JSON does not parse: ${(err as Error).message}`)
  }
  const pcrs = (value as { pcrs?: unknown })?.pcrs
  if (typeof pcrs !== 'object' || pcrs === null || Array.isArray(pcrs)) throw new InvalidPcrSelectionError('PCR JSON needs an object "pcrs"')
  const selection: PcrSelection = []
  const values: PcrValues = {}
  for (const [bank, entries] of Object.entries(pcrs as Record<string, unknown>)) {
    if (!HASH_ALGS.includes(bank as HashAlg)) throw new InvalidPcrSelectionError(`unknown bank "${bank}"`)
    if (typeof entries !== 'object' || entries === null || Array.isArray(entries)) throw new InvalidPcrSelectionError(`bank ${bank} must map PCR numbers to hex`)
    const map = new Map<number, Uint8Array>()
    for (const [index, hex] of Object.entries(entries as Record<string, unknown>)) {
      if (!/^(0|[1-9]\d?)$/.test(index) || Number(index) >= PCR_COUNT) throw new InvalidPcrSelectionError(`"${index}" is not a PCR number`)
      const size = DIGEST_SIZE[bank as HashAlg]
      if (typeof hex !== 'string' || hex.length !== size * 2 || !/^[0-9a-fA-F]+$/.test(hex)) throw new InvalidPcrSelectionError(`${bank} PCR ${index} is not ${size} bytes of hex`)
      map.set(Number(index), new Uint8Array(Buffer.from(hex, 'hex')))
    }
    selection.push({ hash: bank as HashAlg, pcrs: [...map.keys()].sort((a, b) => a - b) })
    values[bank as HashAlg] = map
  }
  return { selection, values }
}

/** A PCR file in either format: JSON if it starts with "{", else tpm2-tools serialized. */
export function readPcrsFile (bytes: Uint8Array): PcrFile {
  const first = bytes.find((b) => b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09)
  return first === 0x7b ? parseJsonPcrs(Buffer.from(bytes).toString('utf8')) : parseSerializedPcrs(bytes)
}

/** PcrValues → {"sha256": {"0": "hex"}} for JSON output. */
export function pcrValuesToJson (values: PcrValues): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {}
  for (const [bank, map] of Object.entries(values)) {
    out[bank] = {}
    for (const [pcr, value] of [...(map as Map<number, Uint8Array>)].sort((a, b) => a[0] - b[0])) out[bank][String(pcr)] = Buffer.from(value).toString('hex')
  }
  return out
}
