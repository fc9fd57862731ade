import { toHex } from '../../common/index.js'
import type { HashAlg } from '../pcrs.js'
import { STARTUP_LOCALITY_SIGNATURE, SPEC_ID_SIGNATURE } from './parse.js'
import { EV, type LogEvent, type UnverifiedEventLog } from './types.js'
import {
  decodeImageLoad,
  decodeLoadOption,
  decodeUefiVariable,
  devicePathText,
  formatGuid,
  printableAscii,
  printableUtf16
} from './uefi.js'
import type { VerifiedEventLog } from './verify.js'

/** One event as a readable row (for `fleet eventlog show`). */
export interface EventRow {
  index: number
  pcr: number
  type: number
  typeName: string
  /** Hex digest per bank. */
  digests: Partial<Record<HashAlg, string>>
  /** Decoded event data, one line. Untrusted unless the log was verified, and even then only a description. */
  summary: string
  /** Set on events a quirk workaround added (see LogEvent.addedBy). */
  addedBy?: string
}

const MAX_TEXT = 160
const latin1 = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
const quoted = (text: string): string => JSON.stringify(text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}…` : text)
const u64 = (data: Uint8Array, at: number): bigint =>
  new DataView(data.buffer, data.byteOffset, data.byteLength).getBigUint64(at, true)

function noAction(event: LogEvent): string | undefined {
  const data = event.data
  const signature = latin1(data.subarray(0, 16))
  if (signature === SPEC_ID_SIGNATURE) return 'Spec ID Event03 (crypto-agile log header)'
  // parseEventLog takes the locality only from PCR index 0, where the spec puts the event.
  if (signature === STARTUP_LOCALITY_SIGNATURE && data.length === 17)
    return `StartupLocality ${data[16]!}${event.pcr === 0 ? '' : ' (not at PCR index 0: not used)'}`
  return undefined
}

function variable(data: Uint8Array): string | undefined {
  const v = decodeUefiVariable(data)
  if (v === undefined) return undefined
  if (/^(Boot|Driver|SysPrep)[0-9A-F]{4}$/.test(v.name)) {
    const option = decodeLoadOption(v.data)
    if (option !== undefined)
      return `${v.name} ${quoted(option.description)}${option.filePath === undefined ? '' : ` ${option.filePath}`}`
  }
  if (v.name === 'BootOrder' && v.data.length % 2 === 0) {
    return `BootOrder = ${Array.from({ length: v.data.length / 2 }, (_, i) => (v.data[2 * i]! | (v.data[2 * i + 1]! << 8)).toString(16).padStart(4, '0').toUpperCase()).join(',')}`
  }
  if (v.data.length <= 4) return `${v.name} = ${toHex(v.data) || '(empty)'}`
  return `${v.name} (${v.data.length} bytes, vendor ${formatGuid(data.subarray(0, 16))})`
}

function image(data: Uint8Array): string | undefined {
  const load = decodeImageLoad(data)
  if (load === undefined) return undefined
  const path = load.devicePath.length === 0 ? undefined : devicePathText(load.devicePath)
  return path ?? `image at 0x${load.imageLocationInMemory.toString(16)}, ${load.imageLengthInMemory} bytes`
}

function decoded(event: LogEvent): string | undefined {
  const data = event.data
  switch (event.type) {
    case EV.EV_NO_ACTION:
      return noAction(event)
    case EV.EV_SEPARATOR:
      if (data.length === 4 && data.every((b) => b === 0xff)) return 'separator FFFFFFFF (error)'
      return data.length === 4 ? `separator ${toHex(data)}` : undefined
    case EV.EV_EFI_VARIABLE_DRIVER_CONFIG:
    case EV.EV_EFI_VARIABLE_BOOT:
    case EV.EV_EFI_VARIABLE_BOOT2:
    case EV.EV_EFI_VARIABLE_AUTHORITY:
      return variable(data)
    case EV.EV_EFI_BOOT_SERVICES_APPLICATION:
    case EV.EV_EFI_BOOT_SERVICES_DRIVER:
    case EV.EV_EFI_RUNTIME_SERVICES_DRIVER:
      return image(data)
    case EV.EV_EFI_PLATFORM_FIRMWARE_BLOB:
      return data.length === 16
        ? `firmware blob at 0x${u64(data, 0).toString(16)}, 0x${u64(data, 8).toString(16)} bytes`
        : undefined
    case EV.EV_EFI_GPT_EVENT:
    case EV.EV_EFI_GPT_EVENT2: {
      // UEFI_GPT_DATA: the partition table header (HeaderSize at byte 12), then NumberOfPartitions.
      if (data.length < 16) return undefined
      const headerSize = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(12, true)
      return headerSize + 8 <= data.length ? `GPT with ${u64(data, headerSize)} partitions` : undefined
    }
    case EV.EV_EVENT_TAG: {
      if (data.length < 8) return undefined
      const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
      const size = view.getUint32(4, true)
      if (size !== data.length - 8) return undefined
      const text = printableAscii(data.subarray(8))
      return `tag 0x${view.getUint32(0, true).toString(16)}${text === undefined ? ` (${size} bytes)` : `: ${quoted(text)}`}`
    }
    case EV.EV_S_CRTM_VERSION:
      return printableUtf16(data) ?? printableAscii(data) ?? (data.length === 16 ? formatGuid(data) : undefined)
    default:
      return undefined
  }
}

/** One line describing an event's data (decoded structures, quoted text, or its size). */
export function describeEvent(event: LogEvent): string {
  const summary = decoded(event)
  if (summary !== undefined) return summary
  const text = printableAscii(event.data) ?? printableUtf16(event.data)
  return text === undefined ? `${event.data.length} bytes` : quoted(text)
}

/** Readable rows of every event of a log, verified or not. */
export function formatEvents(log: UnverifiedEventLog | VerifiedEventLog): EventRow[] {
  return log.events.map((event) => {
    const digests: Partial<Record<HashAlg, string>> = {}
    for (const [bank, value] of Object.entries(event.digests) as Array<[HashAlg, Uint8Array]>)
      digests[bank] = toHex(value)
    const row: EventRow = {
      index: event.index,
      pcr: event.pcr,
      type: event.type,
      typeName: event.typeName,
      digests,
      summary: describeEvent(event)
    }
    if (event.addedBy !== undefined) row.addedBy = event.addedBy
    return row
  })
}
