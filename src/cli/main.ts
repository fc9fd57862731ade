#!/usr/bin/env node
/**
 * The `fleet` command line. One file per command under ./commands; this file wires them up and
 * turns every error into one line on stderr and an exit code:
 *   0  success
 *   1  a verification refused, or an operation failed (TPM, network, state)
 *   2  bad usage or unreadable input (arguments, files, structures)
 * Set FLEET_DEBUG=1 to see stack traces of unexpected errors.
 */
import { Command, CommanderError } from 'commander'
import { FleetError } from '../common/index.js'
import { registerTpmCommands } from './commands/tpm.js'
import { registerSwtpmCommands } from './commands/swtpm.js'
import { registerAttestCommands } from './commands/attest.js'
import { registerEventlogCommands } from './commands/eventlog.js'
import { registerPolicyCommands, registerOntologyCommands } from './commands/policy.js'
import { registerAgentCommands, registerPeersCommand, registerStatusCommand } from './commands/agent.js'
import { registerOwnerCommands } from './commands/owner.js'
import {
  registerEnrolCommands,
  registerRevokeCommand,
  registerClearQuarantineCommand,
  registerNewEpochCommand
} from './commands/enrol.js'
import { registerLedgerCommands } from './commands/ledger.js'
import { registerReleaseCommands } from './commands/release.js'
import { registerWorkloadCommands } from './commands/workload.js'
import { registerWitnessCommands } from './commands/witness.js'
import { registerActorCommands } from './commands/actor.js'
import { registerSecretCommands } from './commands/secret.js'
import { registerExecCommand } from './commands/exec.js'
import { registerGateCommands } from './commands/gate.js'

export function buildProgram(): Command {
  const program = new Command('fleet')
    .description('Hardware-rooted, peer-to-peer fleet agent: TPM-bound identity, measured boot, attested audit ledger.')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .addHelpText(
      'after',
      `
Examples:
  fleet swtpm start --dir /tmp/dev1            # a software TPM for trying things out
  fleet tpm info --tcti swtpm:path=/tmp/dev1/tpm.sock
  fleet attest quote --tcti swtpm:path=/tmp/dev1/tpm.sock --nonce 0011 --pcrs sha256:0,1,2,3,7 --out /tmp/q
  fleet attest verify-quote --ak /tmp/q/ak.pub --message /tmp/q/quote.msg --signature /tmp/q/quote.sig \\
      --pcrs /tmp/q/quote.pcrs --nonce 0011
  fleet swtpm boot --dir /tmp/dev1                 # simulated Secure Boot: PCRs + event log
  fleet policy create --from-eventlog /tmp/dev1/binary_bios_measurements --out /tmp/policy.json
  fleet attest verify --ak /tmp/q/ak.pub --message /tmp/q/quote.msg --signature /tmp/q/quote.sig --nonce 0011 \\
      --eventlog /tmp/dev1/binary_bios_measurements --policy /tmp/policy.json

Exit codes: 0 ok, 1 verification refused or operation failed, 2 bad usage or input.`
    )
  registerTpmCommands(program)
  registerSwtpmCommands(program)
  registerAttestCommands(program)
  registerEventlogCommands(program)
  registerPolicyCommands(program)
  registerOntologyCommands(program)
  registerAgentCommands(program)
  registerPeersCommand(program)
  registerStatusCommand(program)
  registerOwnerCommands(program)
  registerEnrolCommands(program)
  registerRevokeCommand(program)
  registerClearQuarantineCommand(program)
  registerNewEpochCommand(program)
  registerLedgerCommands(program)
  registerReleaseCommands(program)
  registerWorkloadCommands(program)
  registerWitnessCommands(program)
  registerActorCommands(program)
  registerSecretCommands(program)
  registerExecCommand(program)
  registerGateCommands(program)
  for (const command of program.commands) applyOverrides(command)
  return program
}

function applyOverrides(command: Command): void {
  command.exitOverride().showHelpAfterError('(run with --help for usage)')
  for (const sub of command.commands) applyOverrides(sub)
}

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
    // Commander has printed its message (or the help) already.
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help')
      return 0
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
