import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { MalformedInputError } from '../../common/errors.js'

/**
 * Agent configuration. Sources, later ones winning: defaults < config file < environment
 * (FLEET_*) < command-line flags. Every field is validated; unknown fields are refused so a typo
 * never silently falls back to a default.
 *
 * | field              | env                  | default                      |
 * |--------------------|----------------------|------------------------------|
 * | state              | FLEET_STATE          | (required)                   |
 * | tcti               | FLEET_TCTI           | device:/dev/tpmrm0           |
 * | listen             | FLEET_LISTEN (comma) | /ip4/0.0.0.0/tcp/0           |
 * | mdns               | FLEET_MDNS (0/1)     | true                         |
 * | agentPcr           |                      | 23                           |
 * | bootPcrs           |                      | [0,1,2,3,4,7]                |
 * | attestIntervalSec  |                      | 300                          |
 * | metricsPort        | FLEET_METRICS_PORT   | 0 (off); binds 127.0.0.1     |
 * | logLevel           | FLEET_LOG_LEVEL      | info                         |
 * | batchMs            |                      | 250                          |
 * | batchEntries       |                      | 10000                        |
 * | routineBatchSec    |                      | 30                           |
 * | witnessesPerFeed   |                      | 4                            |
 */
export interface AgentConfig {
  state: string
  tcti: string
  listen: string[]
  mdns: boolean
  agentPcr: number
  bootPcrs: number[]
  attestIntervalSec: number
  metricsPort: number
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  batchMs: number
  batchEntries: number
  /** Routine entries (trusted attestation verdicts) are sealed within this long; others within batchMs. */
  routineBatchSec: number
  /** How many fleet devices cosign each feed's checkpoints (the feed's witness set). */
  witnessesPerFeed: number
}

/** Thrown when a config file, variable or flag has an unknown field or an invalid value. Exit code 2. */
export class ConfigError extends MalformedInputError {
  constructor (source: string, message: string) {
    super(`config (${source}): ${message}`, { code: 'ERR_CONFIG' })
  }
}

export const CONFIG_DEFAULTS: Omit<AgentConfig, 'state'> = {
  tcti: 'device:/dev/tpmrm0',
  listen: ['/ip4/0.0.0.0/tcp/0'],
  mdns: true,
  agentPcr: 23,
  bootPcrs: [0, 1, 2, 3, 4, 7],
  attestIntervalSec: 300,
  metricsPort: 0,
  logLevel: 'info',
  batchMs: 250,
  batchEntries: 10_000,
  routineBatchSec: 30,
  witnessesPerFeed: 4
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']
const MAX_CONFIG_BYTES = 64 * 1024

type Check = (value: unknown, source: string, field: string) => unknown

const integer = (min: number, max: number): Check => (value, source, field) => {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) throw new ConfigError(source, `${field} must be an integer in ${min}..${max}`)
  return n
}
const boolean: Check = (value, source, field) => {
  if (value === true || value === '1' || value === 'true') return true
  if (value === false || value === '0' || value === 'false') return false
  throw new ConfigError(source, `${field} must be true or false`)
}
const string: Check = (value, source, field) => {
  if (typeof value !== 'string' || value.length === 0 || value.length > 4096) throw new ConfigError(source, `${field} must be a non-empty string`)
  return value
}
const stringList: Check = (value, source, field) => {
  const list = typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter((s) => s !== '') : value
  if (!Array.isArray(list) || list.length === 0 || list.length > 16 || !list.every((s) => typeof s === 'string' && s.startsWith('/'))) {
    throw new ConfigError(source, `${field} must be a list of multiaddrs`)
  }
  return list
}
const pcrList: Check = (value, source, field) => {
  if (!Array.isArray(value) || value.length === 0 || !value.every((p) => Number.isInteger(p) && p >= 0 && p < 24) || new Set(value).size !== value.length) {
    throw new ConfigError(source, `${field} must be a list of distinct PCR numbers 0..23`)
  }
  return value
}
const logLevel: Check = (value, source, field) => {
  if (typeof value !== 'string' || !LOG_LEVELS.includes(value)) throw new ConfigError(source, `${field} must be one of ${LOG_LEVELS.join(', ')}`)
  return value
}

const FIELDS: Record<keyof AgentConfig, { check: Check, env?: string }> = {
  state: { check: string, env: 'FLEET_STATE' },
  tcti: { check: string, env: 'FLEET_TCTI' },
  listen: { check: stringList, env: 'FLEET_LISTEN' },
  mdns: { check: boolean, env: 'FLEET_MDNS' },
  agentPcr: { check: integer(16, 23) },
  bootPcrs: { check: pcrList },
  attestIntervalSec: { check: integer(5, 86_400) },
  metricsPort: { check: integer(0, 65_535), env: 'FLEET_METRICS_PORT' },
  logLevel: { check: logLevel, env: 'FLEET_LOG_LEVEL' },
  batchMs: { check: integer(1, 60_000) },
  batchEntries: { check: integer(1, 1_000_000) },
  routineBatchSec: { check: integer(1, 3_600) },
  witnessesPerFeed: { check: integer(1, 64) }
}

function apply (target: Partial<AgentConfig>, values: Record<string, unknown>, source: string): void {
  for (const [field, value] of Object.entries(values)) {
    if (value === undefined) continue
    // Own fields only: "constructor", "__proto__" and the like are unknown fields, not lookups.
    const spec = Object.hasOwn(FIELDS, field) ? FIELDS[field as keyof AgentConfig] : undefined
    if (spec === undefined) throw new ConfigError(source, `unknown field "${field.slice(0, 64)}"`)
    ;(target as Record<string, unknown>)[field] = spec.check(value, source, field)
  }
}

/** Builds the configuration from its sources. `file` is optional; `flags` holds only given flags. */
export async function loadConfig (sources: { file?: string, env?: NodeJS.ProcessEnv, flags?: Partial<Record<keyof AgentConfig, unknown>> }): Promise<AgentConfig> {
  const config: Partial<AgentConfig> = { ...CONFIG_DEFAULTS }
  if (sources.file !== undefined) {
    let text: string
    try {
      text = await readFile(sources.file, 'utf8')
    } catch (err) {
      throw new ConfigError(sources.file, `cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
    }
    if (text.length > MAX_CONFIG_BYTES) throw new ConfigError(sources.file, `larger than ${MAX_CONFIG_BYTES} bytes`)
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (err) {
      throw new ConfigError(sources.file, `not JSON: ${(err as Error).message}`)
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ConfigError(sources.file, 'must be a JSON object')
    apply(config, parsed as Record<string, unknown>, sources.file)
  }
  const env = sources.env ?? {}
  const fromEnv: Record<string, unknown> = {}
  for (const [field, spec] of Object.entries(FIELDS)) if (spec.env !== undefined && env[spec.env] !== undefined) fromEnv[field] = env[spec.env]
  apply(config, fromEnv, 'environment')
  apply(config, sources.flags ?? {}, 'flags')
  if (config.state === undefined) throw new ConfigError('flags', 'the state directory is required (--state DIR, FLEET_STATE or "state")')
  config.state = path.resolve(config.state)
  return config as AgentConfig
}
