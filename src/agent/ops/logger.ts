import { pino, type Logger } from 'pino'

export type { Logger }

/**
 * Paths never written to logs: key material, nonces, sealed data and signatures. Modules log
 * through children of one root made by the CLI, so this list covers every line.
 */
export const REDACTED_PATHS = [
  'key',
  'privateKey',
  'secret',
  'seed',
  'nonce',
  'sealed',
  'signature',
  'password',
  '*.key',
  '*.privateKey',
  '*.secret',
  '*.seed',
  '*.nonce',
  '*.sealed',
  '*.signature',
  '*.password'
]

export interface LoggerInit {
  level?: string
  /** Human-readable lines instead of JSON; the CLI turns it on when stderr is a terminal. */
  pretty?: boolean
  /** Where lines go. Default: stderr, so stdout stays clean for command output. */
  destination?: NodeJS.WritableStream
}

/** The root logger. Modules get `root.child({ module: 'ledger' })`. */
export function createLogger(init: LoggerInit = {}): Logger {
  const options = {
    level: init.level ?? 'info',
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    base: { pid: process.pid }
  }
  const destination = init.destination ?? process.stderr
  if (init.pretty === true) {
    return pino(options, {
      write(line: string) {
        const record = JSON.parse(line) as Record<string, unknown>
        const { level, time, msg, pid: _pid, ...rest } = record
        const extra = Object.keys(rest).length === 0 ? '' : ` ${JSON.stringify(rest)}`
        destination.write(
          `${new Date(Number(time)).toISOString()} ${pino.levels.labels[Number(level)] ?? level} ${String(msg ?? '')}${extra}\n`
        )
      }
    })
  }
  return pino(options, destination as pino.DestinationStream)
}

/** A logger that drops everything, for tests and library defaults. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}
