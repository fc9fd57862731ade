/**
 * Decoders of the UEFI structures found in event data (UEFI_VARIABLE_DATA, UEFI_IMAGE_LOAD_EVENT,
 * EFI device paths, EFI_LOAD_OPTION). Event data is never trusted input: every decoder is bounds
 * checked and returns undefined for anything that does not decode exactly.
 */
import { EVENTLOG_LIMITS } from './limits.js'

/** Vendor GUID of the UEFI global variables (SecureBoot, PK, KEK, Boot####…). */
export const EFI_GLOBAL_VARIABLE = '8be4df61-93ca-11d2-aa0d-00e098032b8c'
/** Vendor GUID of the image security databases (db, dbx). */
export const EFI_IMAGE_SECURITY_DATABASE = 'd719b2cb-3d3a-4596-a3bc-dad00e67656f'

const view = (bytes: Uint8Array): DataView => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
const hex = (value: number | bigint): string => `0x${value.toString(16).toUpperCase()}`

/** EFI_GUID in its text form (the first three fields are little-endian in memory). */
export function formatGuid(bytes: Uint8Array): string {
  const h = (start: number, end: number, reverse: boolean): string => {
    const part = Array.from(bytes.subarray(start, end))
    return Buffer.from(reverse ? part.reverse() : part).toString('hex')
  }
  return `${h(0, 4, true)}-${h(4, 6, true)}-${h(6, 8, true)}-${h(8, 10, false)}-${h(10, 16, false)}`
}

/** The 16 bytes of an EFI_GUID from its text form; undefined if `text` is not one. */
export function guidBytes(text: string): Uint8Array | undefined {
  const m = /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/i.exec(text)
  if (m === null) return undefined
  const le = (h: string): number[] => Array.from(Buffer.from(h, 'hex')).reverse()
  return Uint8Array.from([...le(m[1]!), ...le(m[2]!), ...le(m[3]!), ...Buffer.from(m[4]! + m[5]!, 'hex')])
}

/** UTF-16LE text; undefined unless every code unit is printable (a terminating NUL is dropped). */
export function printableUtf16(bytes: Uint8Array): string | undefined {
  if (bytes.length === 0 || bytes.length % 2 !== 0) return undefined
  let text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf16le')
  if (text.endsWith('\0')) text = text.slice(0, -1)
  return text.length > 0 && /^[\t\x20-\x7e\u00a0-\ud7ff\ue000-\ufffd]*$/.test(text) ? text : undefined
}

/** ASCII text; undefined unless every byte is printable (trailing NULs are dropped). */
export function printableAscii(bytes: Uint8Array): string | undefined {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1').replace(/\0+$/, '')
  return text.length > 0 && /^[\t\n\r\x20-\x7e]*$/.test(text) ? text : undefined
}

export interface UefiVariable {
  /** VariableName: the vendor GUID, e.g. 8be4df61-93ca-11d2-aa0d-00e098032b8c (EFI_GLOBAL_VARIABLE). */
  guid: string
  /** UnicodeName, e.g. "SecureBoot", "db", "Boot0001". */
  name: string
  /** VariableData. */
  data: Uint8Array
}

/** UEFI_VARIABLE_DATA of EV_EFI_VARIABLE_* events; undefined unless its lengths account for every byte. */
export function decodeUefiVariable(data: Uint8Array): UefiVariable | undefined {
  if (data.length < 32) return undefined
  const v = view(data)
  const nameChars = v.getBigUint64(16, true)
  const dataLength = v.getBigUint64(24, true)
  if (nameChars > BigInt(EVENTLOG_LIMITS.maxVariableNameChars) || dataLength > BigInt(data.length)) return undefined
  const nameEnd = 32 + Number(nameChars) * 2
  if (nameEnd + Number(dataLength) !== data.length) return undefined
  return {
    guid: formatGuid(data.subarray(0, 16)),
    name: Buffer.from(data.subarray(32, nameEnd)).toString('utf16le'),
    data: data.subarray(nameEnd)
  }
}

export interface UefiImageLoad {
  imageLocationInMemory: bigint
  imageLengthInMemory: bigint
  imageLinkTimeAddress: bigint
  /** The raw EFI device path (empty when the firmware gave none). */
  devicePath: Uint8Array
}

/**
 * UEFI_IMAGE_LOAD_EVENT of EV_EFI_BOOT_SERVICES_APPLICATION/DRIVER and EV_EFI_RUNTIME_SERVICES_DRIVER.
 * Bytes after the device path are tolerated: some shim versions pad the event.
 */
export function decodeImageLoad(data: Uint8Array): UefiImageLoad | undefined {
  if (data.length < 32) return undefined
  const v = view(data)
  const pathLength = v.getBigUint64(24, true)
  if (pathLength > BigInt(data.length - 32)) return undefined
  return {
    imageLocationInMemory: v.getBigUint64(0, true),
    imageLengthInMemory: v.getBigUint64(8, true),
    imageLinkTimeAddress: v.getBigUint64(16, true),
    devicePath: data.subarray(32, 32 + Number(pathLength))
  }
}

function nodeText(type: number, subtype: number, body: Uint8Array): string | undefined {
  const v = view(body)
  const n = body.length
  const guid = (): string => formatGuid(body.subarray(0, 16))
  switch (`${type}.${subtype}`) {
    case '1.1':
      return n === 2 ? `Pci(${hex(body[1]!)},${hex(body[0]!)})` : undefined
    case '1.4':
      return n >= 16 ? `VenHw(${guid()})` : undefined
    case '2.1': {
      if (n !== 8) return undefined
      const hid = v.getUint32(0, true)
      const uid = v.getUint32(4, true)
      if (hid === 0x0a0341d0) return `PciRoot(${hex(uid)})`
      if (hid === 0x0a0841d0) return `PcieRoot(${hex(uid)})`
      return `Acpi(${hex(hid)},${hex(uid)})`
    }
    case '3.2':
      return n === 4 ? `Scsi(${hex(v.getUint16(0, true))},${hex(v.getUint16(2, true))})` : undefined
    case '3.5':
      return n === 2 ? `USB(${hex(body[0]!)},${hex(body[1]!)})` : undefined
    case '3.10':
      return n >= 16 ? `VenMsg(${guid()})` : undefined
    case '3.11':
      return n === 33 ? `MAC(${Buffer.from(body.subarray(0, 6)).toString('hex')},${hex(body[32]!)})` : undefined
    case '3.18':
      return n === 6
        ? `Sata(${hex(v.getUint16(0, true))},${hex(v.getUint16(2, true))},${hex(v.getUint16(4, true))})`
        : undefined
    case '3.23':
      return n === 12
        ? `NVMe(${hex(v.getUint32(0, true))},${Array.from(body.subarray(4, 12), (b) => b.toString(16).padStart(2, '0').toUpperCase()).join('-')})`
        : undefined
    case '3.24':
      return printableAscii(body) === undefined ? undefined : `Uri(${printableAscii(body)!})`
    case '4.1': {
      if (n !== 38) return undefined
      const format = body[36] === 2 ? 'GPT' : body[36] === 1 ? 'MBR' : hex(body[36]!)
      const signature = body[37] === 2 ? formatGuid(body.subarray(20, 36)) : hex(v.getUint32(20, true))
      return `HD(${v.getUint32(0, true)},${format},${signature},${hex(v.getBigUint64(4, true))},${hex(v.getBigUint64(12, true))})`
    }
    case '4.3':
      return n >= 16 ? `VenMedia(${guid()})` : undefined
    case '4.4':
      return printableUtf16(body)
    case '4.6':
      return n === 16 ? `FvFile(${guid()})` : undefined
    case '4.7':
      return n === 16 ? `Fv(${guid()})` : undefined
    case '4.8':
      return n === 20 ? `Offset(${hex(v.getBigUint64(4, true))},${hex(v.getBigUint64(12, true))})` : undefined
    default:
      return undefined
  }
}

/**
 * EFI device path in the UEFI text form (e.g. `PciRoot(0x0)/Pci(0x3,0x0)/Scsi(0x1,0x0)/HD(…)/\EFI\BOOT\BOOTX64.EFI`);
 * nodes without a text form here are written as Path(type,subtype,hex). undefined when the nodes
 * do not tile the bytes exactly up to an End node, or there are too many.
 */
export function devicePathText(path: Uint8Array): string | undefined {
  const parts: string[] = []
  let offset = 0
  let instance: string[] = []
  for (let count = 0; offset + 4 <= path.length; count++) {
    if (count >= EVENTLOG_LIMITS.maxDevicePathNodes) return undefined
    const type = path[offset]!
    const subtype = path[offset + 1]!
    const length = path[offset + 2]! | (path[offset + 3]! << 8)
    if (length < 4 || offset + length > path.length) return undefined
    const body = path.subarray(offset + 4, offset + length)
    offset += length
    if (type === 0x7f) {
      parts.push(instance.join('/'))
      instance = []
      if (subtype === 0xff) return offset === path.length ? parts.join(',') : undefined
      continue
    }
    instance.push(nodeText(type, subtype, body) ?? `Path(${type},${subtype},${Buffer.from(body).toString('hex')})`)
  }
  return undefined
}

export interface LoadOption {
  attributes: number
  description: string
  /** Text of the first device path, when it decodes. */
  filePath: string | undefined
}

/** EFI_LOAD_OPTION (the data of Boot#### variables). */
export function decodeLoadOption(data: Uint8Array): LoadOption | undefined {
  if (data.length < 8) return undefined
  const v = view(data)
  const pathLength = v.getUint16(4, true)
  let end = 6
  while (end + 1 < data.length && (data[end] !== 0 || data[end + 1] !== 0)) end += 2
  if (end + 1 >= data.length) return undefined
  const description = Buffer.from(data.subarray(6, end)).toString('utf16le')
  const pathStart = end + 2
  if (pathStart + pathLength > data.length) return undefined
  return {
    attributes: v.getUint32(0, true),
    description,
    filePath: devicePathText(data.subarray(pathStart, pathStart + pathLength))
  }
}
