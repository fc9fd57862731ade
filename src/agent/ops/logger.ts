import { fstatSync } from 'node:fs'
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
  /**
   * Lines go to the systemd journal (the CLI sets it when JOURNAL_STREAM is set): each is prefixed
   * with its syslog priority (`<4>` for warn, sd-daemon(3)), so `journalctl -p warning` filters them.
   */
  journald?: boolean
}

/** syslog priorities of pino's levels, for the journal's `<N>` line prefix. */
const PRIORITY: Record<string, number> = { trace: 7, debug: 7, info: 6, warn: 4, error: 3, fatal: 2 }
const LEVEL_FIELD = /^\{"level":"([a-z]+)"/

/** The root logger. Modules get `root.child({ module: 'ledger' })`. */
export function createLogger(init: LoggerInit = {}): Logger {
  const options = {
    level: init.level ?? 'info',
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
    // Level names, not numbers: what operators and log shippers filter on.
    formatters: { level: (label: string) => ({ level: label }) }
  }
  const destination = init.destination ?? process.stderr
  if (init.pretty === true) {
    return pino(options, {
      write(line: string) {
        const record = JSON.parse(line) as Record<string, unknown>
        const { level, time, msg, pid: _pid, ...rest } = record
        const extra = Object.keys(rest).length === 0 ? '' : ` ${JSON.stringify(rest)}`
        destination.write(`${new Date(Number(time)).toISOString()} ${String(level)} ${String(msg ?? '')}${extra}\n`)
      }
    })
  }
  if (init.journald === true) {
    return pino(options, {
      write(line: string) {
        const priority = PRIORITY[LEVEL_FIELD.exec(line)?.[1] ?? ''] ?? 6
        destination.write(`<${priority}>${line}`)
      }
    })
  }
  return pino(options, destination as pino.DestinationStream)
}

/**
 * True when stderr is the systemd journal's stream: JOURNAL_STREAM names its device and inode
 * (systemd.exec(5)), which a process that inherited the variable but not the stream does not match.
 */
export function stderrIsJournal(env: NodeJS.ProcessEnv = process.env): boolean {
  const match = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? '')
  if (match === null) return false
  try {
    const stat = fstatSync(2, { bigint: true })
    return stat.dev === BigInt(match[1]!) && stat.ino === BigInt(match[2]!)
  } catch {
    return false
  }
}

/** A logger that drops everything, for tests and library defaults. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}
