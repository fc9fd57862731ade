/**
 * Boot simulator: a format-correct crypto-agile event log of a UEFI Secure Boot machine (S-CRTM,
 * firmware blob, Secure Boot variables, boot order, separators, shim/grub/kernel, kernel command
 * line) and the PCR extensions that go with it, applied to a (freshly reset) software TPM.
 * Variants tamper with one thing each.
 */
import { createHash } from 'node:crypto'
import {
  encodeEventLog,
  uefiVariableData,
  EV,
  parseEventLog,
  verifyEventLog,
  bootFacts,
  type EventToWrite
} from './eventlog/index.js'
import { createBootPolicy, type BootPolicy } from './policy/index.js'
import type { PcrValues } from './pcrs.js'
import type { Tpm } from './tpm/tpm.js'

export const BOOT_VARIANTS = ['good', 'tampered-kernel', 'secure-boot-off', 'extra-event', 'new-kernel'] as const
export type BootVariant = (typeof BOOT_VARIANTS)[number]

const EFI_GLOBAL_VARIABLE = Buffer.from('61dfe48bca93d211aa0d00e098032b8c', 'hex')
const EFI_IMAGE_SECURITY_DATABASE = Buffer.from('cbb219d73a3d9645a3bcdad00e67656f', 'hex')
const sha = (text: string): Uint8Array => new Uint8Array(createHash('sha256').update(text).digest())
const image = (name: string): EventToWrite['digests'] => ({ sha256: sha(`pe-image:${name}`) })

export function simulatedBootEvents(variant: BootVariant): EventToWrite[] {
  const kernel =
    variant === 'tampered-kernel'
      ? 'vmlinuz-6.1.0-fleet+rootkit'
      : variant === 'new-kernel'
        ? 'vmlinuz-6.1.1-fleet'
        : 'vmlinuz-6.1.0-fleet'
  const events: EventToWrite[] = [
    { pcr: 0, type: EV.EV_S_CRTM_VERSION, data: Buffer.from('fleet-sim 1.0\0', 'utf16le') },
    {
      pcr: 0,
      type: EV.EV_EFI_PLATFORM_FIRMWARE_BLOB,
      data: new Uint8Array(16),
      digests: { sha256: sha('firmware volume') }
    },
    {
      pcr: 7,
      type: EV.EV_EFI_VARIABLE_DRIVER_CONFIG,
      data: uefiVariableData(EFI_GLOBAL_VARIABLE, 'SecureBoot', Uint8Array.of(variant === 'secure-boot-off' ? 0 : 1))
    },
    {
      pcr: 7,
      type: EV.EV_EFI_VARIABLE_DRIVER_CONFIG,
      data: uefiVariableData(EFI_GLOBAL_VARIABLE, 'PK', Buffer.from('platform key'))
    },
    {
      pcr: 7,
      type: EV.EV_EFI_VARIABLE_DRIVER_CONFIG,
      data: uefiVariableData(EFI_GLOBAL_VARIABLE, 'KEK', Buffer.from('key exchange keys'))
    },
    {
      pcr: 7,
      type: EV.EV_EFI_VARIABLE_DRIVER_CONFIG,
      data: uefiVariableData(EFI_IMAGE_SECURITY_DATABASE, 'db', Buffer.from('allowed signers'))
    },
    {
      pcr: 7,
      type: EV.EV_EFI_VARIABLE_DRIVER_CONFIG,
      data: uefiVariableData(EFI_IMAGE_SECURITY_DATABASE, 'dbx', Buffer.from('revoked hashes'))
    },
    {
      pcr: 1,
      type: EV.EV_EFI_VARIABLE_BOOT,
      data: uefiVariableData(EFI_GLOBAL_VARIABLE, 'BootOrder', Uint8Array.of(1, 0))
    },
    ...[0, 1, 2, 3, 4, 5, 6, 7].map((pcr) => ({ pcr, type: EV.EV_SEPARATOR, data: new Uint8Array(4) })),
    { pcr: 4, type: EV.EV_EFI_ACTION, data: Buffer.from('Calling EFI Application from Boot Option') },
    { pcr: 4, type: EV.EV_EFI_BOOT_SERVICES_APPLICATION, data: new Uint8Array(32), digests: image('shimx64.efi') },
    {
      pcr: 7,
      type: EV.EV_EFI_VARIABLE_AUTHORITY,
      data: uefiVariableData(EFI_IMAGE_SECURITY_DATABASE, 'db', Buffer.from('vendor certificate'))
    },
    { pcr: 4, type: EV.EV_EFI_BOOT_SERVICES_APPLICATION, data: new Uint8Array(32), digests: image('grubx64.efi') }
  ]
  if (variant === 'extra-event')
    events.push({
      pcr: 4,
      type: EV.EV_EFI_BOOT_SERVICES_APPLICATION,
      data: new Uint8Array(32),
      digests: image('unknown.efi')
    })
  events.push(
    { pcr: 4, type: EV.EV_EFI_BOOT_SERVICES_APPLICATION, data: new Uint8Array(32), digests: image(kernel) },
    { pcr: 8, type: EV.EV_IPL, data: Buffer.from(`kernel_cmdline: /${kernel} root=/dev/vda1 ro quiet\0`) },
    { pcr: 9, type: EV.EV_IPL, data: Buffer.from('/initrd.img-6.1.0-fleet\0') }
  )
  return events
}

export function simulatedBootLog(variant: BootVariant): {
  log: Uint8Array
  pcrs: PcrValues
  measurements: Array<{ pcr: number; digests: Partial<Record<'sha1' | 'sha256' | 'sha384' | 'sha512', Uint8Array>> }>
} {
  return encodeEventLog({ algorithms: ['sha256'], events: simulatedBootEvents(variant) })
}

/**
 * Extends a freshly reset TPM's PCRs as the simulated firmware would, and returns the log.
 * The caller MUST have rebooted the device first (PCRs 0-9 at their reset values).
 */
export async function bootDevice(
  tpm: Tpm,
  variant: BootVariant,
  options: { signal?: AbortSignal } = {}
): Promise<Uint8Array> {
  const { log, measurements } = simulatedBootLog(variant)
  for (const m of measurements) await tpm.extendPcr(m.pcr, m.digests, options)
  return log
}

/** The owner's reference policy for simulated devices: made from the known-good simulated boot (or another variant's). */
export function simulatedBootPolicy(variant: BootVariant = 'good'): BootPolicy {
  const { log, pcrs } = simulatedBootLog(variant)
  const verified = verifyEventLog(parseEventLog(log), pcrs)
  return createBootPolicy(verified.events, bootFacts(verified, 'sha256').secureBoot)
}
