import type { HashAlg } from '../pcrs.js'

/** TCG PC Client event types (PFP spec §10.4.1). */
export const EV = {
  EV_PREBOOT_CERT: 0x0, EV_POST_CODE: 0x1, EV_UNUSED: 0x2, EV_NO_ACTION: 0x3, EV_SEPARATOR: 0x4, EV_ACTION: 0x5,
  EV_EVENT_TAG: 0x6, EV_S_CRTM_CONTENTS: 0x7, EV_S_CRTM_VERSION: 0x8, EV_CPU_MICROCODE: 0x9, EV_PLATFORM_CONFIG_FLAGS: 0xa,
  EV_TABLE_OF_DEVICES: 0xb, EV_COMPACT_HASH: 0xc, EV_IPL: 0xd, EV_IPL_PARTITION_DATA: 0xe, EV_NONHOST_CODE: 0xf,
  EV_NONHOST_CONFIG: 0x10, EV_NONHOST_INFO: 0x11, EV_OMIT_BOOT_DEVICE_EVENTS: 0x12,
  EV_EFI_VARIABLE_DRIVER_CONFIG: 0x80000001, EV_EFI_VARIABLE_BOOT: 0x80000002, EV_EFI_BOOT_SERVICES_APPLICATION: 0x80000003,
  EV_EFI_BOOT_SERVICES_DRIVER: 0x80000004, EV_EFI_RUNTIME_SERVICES_DRIVER: 0x80000005, EV_EFI_GPT_EVENT: 0x80000006,
  EV_EFI_ACTION: 0x80000007, EV_EFI_PLATFORM_FIRMWARE_BLOB: 0x80000008, EV_EFI_HANDOFF_TABLES: 0x80000009,
  EV_EFI_PLATFORM_FIRMWARE_BLOB2: 0x8000000a, EV_EFI_HANDOFF_TABLES2: 0x8000000b, EV_EFI_VARIABLE_BOOT2: 0x8000000c,
  EV_EFI_HCRTM_EVENT: 0x80000010, EV_EFI_VARIABLE_AUTHORITY: 0x800000e0, EV_EFI_SPDM_FIRMWARE_BLOB: 0x800000e1,
  EV_EFI_SPDM_FIRMWARE_CONFIG: 0x800000e2
} as const

export const EVENT_TYPES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(EV).map(([name, value]) => [value, name]))

export function eventTypeName (type: number): string {
  return EVENT_TYPES[type] ?? `0x${type.toString(16).padStart(8, '0')}`
}

export interface LogEvent {
  /** Position in the log (0 = the first event, the Spec ID header in crypto-agile logs). */
  readonly index: number
  readonly offset: number
  readonly pcr: number
  readonly type: number
  readonly typeName: string
  /** Digest per bank (banks of unknown algorithms are left out). */
  readonly digests: Partial<Record<HashAlg, Uint8Array>>
  readonly data: Uint8Array
}

export type EventLogFormat = 'crypto-agile' | 'sha1-legacy'

declare const unverified: unique symbol
declare const verified: unique symbol

/** A parsed log. Nothing in it is trusted until verifyEventLog compares it with a quote. */
export interface UnverifiedEventLog {
  readonly [unverified]: true
  readonly format: EventLogFormat
  readonly banks: HashAlg[]
  readonly startupLocality: number | undefined
  readonly events: readonly LogEvent[]
}

/** A log whose replay matched quoted PCRs: only events of verified PCRs and banks are kept. */
export interface VerifiedEventLog {
  readonly [verified]: true
  readonly format: EventLogFormat
  readonly banks: HashAlg[]
  readonly events: readonly LogEvent[]
  /** The quirk that was needed for the replay to match, if any. */
  readonly quirk: string | undefined
}
