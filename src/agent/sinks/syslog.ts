/**
 * The syslog sink: one RFC 5424 message per event,
 *   <PRI>1 TIMESTAMP HOSTNAME fleet-agent PROCID MSGID [fleet@32473 id=… feed=… seq=… …] BOM{JSON}
 * where PRI = facility × 8 + the event's severity (severityOf), TIMESTAMP is the entry's time,
 * MSGID its type, and MSG the event as JSON. 32473 is the private enterprise number RFC 5612
 * reserves for documentation: the SD-ID is stable; a collector matches on "fleet@32473".
 *
 * Transports, and what "delivered" means on each:
 *   udp   RFC 5426, one datagram per message: delivered when the kernel took it. A collector that
 *         is down or a lost datagram is not noticed: at most once.
 *   tcp   RFC 6587 octet counting ("LEN SP MSG") on a kept connection: delivered when the bytes
 *         were written without error. A collector that is down refuses the connection and the
 *         batch waits in the ledger; what the kernel held when a connection broke can be lost
 *         (syslog over TCP has no acknowledgement).
 *   unix  the same framing on a unix stream socket (Node has no unix datagram sockets, so a
 *         datagram-only /dev/log is refused with the system's error, shown in status).
 */
import dgram from 'node:dgram'
import net from 'node:net'
import { isIP } from 'node:net'
import { lookup } from 'node:dns/promises'
import { SYSLOG_FACILITIES, parseHostPort, type SyslogSinkConfig } from '../ops/index.js'
import { severityOf, type SinkEvent } from './event.js'
import { SINK_LIMITS } from './limits.js'
import { AbortedError } from '../../common/index.js'
import { SinkTimeoutError, SinkTransportError } from './errors.js'
import type { Sink } from './sink.js'

export const SYSLOG_APP_NAME = 'fleet-agent'
export const SYSLOG_SD_ID = 'fleet@32473'
const BOM = '\uFEFF'

/** An SD-PARAM value with '"', '\' and ']' escaped (RFC 5424 §6.3.3). */
export function escapeParamValue(value: string): string {
  return value.replace(/["\\\]]/g, (c) => `\\${c}`)
}

/**
 * An SD-PARAM value as sent: line breaks and other control characters become spaces (a collector
 * that writes messages a line each would take what follows one for a message of its own), at
 * most SINK_LIMITS.maxParamChars characters (the structured data stays whole within the shortest
 * message; MSG holds the value exactly), then escaped.
 */
function paramValue(value: string): string {
  let cut = value.replace(CONTROL, ' ').slice(0, SINK_LIMITS.maxParamChars)
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1)
  return escapeParamValue(cut)
}
const CONTROL = /[\p{Cc}\u2028\u2029]/gu

/** A header field: printable US-ASCII without spaces, at most `max` characters, or "-" (NILVALUE). */
function headerField(value: string | undefined, max: number): string {
  if (value === undefined) return '-'
  const printable = value.replace(/[^!-~]/g, '').slice(0, max)
  return printable === '' ? '-' : printable
}

export interface SyslogFormat {
  facility: number
  hostname: string
  /** The PROCID field (the agent's pid), or undefined for "-". */
  procId?: string
  /** The longest message (bytes); MSG is cut to fit, marked with "…". */
  maxBytes: number
}

/** The RFC 5424 message of `event`. */
export function syslogMessage(event: SinkEvent, format: SyslogFormat): string {
  const pri = format.facility * 8 + severityOf(event)
  const params: Array<[string, string]> = [
    ['id', event.id],
    ['feed', event.feed],
    ['seq', String(event.seq)],
    ['device', event.device],
    ['actor', event.actor.id],
    ['hash', event.hash]
  ]
  const body = event.body as Record<string, unknown> | undefined
  for (const field of ['subject', 'deviceId', 'actorId', 'service', 'trusted', 'reason'] as const) {
    const value = body?.[field]
    if (typeof value === 'string' || typeof value === 'boolean') params.push([field, String(value)])
  }
  const sd = `[${SYSLOG_SD_ID} ${params.map(([k, v]) => `${k}="${paramValue(v)}"`).join(' ')}]`
  const header = [
    `<${pri}>1`,
    // RFC 5424's FULL-DATE has a 4-digit year: an ISO time past 9999 or before 0 (+/-YYYYYY) is not one.
    event.time !== null && /^\d{4}-/.test(event.time) ? event.time : '-',
    headerField(format.hostname, 255),
    SYSLOG_APP_NAME,
    headerField(format.procId, 128),
    headerField(event.type, 32),
    sd
  ].join(' ')
  const message = `${header} ${BOM}${JSON.stringify(event)}`
  if (Buffer.byteLength(message) <= format.maxBytes) return message
  // Cut at a character boundary: the SD still names the entry, the export holds all of it.
  const room = format.maxBytes - Buffer.byteLength('…')
  let cut = Buffer.from(message).subarray(0, Math.max(0, room)).toString('utf8')
  if (cut.endsWith('\uFFFD')) cut = cut.slice(0, -1)
  return `${cut}…`
}

/** How messages reach the collector. Throws SinkTransportError or SinkTimeoutError when they did not. */
export interface SyslogTransport {
  send(messages: readonly string[], options?: { signal?: AbortSignal }): Promise<void>
  close(): Promise<void>
}

/** RFC 5426: one datagram per message. */
export function udpSyslogTransport(address: string): SyslogTransport {
  const { host, port } = parseHostPort(address)!
  let socket: dgram.Socket | undefined
  let resolved: string | undefined
  return {
    async send(messages) {
      if (resolved === undefined) {
        try {
          resolved = isIP(host) === 0 ? (await lookup(host)).address : host
        } catch (err) {
          throw new SinkTransportError(address, (err as NodeJS.ErrnoException).code ?? String(err), err)
        }
      }
      socket ??= dgram.createSocket(isIP(resolved) === 6 ? 'udp6' : 'udp4')
      const open = socket
      for (const message of messages)
        await new Promise<void>((resolve, reject) => {
          open.send(Buffer.from(message), port, resolved, (err) =>
            err === null || err === undefined
              ? resolve()
              : reject(new SinkTransportError(address, (err as NodeJS.ErrnoException).code ?? err.message, err))
          )
        })
    },
    async close() {
      socket?.close()
      socket = undefined
    }
  }
}

/**
 * RFC 6587 octet counting on a kept stream connection: tcp host:port, or a unix socket path. A
 * write the collector does not take within `timeoutMs` (default SINK_LIMITS.requestTimeoutMs: a
 * collector that stops reading fills the kernel's buffers), or that the signal stops, fails and
 * drops the connection.
 */
export function streamSyslogTransport(
  transport: 'tcp' | 'unix',
  address: string,
  options: { timeoutMs?: number } = {}
): SyslogTransport {
  const timeoutMs = options.timeoutMs ?? SINK_LIMITS.requestTimeoutMs
  let socket: net.Socket | undefined
  const connect = async (signal?: AbortSignal): Promise<net.Socket> => {
    const target = transport === 'unix' ? { path: address } : parseHostPort(address)!
    return await new Promise<net.Socket>((resolve, reject) => {
      const fresh = net.connect({ ...target, signal } as net.NetConnectOpts)
      const timer = setTimeout(() => {
        fresh.destroy()
        reject(new SinkTimeoutError(address, timeoutMs))
      }, timeoutMs)
      fresh.once('connect', () => {
        clearTimeout(timer)
        fresh.removeAllListeners('error')
        // A broken connection is noticed on the next write; until then errors are only recorded.
        fresh.on('error', () => undefined)
        fresh.on('close', () => {
          if (socket === fresh) socket = undefined
        })
        // The collector says nothing back; what it might send is read and dropped.
        fresh.resume()
        resolve(fresh)
      })
      fresh.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer)
        fresh.destroy()
        reject(new SinkTransportError(address, err.code ?? err.message, err))
      })
    })
  }
  return {
    async send(messages, sendOptions = {}) {
      sendOptions.signal?.throwIfAborted()
      const open = socket ?? (await connect(sendOptions.signal))
      socket = open
      const framed = messages.map((message) => `${Buffer.byteLength(message)} ${message}`).join('')
      await new Promise<void>((resolve, reject) => {
        const fail = (err: Error): void => {
          clearTimeout(timer)
          sendOptions.signal?.removeEventListener('abort', onAbort)
          open.destroy()
          if (socket === open) socket = undefined
          reject(err)
        }
        const timer = setTimeout(() => fail(new SinkTimeoutError(address, timeoutMs)), timeoutMs)
        const onAbort = (): void => fail(new AbortedError('the sink was stopped'))
        sendOptions.signal?.addEventListener('abort', onAbort, { once: true })
        open.write(framed, (err) => {
          if (err === null || err === undefined) {
            clearTimeout(timer)
            sendOptions.signal?.removeEventListener('abort', onAbort)
            resolve()
          } else fail(new SinkTransportError(address, (err as NodeJS.ErrnoException).code ?? err.message, err))
        })
      })
      if (open.destroyed) {
        if (socket === open) socket = undefined
        throw new SinkTransportError(address, 'the connection closed')
      }
    },
    async close() {
      socket?.end()
      socket?.destroy()
      socket = undefined
    }
  }
}

/** One syslog collector. */
export class SyslogSink implements Sink {
  readonly name: string
  readonly kind = 'syslog'
  readonly target: string
  private readonly format: SyslogFormat
  private readonly transport: SyslogTransport

  constructor(config: SyslogSinkConfig, parts: { hostname: string; procId?: string; transport?: SyslogTransport }) {
    this.name = config.name
    this.target = `${config.transport}:${config.address}`
    this.format = {
      facility: SYSLOG_FACILITIES[config.facility ?? 'local0'],
      hostname: config.hostname ?? parts.hostname,
      procId: parts.procId,
      maxBytes: config.transport === 'udp' ? SINK_LIMITS.maxUdpMessageBytes : SINK_LIMITS.maxStreamMessageBytes
    }
    this.transport =
      parts.transport ??
      (config.transport === 'udp'
        ? udpSyslogTransport(config.address)
        : streamSyslogTransport(config.transport, config.address))
  }

  take(events: readonly SinkEvent[]): number {
    return Math.min(events.length, SINK_LIMITS.syslogBatchEvents)
  }

  async deliver(events: readonly SinkEvent[], options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.transport.send(
      events.map((event) => syslogMessage(event, this.format)),
      options
    )
  }

  async close(): Promise<void> {
    await this.transport.close()
  }
}
