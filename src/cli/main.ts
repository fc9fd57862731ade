#!/usr/bin/env node
/**
 * The `fleet` command line. One file per command under ./commands, wired up in program.ts; this
 * file turns every error into one line on stderr and an exit code:
 *   0  success
 *   1  a verification refused, or an operation failed (TPM, network, state)
 *   2  bad usage or unreadable input (arguments, files, structures)
 * Set FLEET_DEBUG=1 to see stack traces of unexpected errors.
 */
import { CommanderError } from 'commander'
import { FleetError } from '../common/index.js'
import { buildProgram } from './program.js'

export async function main(argv: string[]): Promise<number> {
  // A reader that stops early (fleet … | head): the output is not wanted any more; exit quietly.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0)
      throw err
    })
  }
  const major = Number(process.versions.node.split('.')[0])
  if (major < 24) {
    process.stderr.write(
      `fleet: Node.js ${process.versions.node} is too old; 24 or newer is required (run npm run bootstrap)\n`
    )
    return 2
  }
  try {
    await buildProgram().parseAsync(argv, { from: 'user' })
    // A command that refused (e.g. an untrusted boot) sets the exit code itself.
    return typeof process.exitCode === 'number' ? process.exitCode : 0
  } catch (err) {
    return reportError(err)
  }
}

function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // Commander has printed its message (or the help) already. Help asked for (--help, `fleet
    // help`) is a success; help shown because no command was given is a usage error.
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0
    return 2
  }
  if (err instanceof FleetError) {
    process.stderr.write(`fleet: ${err.message}\n`)
    return err.exitCode
  }
  const message = err instanceof Error ? err.message : String(err)
  process.stderr.write(`fleet: unexpected error: ${message}\n`)
  if (process.env.FLEET_DEBUG !== undefined && err instanceof Error) process.stderr.write(`${err.stack ?? ''}\n`)
  return 1
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    process.stderr.write(`fleet: ${String(err)}\n`)
    process.exitCode = 1
  }
)
