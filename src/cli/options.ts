import { X509Certificate } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { MalformedInputError, UsageError } from '../common/index.js'

/** Where the kernel publishes the boot's TCG event log (read by root only). */
export const DEFAULT_EVENT_LOG = '/sys/kernel/security/tpm0/binary_bios_measurements'

/** Upper bound for any input file the CLI reads whole (event logs, quotes, keys, policies). */
export const MAX_INPUT_FILE = 16 * 1024 * 1024

/** Reads an input file, refusing missing, unreadable or oversized files with exit code 2. */
export async function readInputFile(file: string, what: string, maxBytes = MAX_INPUT_FILE): Promise<Uint8Array> {
  let data: Buffer
  try {
    data = await readFile(file)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new MalformedInputError(
      `cannot read ${what} ${file}: ${code === 'ENOENT' ? 'no such file' : (code ?? String(err))}`
    )
  }
  if (data.length > maxBytes) throw new MalformedInputError(`${what} ${file} is larger than ${maxBytes} bytes`)
  return new Uint8Array(data)
}

/**
 * Commander's collector for an option given once per value (`--peer A --peer B`). A variadic
 * option (`<value...>`) would also take the arguments after it, such as a command's device id.
 */
export function repeatable(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value]
}

export function requireOption<T>(value: T | undefined, flag: string): T {
  if (value === undefined) throw new UsageError(`missing required option ${flag}`)
  return value
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----/g

/** Every PEM certificate in the files; a file with none, or with one that does not parse, is unreadable input. */
export async function readRoots(files: readonly string[]): Promise<X509Certificate[]> {
  const roots: X509Certificate[] = []
  for (const file of files) {
    const text = Buffer.from(await readInputFile(file, 'attestation root', 1024 * 1024)).toString('utf8')
    const found = text.match(PEM_CERTIFICATE)
    if (found === null) throw new MalformedInputError(`${file} holds no PEM certificate`)
    for (const [index, pem] of found.entries()) {
      try {
        roots.push(new X509Certificate(pem))
      } catch (err) {
        throw new MalformedInputError(`${file}: PEM certificate ${index + 1} cannot be read`, { cause: err })
      }
    }
  }
  return roots
}
