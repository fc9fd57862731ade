/**
 * Facts about a boot, from a VERIFIED log only. Replay vouches for each event's digest, never for
 * its data: a fact read from event data is used only when the data hashes to the verified digest
 * ("bound"), in the form the measuring code hashes it; other events that a fact would have come
 * from are listed in `unboundEvents` and their data is ignored (or, for mere descriptions such as
 * a device path, reported as a hint and said to be one).
 */
import { bytesEqual, toHex } from '../../common/index.js'
import { digest, type HashAlg } from '../pcrs.js'
import { EV, type LogEvent } from './types.js'
import {
  EFI_GLOBAL_VARIABLE,
  EFI_IMAGE_SECURITY_DATABASE,
  decodeImageLoad,
  decodeUefiVariable,
  devicePathText,
  formatGuid,
  printableAscii,
  printableUtf16
} from './uefi.js'
import { requireVerified, type VerifiedEventLog } from './verify.js'

const SECURE_BOOT_KEYS = {
  PK: EFI_GLOBAL_VARIABLE,
  KEK: EFI_GLOBAL_VARIABLE,
  db: EFI_IMAGE_SECURITY_DATABASE,
  dbx: EFI_IMAGE_SECURITY_DATABASE
} as const
export type SecureBootKeyDatabase = keyof typeof SECURE_BOOT_KEYS

export interface SecureBootState {
  /** The measured SecureBoot variable (1 = on); undefined when absent, unbound, not one byte, or measured twice with different values. */
  enabled: boolean | undefined
  /** Verified digest (hex, in the facts' bank) of each key database as measured into PCR 7. */
  keyDatabases: Partial<Record<SecureBootKeyDatabase, string>>
}

export interface BootApplication {
  index: number
  pcr: number
  /** Verified digest (hex): the Authenticode hash of the PE image, not of the event data. */
  digest: string
  /** Where the firmware says it loaded the image from. A HINT: the digest does not cover it. */
  devicePath: string | undefined
}

export interface Separator {
  index: number
  pcr: number
  /** normal: 00000000; error: FFFFFFFF (the firmware hit an error); other: any other data; unbound: data does not hash to the digest. */
  kind: 'normal' | 'error' | 'other' | 'unbound'
  /** Same as kind === 'error'. */
  error: boolean
}

export interface KernelCommandLine {
  text: string
  /** grub: "kernel_cmdline: …" / "grub_kernel_cmdline …" (or, failing those, "grub_cmd: linux …"); systemd-stub: UTF-16 load options. */
  source: 'grub' | 'grub-linux-command' | 'systemd-stub'
  index: number
}

export interface SCrtmVersion {
  /** EV_S_CRTM_VERSION data as text (UTF-16 or ASCII), a GUID, or hex. */
  text: string
  /** False when the digest is not over the data (e.g. Boot Guard platforms): the text is then only the firmware's word. */
  bound: boolean
  index: number
}

export interface BootFacts {
  /** The verified bank the facts' digests are in. */
  bank: HashAlg
  /** Same as secureBootState(…).enabled. */
  secureBoot: boolean | undefined
  /** Same as secureBootState(…).keyDatabases. */
  secureBootVariables: Partial<Record<SecureBootKeyDatabase, string>>
  bootApplications: BootApplication[]
  separators: Separator[]
  /** The last bound kernel command line; undefined when none is measured (or none is bound). */
  kernelCommandLine: string | undefined
  kernelCommandLineSource: KernelCommandLine['source'] | undefined
  firmwareVersion: SCrtmVersion | undefined
  /** Indexes of events a fact would have been read from, whose data does not hash to their verified digest. */
  unboundEvents: number[]
}

/** The default bank for facts: sha256 when verified, else the first verified bank. */
function chooseBank(log: VerifiedEventLog, bank: HashAlg | undefined): HashAlg {
  requireVerified(log)
  return bank ?? (log.banks.includes('sha256') ? 'sha256' : log.banks[0]!)
}

/**
 * Events with a verified digest in `bank`, with that digest (an event's PCR may be quoted in other
 * banks only, and then it says nothing in this one).
 */
function eventsIn(log: VerifiedEventLog, bank: HashAlg): Array<[LogEvent, Uint8Array]> {
  const out: Array<[LogEvent, Uint8Array]> = []
  for (const event of log.events) {
    const measured = event.digests[bank]
    if (measured !== undefined) out.push([event, measured])
  }
  return out
}

function bound(bank: HashAlg, measured: Uint8Array, ...forms: Uint8Array[]): boolean {
  return forms.some((form) => bytesEqual(digest(bank, form), measured))
}

function secureBoot(log: VerifiedEventLog, bank: HashAlg, unbound: number[]): SecureBootState {
  const state: SecureBootState = { enabled: undefined, keyDatabases: {} }
  const values = new Set<number | undefined>()
  for (const [event, measured] of eventsIn(log, bank)) {
    if (event.type !== EV.EV_EFI_VARIABLE_DRIVER_CONFIG || event.pcr !== 7) continue
    const variable = decodeUefiVariable(event.data)
    if (variable === undefined) continue
    const key = variable.name as SecureBootKeyDatabase
    if (Object.hasOwn(SECURE_BOOT_KEYS, key) && SECURE_BOOT_KEYS[key] === variable.guid)
      state.keyDatabases[key] = toHex(measured)
    if (variable.name !== 'SecureBoot' || variable.guid !== EFI_GLOBAL_VARIABLE) continue
    if (!bound(bank, measured, event.data)) {
      unbound.push(event.index)
      continue
    }
    values.add(variable.data.length === 1 && variable.data[0]! <= 1 ? variable.data[0] : undefined)
  }
  const [only] = values
  if (values.size === 1 && only !== undefined) state.enabled = only === 1
  return state
}

/** Secure Boot as measured into PCR 7: the SecureBoot variable and the key databases' digests. */
export function secureBootState(log: VerifiedEventLog, bank?: HashAlg): SecureBootState {
  const chosen = chooseBank(log, bank)
  return secureBoot(log, chosen, [])
}

/** EFI applications the firmware started (shim, GRUB, systemd-boot, a UKI…), in order. */
export function bootApplications(log: VerifiedEventLog, bank?: HashAlg): BootApplication[] {
  const chosen = chooseBank(log, bank)
  const out: BootApplication[] = []
  for (const [event, measured] of eventsIn(log, chosen)) {
    if (event.type !== EV.EV_EFI_BOOT_SERVICES_APPLICATION) continue
    const image = decodeImageLoad(event.data)
    const devicePath =
      image === undefined || image.devicePath.length === 0 ? undefined : devicePathText(image.devicePath)
    out.push({ index: event.index, pcr: event.pcr, digest: toHex(measured), devicePath })
  }
  return out
}

function separatorList(log: VerifiedEventLog, bank: HashAlg, unbound: number[]): Separator[] {
  const out: Separator[] = []
  for (const [event, measured] of eventsIn(log, bank)) {
    if (event.type !== EV.EV_SEPARATOR) continue
    let kind: Separator['kind'] = 'unbound'
    if (!bound(bank, measured, event.data)) unbound.push(event.index)
    else if (event.data.length === 4 && event.data.every((b) => b === 0)) kind = 'normal'
    else if (event.data.length === 4 && event.data.every((b) => b === 0xff)) kind = 'error'
    else kind = 'other'
    out.push({ index: event.index, pcr: event.pcr, kind, error: kind === 'error' })
  }
  return out
}

/** EV_SEPARATOR events per PCR; an `error` separator means the firmware reports a failure before handing over. */
export function separators(log: VerifiedEventLog, bank?: HashAlg): Separator[] {
  const chosen = chooseBank(log, bank)
  return separatorList(log, chosen, [])
}

const latin1 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'latin1'))

function commandLine(log: VerifiedEventLog, bank: HashAlg, unbound: number[]): KernelCommandLine | undefined {
  let direct: KernelCommandLine | undefined
  let fromCommand: KernelCommandLine | undefined
  for (const [event, measured] of eventsIn(log, bank)) {
    if (event.type !== EV.EV_IPL || ![8, 9, 12].includes(event.pcr)) continue
    const ascii = printableAscii(event.data)
    // GRUB measures the text after its "grub_cmd: " / "kernel_cmdline: " label (Red Hat builds: with a NUL).
    const grub = ascii === undefined ? null : /^(kernel_cmdline: |grub_kernel_cmdline |grub_cmd:? )(.*)$/s.exec(ascii)
    if (grub !== null) {
      const [, label, measuredText] = grub as unknown as [string, string, string]
      const linux = /^linux(?:efi|16)? (.*)$/s.exec(measuredText)
      if (label.startsWith('grub_cmd') && linux === null) continue
      if (!bound(bank, measured, latin1(measuredText), latin1(`${measuredText}\0`), event.data)) {
        unbound.push(event.index)
        continue
      }
      if (linux !== null) fromCommand = { text: linux[1]!, source: 'grub-linux-command', index: event.index }
      else direct = { text: measuredText, source: 'grub', index: event.index }
      continue
    }
    // systemd-boot / systemd-stub measure the load options as UTF-16 and log the same string.
    const utf16 = event.pcr === 9 ? undefined : printableUtf16(event.data)
    if (utf16 === undefined) continue
    if (!bound(bank, measured, event.data)) {
      unbound.push(event.index)
      continue
    }
    direct = { text: utf16, source: 'systemd-stub', index: event.index }
  }
  return direct ?? fromCommand
}

/** The kernel command line measured by GRUB (PCR 8) or systemd-boot/stub (PCR 12, formerly 8), if bound. */
export function kernelCommandLine(log: VerifiedEventLog, bank?: HashAlg): KernelCommandLine | undefined {
  const chosen = chooseBank(log, bank)
  return commandLine(log, chosen, [])
}

function version(log: VerifiedEventLog, bank: HashAlg): SCrtmVersion | undefined {
  for (const [event, measured] of eventsIn(log, bank)) {
    if (event.type !== EV.EV_S_CRTM_VERSION) continue
    const text =
      printableUtf16(event.data) ??
      printableAscii(event.data) ??
      (event.data.length === 16 ? formatGuid(event.data) : toHex(event.data))
    return { text, bound: bound(bank, measured, event.data), index: event.index }
  }
  return undefined
}

/** The S-CRTM (firmware) version from EV_S_CRTM_VERSION in PCR 0. */
export function sCrtmVersion(log: VerifiedEventLog, bank?: HashAlg): SCrtmVersion | undefined {
  return version(log, chooseBank(log, bank))
}

/**
 * Every fact at once. `bank` must be one of the log's verified banks (default sha256 when
 * verified). Throws EventLogNotVerifiedError for anything verifyEventLog did not return.
 */
export function bootFacts(log: VerifiedEventLog, bank?: HashAlg): BootFacts {
  const chosen = chooseBank(log, bank)
  const unboundEvents: number[] = []
  const state = secureBoot(log, chosen, unboundEvents)
  const cmdline = commandLine(log, chosen, unboundEvents)
  return {
    bank: chosen,
    secureBoot: state.enabled,
    secureBootVariables: state.keyDatabases,
    bootApplications: bootApplications(log, chosen),
    separators: separatorList(log, chosen, unboundEvents),
    kernelCommandLine: cmdline?.text,
    kernelCommandLineSource: cmdline?.source,
    firmwareVersion: version(log, chosen),
    unboundEvents: [...new Set(unboundEvents)].sort((a, b) => a - b)
  }
}
