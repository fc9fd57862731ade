/**
 * The CLI's promises about help and usage: every command's --help shows an example of its use,
 * and `fleet` (or a command group) without a command is a usage error, not a success.
 */
import assert from 'node:assert/strict'
import type { Command } from 'commander'
import { buildProgram } from '../../src/cli/program.js'
import { runFleetAsync } from '../helpers/cli.js'

/** Every command that runs something (no subcommands), with its full name. */
function leaves(command: Command, prefix: string[] = []): Array<{ name: string; command: Command }> {
  const name = [...prefix, command.name()]
  if (command.commands.length === 0) return [{ name: name.slice(1).join(' '), command }]
  return command.commands.filter((sub) => sub.name() !== 'help').flatMap((sub) => leaves(sub, name))
}

function helpOf(command: Command): string {
  let text = ''
  command.configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s) })
  command.outputHelp()
  return text
}

describe('cli: help and usage', function () {
  this.timeout(30_000)

  it('every command has --help with an example of its use', () => {
    const commands = leaves(buildProgram())
    assert.ok(commands.length >= 40, `only ${commands.length} commands found`)
    const lacking = commands.filter(({ name, command }) => {
      const help = helpOf(command)
      return !/Examples?\b[^\n]*:\n\s+(runuser -u \S+ -- )?fleet /.test(help) || !help.includes(`fleet ${name}`)
    })
    assert.deepEqual(
      lacking.map(({ name }) => name),
      []
    )
  })

  it('`fleet` and a command group without a command print the help on stderr and exit 2', async () => {
    for (const args of [[], ['ledger'], ['swtpm']]) {
      const result = await runFleetAsync(args)
      assert.equal(result.status, 2, `fleet ${args.join(' ')}`)
      assert.equal(result.stdout, '')
      assert.match(result.stderr, /Usage: fleet/)
    }
    const asked = await runFleetAsync(['--help'])
    assert.equal(asked.status, 0)
    assert.match(asked.stdout, /Usage: fleet/)
  })

  it('--peer is given once per peer and leaves the device id after it alone (regression: a variadic --peer swallowed it)', async () => {
    const device = 'a'.repeat(52)
    const result = await runFleetAsync([
      'revoke',
      '--state',
      '/nonexistent',
      '--peer',
      '/ip4/127.0.0.1/tcp/1',
      device,
      '--reason',
      'lost'
    ])
    assert.equal(result.status, 2)
    assert.doesNotMatch(result.stderr, /missing required argument/)
    assert.match(result.stderr, /--peer \/ip4\/127\.0\.0\.1\/tcp\/1: not a multiaddr with a PeerId/)
  })
})
