import type { Command } from 'commander'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { EsysTpm, PCR_COUNT } from '../../attest/index.js'
import { initOwner, writeOwnerState, OWNER_STATE_FILE } from '../../agent/index.js'
import { UsageError, cryptoRandom, systemClock } from '../../common/index.js'
import { makeOutput } from '../output.js'

/**
 * fleet owner init --state DIR --tcti T [--name NAME] [--boot-pcrs 0,1,2,3,4,7] [--yes] [--json]
 */
export function registerOwnerCommands(program: Command): void {
  const owner = program
    .command('owner')
    .description('the fleet owner: the person whose signed statements admit and revoke devices')

  owner
    .command('init')
    .description(
      "create the owner key in this machine's TPM and sign the fleet's genesis statement; prints the fleetId"
    )
    .requiredOption('--state <dir>', 'owner state directory (public data and TPM-wrapped blobs only)')
    .requiredOption('--tcti <tcti>', 'TPM of the machine where the ceremony runs')
    .option('--name <name>', 'a name for the fleet', 'fleet')
    .option('--boot-pcrs <list>', "boot PCRs the owner's ML-DSA-65 key is sealed to", '0,1,2,3,4,7')
    .option('--yes', 'replace an existing owner identity in this directory')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nExample:\n  fleet owner init --state ~/.fleet-owner --tcti device:/dev/tpmrm0 --name clinic-west'
    )
    .action(
      async (options: {
        state: string
        tcti: string
        name: string
        bootPcrs: string
        yes?: boolean
        json?: boolean
      }) => {
        if (!/^[\x20-\x7e]{1,128}$/.test(options.name))
          throw new UsageError('--name must be 1..128 printable ASCII characters')
        const bootPcrs = options.bootPcrs.split(',').map((item) => {
          if (!/^\d{1,2}$/.test(item) || Number(item) >= PCR_COUNT)
            throw new UsageError(`--boot-pcrs: "${item}" is not a PCR number`)
          return Number(item)
        })
        if (existsSync(path.join(options.state, OWNER_STATE_FILE)) && options.yes !== true)
          throw new UsageError(`${options.state} already holds an owner identity; pass --yes to replace it`)
        const tpm = await EsysTpm.open({ tcti: options.tcti })
        try {
          const state = await initOwner(tpm, {
            name: options.name,
            bootPcrs,
            random: cryptoRandom.bytes,
            now: () => new Date(systemClock.now())
          })
          await writeOwnerState(options.state, state)
          makeOutput(options.json === true).result(
            { state: path.resolve(options.state), fleetId: state.fleetId, name: state.name },
            `fleet "${state.name}" founded\nfleetId: ${state.fleetId}`
          )
        } finally {
          await tpm.close()
        }
      }
    )
}
