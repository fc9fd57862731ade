/** The `fleet` command tree: every command registered, with its help and exit-code overrides. */
import { Command } from 'commander'
import { registerTpmCommands } from './commands/tpm.js'
import { registerSwtpmCommands } from './commands/swtpm.js'
import { registerAttestCommands } from './commands/attest.js'
import { registerEventlogCommands } from './commands/eventlog.js'
import { registerPolicyCommands, registerOntologyCommands } from './commands/policy.js'
import { registerAgentCommands } from './commands/agent.js'
import { registerConsoleCommand, registerPeersCommand, registerStatusCommand } from './commands/agent-status.js'
import { registerOwnerCommands } from './commands/owner.js'
import { registerJoinCommand } from './commands/join.js'
import { registerNetworkKeyCommands } from './commands/network-key.js'
import { registerHubCommands } from './commands/hub.js'
import { registerEnrolCommand } from './commands/enrol.js'
import { registerRevokeCommand, registerClearQuarantineCommand, registerNewEpochCommand } from './commands/standing.js'
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
  registerConsoleCommand(program)
  registerOwnerCommands(program)
  registerJoinCommand(program)
  registerEnrolCommand(program)
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
  registerNetworkKeyCommands(program)
  registerHubCommands(program)
  for (const command of program.commands) applyOverrides(command)
  return program
}

function applyOverrides(command: Command): void {
  command.exitOverride().showHelpAfterError('(run with --help for usage)')
  for (const sub of command.commands) applyOverrides(sub)
}
