/**
 * Event data and events in the layouts firmware, shim, GRUB and systemd-stub write, for
 * encodeEventLog (a boot simulator, test logs). Each builder measures what the real component
 * measures, so facts read from the written log are bound to its digests.
 */
import type { HashAlg } from '../pcrs.js'
import { EventLogEncodeError } from './errors.js'
import type { SecureBootKeyDatabase } from './facts.js'
import { EVENTLOG_LIMITS } from './limits.js'
import { EV } from './types.js'
import { EFI_GLOBAL_VARIABLE, EFI_IMAGE_SECURITY_DATABASE, guidBytes } from './uefi.js'
import type { EventToWrite } from './writer.js'

function guid(value: Uint8Array | string): Uint8Array {
  const bytes = typeof value === 'string' ? guidBytes(value) : value
  if (bytes?.length !== 16) throw new EventLogEncodeError(`not a GUID: ${String(value)}`)
  return bytes
}

function u64(value: bigint | number): Uint8Array {
  const out = new Uint8Array(8)
  new DataView(out.buffer).setBigUint64(0, BigInt(value), true)
  return out
}

const concat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts))
const utf16z = (text: string): Uint8Array => new Uint8Array(Buffer.from(`${text}\0`, 'utf16le'))

/** UEFI_VARIABLE_DATA (VariableName GUID, UnicodeNameLength, VariableDataLength, UnicodeName, VariableData). */
export function uefiVariableData(vendor: Uint8Array | string, name: string, data: Uint8Array): Uint8Array {
  if (name.length > EVENTLOG_LIMITS.maxVariableNameChars)
    throw new EventLogEncodeError(`variable name of ${name.length} characters`)
  return concat(guid(vendor), u64(name.length), u64(data.length), new Uint8Array(Buffer.from(name, 'utf16le')), data)
}

/** EV_EFI_VARIABLE_DRIVER_CONFIG of a Secure Boot variable in PCR 7, under the vendor GUID the firmware uses. */
export function secureBootVariableEvent(name: 'SecureBoot' | SecureBootKeyDatabase, data: Uint8Array): EventToWrite {
  const vendor = name === 'db' || name === 'dbx' ? EFI_IMAGE_SECURITY_DATABASE : EFI_GLOBAL_VARIABLE
  return { pcr: 7, type: EV.EV_EFI_VARIABLE_DRIVER_CONFIG, data: uefiVariableData(vendor, name, data) }
}

/** An EFI device path of one media file-path node (e.g. `\EFI\BOOT\BOOTX64.EFI`) and the End node. */
export function filePathDevicePath(path: string): Uint8Array {
  const text = utf16z(path)
  if (text.length + 4 > 0xffff) throw new EventLogEncodeError('file path too long for a device path node')
  const header = Uint8Array.of(0x04, 0x04, (text.length + 4) & 0xff, (text.length + 4) >>> 8)
  return concat(header, text, Uint8Array.of(0x7f, 0xff, 0x04, 0x00))
}

/** UEFI_IMAGE_LOAD_EVENT: where the image was loaded and the device path it came from. */
export function imageLoadEventData(
  image: { devicePath?: Uint8Array; locationInMemory?: bigint; lengthInMemory?: bigint; linkTimeAddress?: bigint } = {}
): Uint8Array {
  const path = image.devicePath ?? new Uint8Array(0)
  return concat(
    u64(image.locationInMemory ?? 0n),
    u64(image.lengthInMemory ?? 0n),
    u64(image.linkTimeAddress ?? 0n),
    u64(path.length),
    path
  )
}

/**
 * EV_EFI_BOOT_SERVICES_APPLICATION (PCR 4 by default): its digest is the image's Authenticode hash,
 * which only the caller knows, so `digests` MUST cover every bank of the log.
 */
export function bootApplicationEvent(image: {
  digests: Partial<Record<HashAlg, Uint8Array>>
  path?: string
  devicePath?: Uint8Array
  pcr?: number
}): EventToWrite {
  const devicePath = image.devicePath ?? (image.path === undefined ? undefined : filePathDevicePath(image.path))
  return {
    pcr: image.pcr ?? 4,
    type: EV.EV_EFI_BOOT_SERVICES_APPLICATION,
    data: imageLoadEventData({ devicePath }),
    digests: image.digests
  }
}

/** EV_SEPARATOR: 00000000, or FFFFFFFF when the firmware reports an error. */
export function separatorEvent(pcr: number, options: { error?: boolean } = {}): EventToWrite {
  return { pcr, type: EV.EV_SEPARATOR, data: new Uint8Array(4).fill(options.error === true ? 0xff : 0) }
}

/** EV_S_CRTM_VERSION in PCR 0: the version as a NUL-terminated UTF-16 string. */
export function sCrtmVersionEvent(version: string): EventToWrite {
  return { pcr: 0, type: EV.EV_S_CRTM_VERSION, data: utf16z(version) }
}

/** EV_EFI_ACTION: an ASCII string without terminator (e.g. "Calling EFI Application from Boot Option" in PCR 4). */
export function efiActionEvent(pcr: number, action: string): EventToWrite {
  return { pcr, type: EV.EV_EFI_ACTION, data: new Uint8Array(Buffer.from(action, 'latin1')) }
}

/** The two EV_EFI_ACTION events firmware measures into PCR 5 inside a successful ExitBootServices(). */
export function exitBootServicesEvents(): EventToWrite[] {
  return [
    efiActionEvent(5, 'Exit Boot Services Invocation'),
    efiActionEvent(5, 'Exit Boot Services Returned with Success')
  ]
}

/**
 * The kernel command line as the boot loader measures it. grub: EV_IPL in PCR 8, logged as
 * "kernel_cmdline: TEXT\0" with the digest over TEXT (GRUB's own path as argv[0] is part of TEXT
 * for GRUB, e.g. "/vmlinuz-6.1 root=/dev/vda1 ro"). systemd-stub: EV_IPL in PCR 12, the UTF-16
 * string with its NUL, as logged and as hashed.
 */
export function kernelCommandLineEvent(text: string, options: { style?: 'grub' | 'systemd-stub' } = {}): EventToWrite {
  if (options.style === 'systemd-stub') return { pcr: 12, type: EV.EV_IPL, data: utf16z(text) }
  return {
    pcr: 8,
    type: EV.EV_IPL,
    data: new Uint8Array(Buffer.from(`kernel_cmdline: ${text}\0`, 'latin1')),
    measured: new Uint8Array(Buffer.from(text, 'latin1'))
  }
}
