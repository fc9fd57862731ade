import { toHex } from '../../common/bytes.js'
import type { HashAlg } from '../pcrs.js'
import { EV, type LogEvent, type VerifiedEventLog } from './types.js'

export interface UefiVariable {
  guid: string
  name: string
  data: Uint8Array
}

/** UEFI_VARIABLE_DATA (VariableName GUID, UnicodeName, VariableData); undefined if malformed. */
export function decodeUefiVariable (data: Uint8Array): UefiVariable | undefined {
  if (data.length < 32) return undefined
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  const nameLength = view.getBigUint64(16, true)
  const dataLength = view.getBigUint64(24, true)
  if (nameLength > 1024n || dataLength > BigInt(data.length)) return undefined
  const nameEnd = 32 + Number(nameLength) * 2
  if (nameEnd + Number(dataLength) > data.length) return undefined
  return {
    guid: formatGuid(data.subarray(0, 16)),
    name: Buffer.from(data.subarray(32, nameEnd)).toString('utf16le'),
    data: data.slice(nameEnd, nameEnd + Number(dataLength))
  }
}

function formatGuid (b: Uint8Array): string {
  const h = (start: number, end: number, reverse: boolean): string => {
    const part = Array.from(b.subarray(start, end))
    return Buffer.from(reverse ? part.reverse() : part).toString('hex')
  }
  return `${h(0, 4, true)}-${h(4, 6, true)}-${h(6, 8, true)}-${h(8, 10, false)}-${h(10, 16, false)}`
}

export interface BootFacts {
  /** undefined when the log does not measure the SecureBoot variable. */
  secureBoot: boolean | undefined
  /** Digests of the Secure Boot key databases as measured (PK, KEK, db, dbx). */
  secureBootVariables: Record<string, string>
  bootApplications: Array<{ index: number, digest: string }>
  kernelCommandLine: string | undefined
  separators: Array<{ pcr: number, error: boolean }>
}

/** Facts from a VERIFIED log only: unverified events prove nothing. */
export function bootFacts (log: VerifiedEventLog, bank: HashAlg = log.banks.includes('sha256') ? 'sha256' : log.banks[0]!): BootFacts {
  const facts: BootFacts = { secureBoot: undefined, secureBootVariables: {}, bootApplications: [], kernelCommandLine: undefined, separators: [] }
  for (const event of log.events) {
    if (event.type === EV.EV_EFI_VARIABLE_DRIVER_CONFIG) {
      const variable = decodeUefiVariable(event.data)
      if (variable === undefined) continue
      if (variable.name === 'SecureBoot') facts.secureBoot = variable.data.length > 0 && variable.data[0] === 1
      if (['PK', 'KEK', 'db', 'dbx'].includes(variable.name)) facts.secureBootVariables[variable.name] = digestOf(event, bank)
    } else if (event.type === EV.EV_EFI_BOOT_SERVICES_APPLICATION) {
      facts.bootApplications.push({ index: event.index, digest: digestOf(event, bank) })
    } else if (event.type === EV.EV_IPL) {
      const text = Buffer.from(event.data).toString('latin1').replace(/\0+$/, '')
      const match = /^(?:kernel_cmdline: |grub_kernel_cmdline )(.*)$/s.exec(text)
      if (match !== null) facts.kernelCommandLine = match[1]
    } else if (event.type === EV.EV_SEPARATOR) {
      const error = event.data.length === 4 && event.data.every((b) => b === 0xff)
      facts.separators.push({ pcr: event.pcr, error })
    }
  }
  return facts
}

function digestOf (event: LogEvent, bank: HashAlg): string {
  const value = event.digests[bank]
  return value === undefined ? '' : toHex(value)
}

/** Readable rows for `fleet eventlog show`. */
export function describeEvent (event: LogEvent): string {
  const variable = event.type === EV.EV_EFI_VARIABLE_DRIVER_CONFIG || event.type === EV.EV_EFI_VARIABLE_BOOT || event.type === EV.EV_EFI_VARIABLE_AUTHORITY
    ? decodeUefiVariable(event.data)
    : undefined
  if (variable !== undefined) return `${variable.name} (${variable.data.length} bytes)`
  const printable = Buffer.from(event.data).toString('latin1').replace(/\0+$/, '')
  if (printable.length > 0 && event.data.length <= 256 && /^[\x20-\x7e]*$/.test(printable)) return JSON.stringify(printable)
  return `${event.data.length} bytes`
}
