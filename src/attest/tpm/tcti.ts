import { accessSync, constants, existsSync } from 'node:fs'
import { InvalidTctiError } from './errors.js'

/** A validated TCTI configuration string, in the spelling tpm2-tss uses. */
export interface Tcti {
  readonly kind: 'device' | 'swtpm'
  readonly conf: string
  /** The socket or device path, when the TCTI names one. */
  readonly path?: string
}

const MAX_TCTI_LENGTH = 512

/**
 * Parses and validates a TCTI string. Accepted forms:
 * - `device:/dev/tpmrm0` (a hardware TPM through the kernel resource manager; any absolute path)
 * - `swtpm:path=/run/swtpm/tpm.sock` (swtpm on a unix socket)
 * - `swtpm:host=127.0.0.1,port=2321` (swtpm on TCP)
 * Anything else is refused rather than handed to the TCTI loader, which would try to dlopen it.
 */
export function parseTcti(text: string): Tcti {
  if (typeof text !== 'string' || text.length === 0) throw new InvalidTctiError(String(text), 'empty')
  if (text.length > MAX_TCTI_LENGTH) throw new InvalidTctiError(`${text.slice(0, 40)}…`, 'too long')
  if (/[\0\n\r]/.test(text)) throw new InvalidTctiError(text, 'control characters')
  const colon = text.indexOf(':')
  const kind = colon < 0 ? text : text.slice(0, colon)
  const rest = colon < 0 ? '' : text.slice(colon + 1)
  if (kind === 'device') {
    if (!rest.startsWith('/')) throw new InvalidTctiError(text, 'device needs an absolute path')
    return { kind, conf: text, path: rest }
  }
  if (kind === 'swtpm') {
    const options = new Map<string, string>()
    for (const part of rest.split(',')) {
      const eq = part.indexOf('=')
      if (eq <= 0) throw new InvalidTctiError(text, `option "${part}" is not key=value`)
      const key = part.slice(0, eq)
      if (options.has(key)) throw new InvalidTctiError(text, `option "${key}" given twice`)
      options.set(key, part.slice(eq + 1))
    }
    const path = options.get('path')
    if (path !== undefined) {
      if (options.size !== 1) throw new InvalidTctiError(text, 'path= cannot be combined with host/port')
      if (path.length === 0) throw new InvalidTctiError(text, 'empty socket path')
      return { kind, conf: text, path }
    }
    const host = options.get('host')
    const port = options.get('port')
    for (const key of options.keys()) {
      if (key !== 'host' && key !== 'port') throw new InvalidTctiError(text, `unknown option "${key}"`)
    }
    if (host === undefined || host.length === 0) throw new InvalidTctiError(text, 'needs path= or host=')
    if (port !== undefined && !/^\d{1,5}$/.test(port)) throw new InvalidTctiError(text, 'port must be a number')
    if (port !== undefined && Number(port) > 65535) throw new InvalidTctiError(text, 'port out of range')
    return { kind, conf: text }
  }
  throw new InvalidTctiError(text, `unsupported TCTI "${kind}"`)
}

/**
 * Why a TPM at `tcti` could not be reached, in words an operator can act on, from what the file
 * system shows of its path (the TSS layers report "IO failure" for a missing device and a
 * permission alike). Undefined when nothing more is known.
 */
export function unreachableHint(tcti: string): string | undefined {
  let parsed: Tcti
  try {
    parsed = parseTcti(tcti)
  } catch {
    return undefined
  }
  if (parsed.path === undefined) return undefined
  if (!existsSync(parsed.path))
    return parsed.kind === 'device'
      ? `${parsed.path} does not exist (no TPM, or its driver is not loaded)`
      : `nothing at ${parsed.path} (is the software TPM running? fleet swtpm start)`
  try {
    accessSync(parsed.path, constants.R_OK | constants.W_OK)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EACCES' || code === 'EPERM')
      return parsed.kind === 'device'
        ? `permission denied on ${parsed.path} (is this user in group tss?)`
        : `permission denied on ${parsed.path}`
  }
  return undefined
}
