import type { Command } from 'commander'
import { readNetworkKey, writeNetworkKey } from '../../p2p/index.js'
import { makeOutput } from '../output.js'

/**
 * fleet network-key generate --out FILE [--json]
 * fleet network-key check FILE [--json]
 * The fleet's optional private network: one pre-shared key on every device (src/p2p/network-key.ts).
 */
export function registerNetworkKeyCommands(program: Command): void {
  const key = program
    .command('network-key')
    .description("the fleet's optional private network: a pre-shared key every connection proves first")

  key
    .command('generate')
    .description('write a new random network key (PSK v1 swarm key, mode 0600); an existing file is not replaced')
    .requiredOption('--out <file>', 'where to write it')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Example:
  fleet network-key generate --out /etc/fleet/network.key
Copy it to every device (0600, owned by the fleet user) and set "networkKeyFile" in each agent's
config; the owner's commands take --network-key. A device without it cannot connect at all.
Exit codes: 0 written, 2 the file exists or cannot be written.`
    )
    .action(async (options: { out: string; json?: boolean }) => {
      await writeNetworkKey(options.out)
      makeOutput(options.json === true).result({ file: options.out }, `network key written to ${options.out} (0600)`)
    })

  key
    .command('check')
    .description('check a network key file: its form, size and mode, as the agent checks it at start')
    .argument('<file>', 'the key file')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Example:
  fleet network-key check /etc/fleet/network.key
Exit codes: 0 usable, 2 not usable (the reason is printed).`
    )
    .action(async (file: string, options: { json?: boolean }) => {
      await readNetworkKey(file)
      makeOutput(options.json === true).result({ file, usable: true }, `${file}: a usable network key`)
    })
}
