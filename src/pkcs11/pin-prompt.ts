/**
 * Asking for a PIN on the controlling terminal with echo off (raw mode), like ssh and sudo do:
 * never on stdin, which may be a pipe carrying other data.
 */
import { closeSync, openSync, writeSync } from 'node:fs'
import tty from 'node:tty'
import { AbortedError } from '../common/index.js'
import { PinMalformedError, PinUnavailableError } from './errors.js'
import { PIN_MAX_BYTES, PIN_READ_MAX_BYTES } from './limits.js'

const SOURCE = 'the terminal'
const ENTER = new Set([0x0a, 0x0d])
const CTRL_C = 0x03
const CTRL_D = 0x04
const CTRL_U = 0x15
const BACKSPACE = new Set([0x08, 0x7f])

/**
 * Writes `prompt` to the terminal and reads one line with echo off. Ctrl-C aborts (AbortedError),
 * Ctrl-D on an empty line ends without a PIN, Backspace and Ctrl-U edit. With no controlling
 * terminal (a service, a pipeline under setsid) it refuses with PinUnavailableError.
 */
export async function promptPin(prompt: string, options: { ttyPath: string; signal?: AbortSignal }): Promise<string> {
  let fd: number
  try {
    fd = openSync(options.ttyPath, 'r+')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err)
    throw new PinUnavailableError(SOURCE, `no controlling terminal to prompt on (${options.ttyPath}: ${code})`, err)
  }
  if (!tty.isatty(fd)) {
    closeSync(fd)
    throw new PinUnavailableError(SOURCE, `${options.ttyPath} is not a terminal`)
  }
  const input = new tty.ReadStream(fd)
  input.setRawMode(true)
  const typed = Buffer.alloc(PIN_READ_MAX_BYTES)
  let length = 0
  let overflow = false
  try {
    writeSync(fd, prompt)
    return await new Promise<string>((resolve, reject) => {
      const finish = (outcome: () => void): void => {
        input.off('data', onData)
        options.signal?.removeEventListener('abort', onAbort)
        writeSync(fd, '\n')
        outcome()
      }
      const onAbort = (): void => finish(() => reject(new AbortedError()))
      const onData = (chunk: Buffer): void => {
        try {
          for (const byte of chunk) {
            if (ENTER.has(byte)) {
              finish(() => complete(resolve, reject))
              return
            }
            if (byte === CTRL_C) {
              finish(() => reject(new AbortedError('PIN entry interrupted')))
              return
            }
            if (byte === CTRL_D && length === 0) {
              finish(() => reject(new PinUnavailableError(SOURCE, 'input ended')))
              return
            }
            if (byte === CTRL_U) length = 0
            else if (BACKSPACE.has(byte)) length = withoutLastCharacter(typed, length)
            else if (byte >= 0x20 && length < typed.length) typed[length++] = byte
            else if (byte >= 0x20) overflow = true
          }
        } finally {
          chunk.fill(0)
        }
      }
      const complete = (done: (pin: string) => void, fail: (err: Error) => void): void => {
        if (overflow) {
          fail(new PinMalformedError(SOURCE, `longer than ${PIN_MAX_BYTES} bytes`))
          return
        }
        try {
          done(new TextDecoder('utf-8', { fatal: true }).decode(typed.subarray(0, length)))
        } catch {
          fail(new PinMalformedError(SOURCE, 'not UTF-8'))
        }
      }
      if (options.signal?.aborted === true) return onAbort()
      options.signal?.addEventListener('abort', onAbort, { once: true })
      input.on('data', onData)
    })
  } finally {
    typed.fill(0)
    input.setRawMode(false)
    input.destroy()
  }
}

/** Drops the last UTF-8 character: its continuation bytes (10xxxxxx) and its lead byte. */
function withoutLastCharacter(typed: Buffer, length: number): number {
  let end = length
  while (end > 0 && (typed[end - 1]! & 0xc0) === 0x80) end -= 1
  return Math.max(0, end - 1)
}
