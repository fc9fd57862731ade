import type { HashAlg } from '../pcrs.js'

/** TCG PC Client event types (PC Client Platform Firmware Profile, "Event Types"). Values are frozen by the spec. */
export const EV = {
  EV_PREBOOT_CERT: 0x0,
  EV_POST_CODE: 0x1,
  EV_UNUSED: 0x2,
  EV_NO_ACTION: 0x3,
  EV_SEPARATOR: 0x4,
  EV_ACTION: 0x5,
  EV_EVENT_TAG: 0x6,
  EV_S_CRTM_CONTENTS: 0x7,
  EV_S_CRTM_VERSION: 0x8,
  EV_CPU_MICROCODE: 0x9,
  EV_PLATFORM_CONFIG_FLAGS: 0xa,
  EV_TABLE_OF_DEVICES: 0xb,
  EV_COMPACT_HASH: 0xc,
  EV_IPL: 0xd,
  EV_IPL_PARTITION_DATA: 0xe,
  EV_NONHOST_CODE: 0xf,
  EV_NONHOST_CONFIG: 0x10,
  EV_NONHOST_INFO: 0x11,
  EV_OMIT_BOOT_DEVICE_EVENTS: 0x12,
  EV_EFI_VARIABLE_DRIVER_CONFIG: 0x80000001,
  EV_EFI_VARIABLE_BOOT: 0x80000002,
  EV_EFI_BOOT_SERVICES_APPLICATION: 0x80000003,
  EV_EFI_BOOT_SERVICES_DRIVER: 0x80000004,
  EV_EFI_RUNTIME_SERVICES_DRIVER: 0x80000005,
  EV_EFI_GPT_EVENT: 0x80000006,
  EV_EFI_ACTION: 0x80000007,
  EV_EFI_PLATFORM_FIRMWARE_BLOB: 0x80000008,
  EV_EFI_HANDOFF_TABLES: 0x80000009,
  EV_EFI_PLATFORM_FIRMWARE_BLOB2: 0x8000000a,
  EV_EFI_HANDOFF_TABLES2: 0x8000000b,
  EV_EFI_VARIABLE_BOOT2: 0x8000000c,
  EV_EFI_GPT_EVENT2: 0x8000000d,
  EV_EFI_HCRTM_EVENT: 0x80000010,
  EV_EFI_VARIABLE_AUTHORITY: 0x800000e0,
  EV_EFI_SPDM_FIRMWARE_BLOB: 0x800000e1,
  EV_EFI_SPDM_FIRMWARE_CONFIG: 0x800000e2,
  EV_EFI_SPDM_DEVICE_POLICY: 0x800000e3,
  EV_EFI_SPDM_DEVICE_AUTHORITY: 0x800000e4
} as const

export type EventTypeName = keyof typeof EV

export const EVENT_TYPES: Readonly<Record<number, EventTypeName>> = Object.freeze(
  Object.fromEntries(Object.entries(EV).map(([name, value]) => [value, name])) as Record<number, EventTypeName>
)

/** The spec name of an event type, or its value as 0x%08x for types the spec does not name. */
export function eventTypeName(type: number): string {
  return EVENT_TYPES[type] ?? `0x${type.toString(16).padStart(8, '0')}`
}

export interface LogEvent {
  /** Position in the log (0 = the first event, which is the Spec ID header in crypto-agile logs). */
  readonly index: number
  /** Byte offset of the event in the log. */
  readonly offset: number
  /**
   * The PCR the event extends, 0 to PCR_COUNT - 1. EV_NO_ACTION events extend nothing and may hold
   * any 32-bit value here (Windows logs end with EV_NO_ACTION events at 0xFFFFFFFF).
   */
  readonly pcr: number
  readonly type: number
  /** The spec name of `type` (see eventTypeName). */
  readonly typeName: string
  /** Digest per bank. Digests of algorithms this project does not know are left out. */
  readonly digests: Readonly<Partial<Record<HashAlg, Uint8Array>>>
  readonly data: Uint8Array
  /**
   * Set only on events that a named workaround added during verification: they were measured but
   * are not in the log's bytes, and `offset` is the log's length (where they would follow).
   */
  readonly addedBy?: string
}

export type EventLogFormat = 'crypto-agile' | 'sha1-legacy'

/** An algorithm declared by the Spec ID event. */
export interface DeclaredAlgorithm {
  /** TPM_ALG_ID. */
  readonly id: number
  readonly digestSize: number
  /** undefined for algorithms this project does not know: their digests are skipped, never replayed. */
  readonly bank: HashAlg | undefined
  /** False for unknown algorithms, and for banks that some measured event carries no digest of. */
  readonly replayable: boolean
}

/** TCG_EfiSpecIDEventStruct ("Spec ID Event03"), as declared by the firmware. */
export interface SpecIdEvent {
  readonly platformClass: number
  readonly specVersion: { readonly major: number; readonly minor: number; readonly errata: number }
  readonly uintnSize: number
  readonly algorithms: readonly DeclaredAlgorithm[]
  readonly vendorInfo: Uint8Array
}

declare const unverifiedBrand: unique symbol

/**
 * A parsed log. Nothing in it is trusted: only verifyEventLog, against PCR values from a verified
 * quote, turns it into a VerifiedEventLog.
 */
export interface UnverifiedEventLog {
  readonly [unverifiedBrand]: true
  readonly format: EventLogFormat
  /** The Spec ID header of a crypto-agile log; undefined for legacy logs. */
  readonly specId: SpecIdEvent | undefined
  /** Banks that can be replayed (known algorithms that every measured event carries a digest of). */
  readonly banks: readonly HashAlg[]
  /** From the StartupLocality event (PCR0 then starts at 0…0L); undefined when the log has none. */
  readonly startupLocality: number | undefined
  readonly events: readonly LogEvent[]
  /** Length of the log in bytes. */
  readonly byteLength: number
}
