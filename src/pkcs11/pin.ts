/**
 * Where a token PIN comes from. Never a command-line flag (it would show in `ps` and shell
 * history): an inherited file descriptor, a systemd credential, or the controlling terminal.
 */
import { closeSync, constants, fstatSync, openSync, read } from 'node:fs'
import path from 'node:path'
import { PinMalformedError, PinUnavailableError } from './errors.js'
import { CREDENTIAL_NAME_MAX_BYTES, PIN_MAX_BYTES, PIN_MIN_BYTES, PIN_READ_MAX_BYTES } from './limits.js'
import { promptPin } from './pin-prompt.js'

/**
 * `{ fd }`: read to its end (at most PIN_READ_MAX_BYTES), one trailing newline stripped; the fd
 * stays open. `{ credential }`: the file of that name in $CREDENTIALS_DIRECTORY (systemd's
 * LoadCredential=/SetCredentialEncrypted=). `{ prompt }`: asked on the controlling terminal with
 * echo off.
 */
export type PinSource = { fd: number } | { credential: string } | { prompt: string }

export interface ReadPinOptions {
  /** The environment that holds CREDENTIALS_DIRECTORY; process.env by default. */
  env?: Record<string, string | undefined>
  /** The terminal to prompt on; the controlling terminal, /dev/tty, by default. */
  ttyPath?: string
  signal?: AbortSignal
}

export async function readPin(source: PinSource, options: ReadPinOptions = {}): Promise<string> {
  options.signal?.throwIfAborted()
  if ('fd' in source) {
    const name = `fd ${source.fd}`
    return pinFromBytes(await readBounded(source.fd, name, options.signal), name)
  }
  if ('credential' in source) return await fromCredential(source.credential, options)
  const name = 'the terminal'
  const pin = await promptPin(source.prompt, { ttyPath: options.ttyPath ?? '/dev/tty', signal: options.signal })
  checkPin(pin, name)
  return pin
}

/** Refuses a PIN outside the bounds, with a NUL, or of several lines. */
export function checkPin(pin: string, source: string): void {
  const bytes = Buffer.byteLength(pin)
  if (bytes < PIN_MIN_BYTES) throw new PinMalformedError(source, `shorter than ${PIN_MIN_BYTES} bytes`)
  if (bytes > PIN_MAX_BYTES) throw new PinMalformedError(source, `longer than ${PIN_MAX_BYTES} bytes`)
  if (pin.includes('\0')) throw new PinMalformedError(source, 'contains a NUL byte')
  if (/[\r\n]/.test(pin)) throw new PinMalformedError(source, 'more than one line')
}

/** UTF-8 bytes to a PIN: one trailing LF or CR LF stripped, then checked. The bytes are wiped. */
export function pinFromBytes(bytes: Uint8Array, source: string): string {
  try {
    let end = bytes.length
    if (end > 0 && bytes[end - 1] === 0x0a) end -= 1
    if (end > 0 && bytes[end - 1] === 0x0d && end < bytes.length) end -= 1
    let pin: string
    try {
      pin = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(0, end))
    } catch {
      throw new PinMalformedError(source, 'not UTF-8')
    }
    checkPin(pin, source)
    return pin
  } finally {
    bytes.fill(0)
  }
}

async function fromCredential(name: string, options: ReadPinOptions): Promise<string> {
  const source = `credential ${JSON.stringify(name)}`
  const directory = (options.env ?? process.env).CREDENTIALS_DIRECTORY
  if (directory === undefined || directory === '') {
    const reason = '$CREDENTIALS_DIRECTORY is not set (not started by systemd with LoadCredential=)'
    throw new PinUnavailableError(source, reason)
  }
  if (
    name === '' ||
    name === '.' ||
    name === '..' ||
    name.includes('/') ||
    name.includes('\0') ||
    Buffer.byteLength(name) > CREDENTIAL_NAME_MAX_BYTES
  ) {
    throw new PinUnavailableError(source, 'not a credential name (a file name without /)')
  }
  let fd: number
  try {
    fd = openSync(path.join(directory, name), constants.O_RDONLY | constants.O_NOFOLLOW)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err)
    throw new PinUnavailableError(source, `cannot open it in ${directory} (${code})`, err)
  }
  try {
    if (!fstatSync(fd).isFile()) throw new PinUnavailableError(source, 'not a regular file')
    return pinFromBytes(await readBounded(fd, source, options.signal), source)
  } finally {
    closeSync(fd)
  }
}

/** Reads `fd` to its end; more than PIN_READ_MAX_BYTES is refused without reading further. */
async function readBounded(fd: number, source: string, signal?: AbortSignal): Promise<Uint8Array> {
  const buffer = Buffer.alloc(PIN_READ_MAX_BYTES + 1)
  let filled = 0
  try {
    while (filled < buffer.length) {
      signal?.throwIfAborted()
      const count = await new Promise<number>((resolve, reject) => {
        read(fd, buffer, filled, buffer.length - filled, null, (err, bytesRead) => {
          if (err === null) resolve(bytesRead)
          else reject(err)
        })
      })
      if (count === 0) break
      filled += count
    }
  } catch (err) {
    buffer.fill(0)
    if (signal?.aborted === true) throw err
    throw new PinUnavailableError(source, `cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`, err)
  }
  if (filled > PIN_READ_MAX_BYTES) {
    buffer.fill(0)
    throw new PinMalformedError(source, `longer than ${PIN_MAX_BYTES} bytes`)
  }
  return buffer.subarray(0, filled)
}
