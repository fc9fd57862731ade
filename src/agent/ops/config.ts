import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { MalformedInputError } from '../../common/index.js'
import { checkRecord, SchemaError, type Field } from '../../codec/index.js'
import { RELAY_LIMITS } from '../../p2p/limits.js'
import { SINKS_CONFIG_FIELD, SinkConfigError, checkSinkConfigs, type SinkConfig } from './sink-config.js'

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
 * | approvals          |                      | off; {"port": N}: 127.0.0.1  |
 * | console            |                      | off; {"port": N}: 127.0.0.1  |
 * | gateSocket         | FLEET_GATE_SOCKET    | off; an absolute path        |
 * | sinks              |                      | none (config file only)      |
 * | peers              | FLEET_PEERS (comma)  | none                         |
 * | hubs               | FLEET_HUBS (comma)   | none                         |
 * | networkKeyFile     | FLEET_NETWORK_KEY_FILE | none (no private network)  |
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
  /**
   * The approval page for actors with a security key (src/agent/approvals): served on
   * http://localhost:PORT/ (127.0.0.1 only) while the agent runs; port 0 picks a free one
   * (`fleet status` names it). Off when absent.
   */
  approvals?: { port: number }
  /**
   * The web console (src/agent/console): served on http://127.0.0.1:PORT/ while the agent runs,
   * to whoever signs in with the token in DIR/console.token (`fleet console` prints the address
   * with it); port 0 picks a free one. Off when absent.
   */
  console?: { port: number }
  /**
   * The gate socket (src/agent/gate-socket.ts) for workloads that run as other users: served at
   * this path, mode 0666, each caller limited to its uid's grant (`fleet gate allow`). Off when absent.
   */
  gateSocket?: string
  /**
   * Where verdicts, alerts, revocations and workload stops are delivered (src/agent/sinks; ops/sink-config.ts):
   * webhooks and syslog collectors. A relative caFile is relative to the config file.
   */
  sinks?: SinkConfig[]
  /** Fleet peers to dial at start (multiaddrs with /p2p/…), besides those found over mDNS; --peer adds to them. */
  peers?: string[]
  /**
   * Hubs (devices enrolled with role hub, multiaddrs with /p2p/…): the agent keeps a link to each,
   * holds a relay reservation on them, and reaches members it cannot dial through them (src/agent/hubs).
   */
  hubs?: string[]
  /**
   * The fleet's private network key (a PSK v1 swarm key file, mode 0600 or 0640): every connection
   * proves it before libp2p says anything (src/p2p/network-key.ts). Off when absent.
   */
  networkKeyFile?: string
}

/** Thrown when a config file, variable or flag has an unknown field or an invalid value. Exit code 2. */
export class ConfigError extends MalformedInputError {
  constructor(source: string, message: string) {
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

/** Integers may be given as decimal text (environment variables, flags), as may booleans and lists. */
const integer = (min: number, max: number): Field => ({
  kind: 'uint',
  min,
  max,
  text: true,
  optional: true,
  expected: `an integer in ${min}..${max}`
})
const text: Field = { kind: 'string', min: 1, max: 4096, optional: true, expected: 'a non-empty string' }
const boolean: Field = { kind: 'bool', text: true, optional: true, expected: 'true or false' }

/** The config's fields, each optional in one source (`state` is required once all are merged). */
const CONFIG_SCHEMA: Record<keyof AgentConfig, Field> = {
  state: text,
  tcti: text,
  listen: {
    kind: 'list',
    minItems: 1,
    maxItems: 16,
    item: { kind: 'string', pattern: '^/' },
    text: true,
    optional: true,
    expected: 'a list of multiaddrs'
  },
  mdns: boolean,
  agentPcr: integer(16, 23),
  bootPcrs: {
    kind: 'list',
    minItems: 1,
    maxItems: 24,
    unique: true,
    item: { kind: 'uint', max: 23 },
    optional: true,
    expected: 'a list of distinct PCR numbers 0..23'
  },
  attestIntervalSec: integer(5, 86_400),
  metricsPort: integer(0, 65_535),
  logLevel: { kind: 'string', oneOf: LOG_LEVELS, optional: true, expected: `one of ${LOG_LEVELS.join(', ')}` },
  batchMs: integer(1, 60_000),
  batchEntries: integer(1, 1_000_000),
  routineBatchSec: integer(1, 3_600),
  witnessesPerFeed: integer(1, 64),
  approvals: {
    kind: 'record',
    fields: { port: { kind: 'uint', max: 65_535 } },
    optional: true,
    expected: 'an object {"port": 0..65535}'
  },
  console: {
    kind: 'record',
    fields: { port: { kind: 'uint', max: 65_535 } },
    optional: true,
    expected: 'an object {"port": 0..65535}'
  },
  gateSocket: {
    kind: 'string',
    min: 2,
    max: 107,
    pattern: '^/',
    optional: true,
    expected: 'an absolute path (at most 107 bytes)'
  },
  sinks: SINKS_CONFIG_FIELD,
  peers: {
    kind: 'list',
    maxItems: 64,
    item: { kind: 'string', max: 512, pattern: '^/.*/p2p/[A-Za-z0-9]+$' },
    text: true,
    optional: true,
    expected: 'a list of multiaddrs ending in /p2p/<PeerId>'
  },
  hubs: {
    kind: 'list',
    maxItems: RELAY_LIMITS.maxHubs,
    unique: true,
    item: { kind: 'string', max: 512, pattern: '^/(?!.*/p2p-circuit).*/p2p/[A-Za-z0-9]+$' },
    text: true,
    optional: true,
    expected: `a list of at most ${RELAY_LIMITS.maxHubs} direct multiaddrs ending in /p2p/<PeerId>`
  },
  networkKeyFile: {
    kind: 'string',
    min: 2,
    max: 4096,
    pattern: '^/',
    optional: true,
    expected: 'an absolute path'
  }
}

/** The environment variable of each field that has one. */
const ENV: Partial<Record<keyof AgentConfig, string>> = {
  state: 'FLEET_STATE',
  tcti: 'FLEET_TCTI',
  listen: 'FLEET_LISTEN',
  mdns: 'FLEET_MDNS',
  metricsPort: 'FLEET_METRICS_PORT',
  logLevel: 'FLEET_LOG_LEVEL',
  gateSocket: 'FLEET_GATE_SOCKET',
  peers: 'FLEET_PEERS',
  hubs: 'FLEET_HUBS',
  networkKeyFile: 'FLEET_NETWORK_KEY_FILE'
}

function apply(target: Partial<AgentConfig>, values: Record<string, unknown>, source: string): void {
  // Values not given (flags left out) are not fields; the rest are defined, not assigned, so that a
  // "__proto__" key is a field like any other (and unknown).
  const given: Record<string, unknown> = {}
  for (const [field, value] of Object.entries(values)) {
    if (value === undefined) continue
    Object.defineProperty(given, field, { value, enumerable: true, writable: true, configurable: true })
  }
  try {
    Object.assign(target, checkRecord(given, CONFIG_SCHEMA))
  } catch (err) {
    if (err instanceof SchemaError) throw new ConfigError(source, err.message)
    throw err
  }
}

/**
 * Builds the configuration from its sources, later ones winning: the defaults (CONFIG_DEFAULTS,
 * then `defaults`, e.g. what the device state says), the file, the environment, the flags.
 * `file` is optional; `flags` holds only given flags.
 */
export async function loadConfig(sources: {
  file?: string
  env?: NodeJS.ProcessEnv
  flags?: Partial<Record<keyof AgentConfig, unknown>>
  defaults?: Partial<Omit<AgentConfig, 'state'>>
}): Promise<AgentConfig> {
  const config: Partial<AgentConfig> = { ...CONFIG_DEFAULTS, ...sources.defaults }
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
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new ConfigError(sources.file, 'must be a JSON object')
    apply(config, parsed as Record<string, unknown>, sources.file)
  }
  const env = sources.env ?? {}
  const fromEnv: Record<string, unknown> = {}
  for (const [field, name] of Object.entries(ENV)) if (env[name] !== undefined) fromEnv[field] = env[name]
  apply(config, fromEnv, 'environment')
  apply(config, sources.flags ?? {}, 'flags')
  if (config.sinks !== undefined) {
    // Only a file gives sinks (the CLI has no flag for them); a relative caFile is the file's neighbour.
    const source = sources.flags?.sinks !== undefined || sources.file === undefined ? 'flags' : sources.file
    const baseDir = source === 'flags' ? process.cwd() : path.dirname(path.resolve(source))
    try {
      config.sinks = await checkSinkConfigs(config.sinks, baseDir)
    } catch (err) {
      if (err instanceof SinkConfigError) throw new ConfigError(source, err.message)
      throw err
    }
  }
  if (config.state === undefined)
    throw new ConfigError('flags', 'the state directory is required (--state DIR, FLEET_STATE or "state")')
  config.state = path.resolve(config.state)
  return config as AgentConfig
}
