/**
 * The agent's local sockets (the control socket, the gate socket) speak alike: one JSON request
 * line per connection, one JSON answer line, then the connection ends. This is that exchange, for
 * both ends: the server (bounded request, bounded connections, an idle timeout while the request
 * is read) and the client (bounded answer, a timeout, typed refusals).
 */
import { chmod, rm } from 'node:fs/promises'
import net from 'node:net'
import { FleetError, toHex } from '../common/index.js'
import { ControlError } from './control-error.js'

/** A request line, in bytes of text: the largest (a secret sealed, in base64) fits. */
export const MAX_REQUEST = 64 * 1024
/** An answer line (a status of a large fleet). */
export const MAX_RESPONSE = 16 * 1024 * 1024
/** How long a connection may take to send its request, unless its server says otherwise. */
const REQUEST_IDLE_MS = 60_000

/** Answers one request line; `signal` aborts when the caller hangs up before its answer. */
export type LineHandler = (line: string, signal: AbortSignal) => Promise<Record<string, unknown>>

export interface LineServerInit {
  /** The socket's path; whatever is there is removed first. */
  file: string
  /** Its mode once listening (0600: the agent's user only; 0666: anyone, who the handler then judges). */
  mode: number
  /** Connections served at once; more are closed at once. Default: Node's (none). */
  maxConnections?: number
  /** How long a connection may take to send its request, ms (default 60 s). */
  requestIdleMs?: number
  /**
   * Called as each connection is accepted, before anything it sends is read: its request's
   * handler, or the answer that ends it at once (a refusal that needs no request).
   */
  accept: (socket: net.Socket) => LineHandler | { answer: Record<string, unknown> }
}

function answerLine(answer: Record<string, unknown>): string {
  return `${JSON.stringify(answer, (_k, v: unknown) =>
    v instanceof Uint8Array ? toHex(v) : typeof v === 'bigint' ? v.toString() : v
  )}\n`
}

/**
 * Sends the answer and closes the connection for good once it is written: a caller that keeps
 * its own end open (half-open) holds nothing here after its answer.
 */
function finish(socket: net.Socket, answer: Record<string, unknown>): void {
  socket.end(answerLine(answer), () => socket.destroy())
}

/** Serves `init.file` until close(). */
export async function serveLines(init: LineServerInit): Promise<{ close: () => Promise<void> }> {
  await rm(init.file, { force: true })
  const server = net.createServer((socket) => {
    const handle = init.accept(socket)
    socket.on('error', () => undefined)
    if (typeof handle !== 'function') {
      finish(socket, handle.answer)
      return
    }
    let buffer = ''
    socket.setEncoding('utf8')
    socket.setTimeout(init.requestIdleMs ?? REQUEST_IDLE_MS, () => socket.destroy())
    socket.on('data', (chunk: string) => {
      buffer += chunk
      if (buffer.length > MAX_REQUEST) {
        socket.removeAllListeners('data')
        finish(socket, { ok: false, error: 'request too large', code: 'ERR_BAD_REQUEST', exitCode: 2 })
        return
      }
      const newline = buffer.indexOf('\n')
      if (newline < 0) return
      const line = buffer.slice(0, newline)
      socket.removeAllListeners('data')
      // The idle timeout is for reading the request: each command bounds its own answer (an
      // approval waits for a person), and a caller that hangs up meanwhile aborts it.
      socket.setTimeout(0)
      const hungUp = new AbortController()
      socket.once('close', () => hungUp.abort())
      void handle(line, hungUp.signal).then((answer) => finish(socket, answer))
    })
  })
  if (init.maxConnections !== undefined) server.maxConnections = init.maxConnections
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(init.file, () => resolve())
  })
  await chmod(init.file, init.mode)
  return {
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await rm(init.file, { force: true })
    }
  }
}

/** A failed request's answer: the error's message and code, and exit code 2 for a usage or input error. */
export function errorAnswer(err: unknown, fallbackCode = 'ERR_CONTROL'): Record<string, unknown> {
  return {
    ok: false,
    error: err instanceof Error ? err.message : String(err),
    code: (err as { code?: unknown }).code ?? fallbackCode,
    ...(err instanceof FleetError && err.exitCode === 2 ? { exitCode: 2 } : {})
  }
}

/**
 * Sends one request to socket `file`; ControlError when nobody answers there (`absent` says
 * what that means to the caller), or with the refusal's code when the answer is not ok.
 */
export async function lineRequest(
  file: string,
  request: Record<string, unknown>,
  options: { timeoutMs: number; absent: string }
): Promise<Record<string, unknown>> {
  return await new Promise((resolve, reject) => {
    const socket = net.createConnection(file)
    let data = ''
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new ControlError(`the agent did not answer within ${options.timeoutMs} ms`, 'ERR_CONTROL_TIMEOUT'))
    }, options.timeoutMs)
    socket.setEncoding('utf8')
    socket.on('connect', () => socket.write(`${JSON.stringify(request)}\n`))
    socket.on('data', (chunk: string) => {
      data += chunk
      if (data.length > MAX_RESPONSE) socket.destroy(new Error('answer too large'))
    })
    socket.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      // The whole answer came before the connection broke (a server that answered at once and
      // closed before reading the request): the answer is what counts.
      if (data.includes('\n')) {
        settle()
        return
      }
      reject(
        err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
          ? new ControlError(options.absent, 'ERR_NO_AGENT')
          : err.code === 'EACCES'
            ? new ControlError(
                `${file}: permission denied (the socket is not this user's to use)`,
                'ERR_CONTROL_ACCESS'
              )
            : new ControlError(err.message)
      )
    })
    let settled = false
    const settle = (): void => {
      if (settled) return
      settled = true
      try {
        const answer = JSON.parse(data) as Record<string, unknown>
        if (answer.ok !== true)
          reject(
            new ControlError(
              `the agent refused: ${String(answer.error)}`,
              typeof answer.code === 'string' ? answer.code : 'ERR_CONTROL',
              answer.exitCode === 2 ? 2 : 1
            )
          )
        else resolve(answer)
      } catch {
        reject(new ControlError('the agent sent an unreadable answer'))
      }
    }
    socket.on('close', () => {
      clearTimeout(timer)
      settle()
    })
  })
}
