/**
 * What a sink (src/agent/sinks) is configured with (the agent config's `sinks` list): its schema for the config
 * loader, and the checks the schema cannot make (a URL's scheme and host, a CA file that holds a
 * certificate, names that are unique). A refusal is a SinkConfigError naming the field.
 */
import { X509Certificate } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import path from 'node:path'
import { FleetError } from '../../common/index.js'
import type { Field } from '../../codec/index.js'

/** Sinks one agent may have configured. */
export const MAX_SINKS = 8
/** Events per webhook POST a config may ask for (src/agent/sinks takes 100 by default). */
export const MAX_WEBHOOK_BATCH_EVENTS = 1000
/** A sink's name: it keys the sink's durable cursors, so renaming a sink starts it over. */
const SINK_NAME_PATTERN = '^[a-z0-9][a-z0-9-]{0,31}$'

/** Thrown (exit 2) when a sink's configuration is invalid: `field` names where, as `sinks[i].field`. */
export class SinkConfigError extends FleetError {
  readonly field: string
  constructor(field: string, reason: string) {
    super(`${field}: ${reason}`, { code: 'ERR_SINK_CONFIG', exitCode: 2 })
    this.field = field
  }
}

/**
 * The entry types a sink is sent: this device's verdicts, alerts and workload stops (its own
 * feed), and the owner's revocations (the owner's feed as held here). Default: all of them.
 */
export const SINK_EVENT_TYPES = [
  'attest.verdict',
  'alert.clone_suspected',
  'alert.equivocation',
  'alert.tamper',
  'alert.revocation',
  'alert.cloned_authenticator',
  // An external witness's answer that shows a split view (defined by the owner's ontology.update
  // with the witnesses; absent from feeds that never had one).
  'alert.external_witness',
  'workload.stop',
  'device.revoke',
  'actor.revoke',
  'workload.revoke'
] as const
export type SinkEventType = (typeof SINK_EVENT_TYPES)[number]

/** Syslog facilities by name (RFC 5424 §6.2.1). */
export const SYSLOG_FACILITIES = {
  kern: 0,
  user: 1,
  daemon: 3,
  auth: 4,
  syslog: 5,
  authpriv: 10,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23
} as const
export type SyslogFacility = keyof typeof SYSLOG_FACILITIES

export interface WebhookSinkConfig {
  kind: 'webhook'
  /** Keys the sink's durable cursors: renaming a sink starts its delivery over from the first entry. */
  name: string
  /** https://…; http:// only to 127.0.0.1 or [::1]. */
  url: string
  /** PEM file of the CA(s) the server's certificate must chain to; default: Node's bundled roots. */
  caFile?: string
  events?: SinkEventType[]
  /** Events per POST (one signature each); default 100 (SINK_LIMITS.webhookBatchEvents). */
  batchEvents?: number
}

export interface SyslogSinkConfig {
  kind: 'syslog'
  name: string
  /** udp (RFC 5426), tcp (RFC 6587 octet counting) or unix (a stream socket, octet counting). */
  transport: 'udp' | 'tcp' | 'unix'
  /** host:port ([v6]:port) for udp and tcp; an absolute socket path for unix. */
  address: string
  /** Default local0. */
  facility?: SyslogFacility
  /** The HOSTNAME field; default this machine's host name. */
  hostname?: string
  events?: SinkEventType[]
}

export type SinkConfig = WebhookSinkConfig | SyslogSinkConfig

const events: Field = {
  kind: 'list',
  minItems: 1,
  maxItems: SINK_EVENT_TYPES.length,
  unique: true,
  item: { kind: 'string', oneOf: SINK_EVENT_TYPES },
  optional: true
}
const name: Field = { kind: 'string', pattern: SINK_NAME_PATTERN }

/** The config's `sinks` field: a list of webhooks and syslog collectors. */
export const SINKS_CONFIG_FIELD: Field = {
  kind: 'list',
  maxItems: MAX_SINKS,
  item: {
    kind: 'variant',
    tag: 'kind',
    variants: {
      webhook: {
        kind: { kind: 'string', oneOf: ['webhook'] },
        name,
        url: { kind: 'string', min: 1, max: 2048 },
        caFile: { kind: 'string', min: 1, max: 4096, optional: true },
        events,
        batchEvents: { kind: 'uint', min: 1, max: MAX_WEBHOOK_BATCH_EVENTS, optional: true }
      },
      syslog: {
        kind: { kind: 'string', oneOf: ['syslog'] },
        name,
        transport: { kind: 'string', oneOf: ['udp', 'tcp', 'unix'] },
        address: { kind: 'string', min: 1, max: 1024 },
        facility: { kind: 'string', oneOf: Object.keys(SYSLOG_FACILITIES), optional: true },
        hostname: { kind: 'string', min: 1, max: 255, pattern: '^[!-~]+$', optional: true },
        events
      }
    }
  },
  optional: true
}

/** A host:port, [v6]:port, as a syslog address over udp or tcp; undefined when it is not one. */
export function parseHostPort(address: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(address)
  if (match === null) return undefined
  const host = match[1] ?? match[2]!
  const port = Number(match[3])
  if (port < 1 || port > 65_535) return undefined
  if (match[1] !== undefined && isIP(host) !== 6) return undefined
  return { host, port }
}

const LOOPBACK = new Set(['127.0.0.1', '[::1]'])

/**
 * The checks beyond the schema, on sinks the schema accepted. `baseDir`: what a relative caFile
 * is relative to (the config file's folder). Returns the sinks with caFile made absolute.
 */
export async function checkSinkConfigs(sinks: readonly SinkConfig[], baseDir: string): Promise<SinkConfig[]> {
  const names = new Set<string>()
  const checked: SinkConfig[] = []
  for (const [i, sink] of sinks.entries()) {
    const at = `sinks[${i}]`
    if (names.has(sink.name)) throw new SinkConfigError(`${at}.name`, `"${sink.name}" names another sink too`)
    names.add(sink.name)
    if (sink.kind === 'webhook') {
      let url: URL
      try {
        url = new URL(sink.url)
      } catch {
        throw new SinkConfigError(`${at}.url`, 'is not a URL')
      }
      if (url.username !== '' || url.password !== '')
        throw new SinkConfigError(`${at}.url`, 'must not hold credentials (user:password@)')
      if (url.hash !== '') throw new SinkConfigError(`${at}.url`, 'must not have a #fragment')
      if (url.protocol === 'http:') {
        if (!LOOPBACK.has(url.hostname))
          throw new SinkConfigError(
            `${at}.url`,
            'http:// is allowed to 127.0.0.1 or [::1] only: events to another host go over https://'
          )
      } else if (url.protocol !== 'https:')
        throw new SinkConfigError(`${at}.url`, 'must be https:// (or http:// to 127.0.0.1)')
      let caFile: string | undefined
      if (sink.caFile !== undefined) {
        caFile = path.resolve(baseDir, sink.caFile)
        let pem: string
        try {
          pem = await readFile(caFile, 'utf8')
        } catch (err) {
          throw new SinkConfigError(
            `${at}.caFile`,
            `cannot read ${caFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`
          )
        }
        try {
          new X509Certificate(pem)
        } catch {
          throw new SinkConfigError(`${at}.caFile`, `${caFile} holds no PEM certificate`)
        }
        if (url.protocol === 'http:') throw new SinkConfigError(`${at}.caFile`, 'is for https:// URLs only')
      }
      checked.push({ ...sink, ...(caFile === undefined ? {} : { caFile }) })
    } else {
      if (sink.transport === 'unix') {
        if (!path.isAbsolute(sink.address) || Buffer.byteLength(sink.address) > 107)
          throw new SinkConfigError(`${at}.address`, 'must be an absolute socket path (at most 107 bytes) for unix')
      } else if (parseHostPort(sink.address) === undefined)
        throw new SinkConfigError(`${at}.address`, `must be host:port for ${sink.transport}`)
      checked.push(sink)
    }
  }
  return checked
}
