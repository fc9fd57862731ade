import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { Command } from 'commander'
import { buildProgram } from '../../src/cli/program.js'
import { bashCompletion, commandsOf, helpOf, manPage } from '../../src/cli/reference.js'
import { tempDir } from '../helpers/devices.js'

/** What the completion offers for `words` (the last one being completed), in a real bash. */
function complete(script: string, words: string[], cwd?: string): string[] {
  const result = spawnSync(
    'bash',
    [
      '-c',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: bash expands it, not JavaScript
      'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _fleet; printf "%s\\n" "${COMPREPLY[@]}"',
      'complete',
      script,
      ...words
    ],
    { encoding: 'utf8', cwd }
  )
  assert.equal(result.status, 0, result.stderr)
  return result.stdout.split('\n').filter((line) => line !== '')
}

describe('cli/reference: the man page and bash completion, made from the command tree', () => {
  it('the man page has a section per command holding its own --help, the text after the options included', () => {
    const page = manPage(buildProgram(), { version: '9.8.7', date: '2026-12-07' })
    assert.match(page, /^\.TH FLEET 1 "2026-12-07" "fleet-agent 9\.8\.7" "User Commands"\n/)
    const sections = [...page.matchAll(/^\.SS "(.*)"$/gm)].map((m) => m[1])
    assert.deepEqual(
      sections,
      commandsOf(buildProgram()).map(({ path: names }) => ['fleet', ...names].join(' '))
    )
    const verify = page.slice(page.indexOf('.SS "fleet ledger verify"'))
    const block = verify.slice(0, verify.indexOf('.fi'))
    assert.match(block, /Exit codes: 0 verified, 1 a check failed/, 'the text added after the options')
    assert.match(block, /\\-\\-export <file>/, 'hyphens escaped for roff')
  })

  it('no line of a help text is read by roff as a request, and backslashes stay backslashes', () => {
    const program = new Command('fleet').description('a test')
    program
      .command('odd')
      .description('odd help')
      .addHelpText('after', "\n.SH NOT A SECTION\n'br not a break\nC:\\path and \\fB not bold")
    const page = manPage(program, { version: '1', date: '2026-01-01' })
    assert.doesNotMatch(page, /^\.SH NOT A SECTION$/m)
    assert.match(page, /^\\&\.SH NOT A SECTION$/m)
    assert.match(page, /^\\&'br not a break$/m)
    assert.match(page, /C:\\epath and \\efB not bold/)
    // Every line outside the generated requests either is text or one of the page's own requests.
    const requests = page.split('\n').filter((line) => /^[.']/.test(line))
    for (const line of requests) assert.match(line, /^\.(TH|SH|SS|nf|fi|B|I|BR|RB|TP) ?/, line)
  })

  it('helpOf captures what --help prints, from the usage line to the example', () => {
    const verify = buildProgram()
      .commands.find((c) => c.name() === 'ledger')!
      .commands.find((c) => c.name() === 'verify')!
    const text = helpOf(verify)
    assert.match(text, /^Usage: fleet ledger verify \[options\]/)
    assert.match(text, /Example:\n {2}fleet ledger verify --export feed\.jsonl --fleet FLEETID/)
  })

  it('bash completes commands, subcommands and options, directories after a <dir> option and files after others', async () => {
    const dir = await tempDir('fleet-completion-')
    const script = path.join(dir, 'fleet.bash')
    writeFileSync(script, bashCompletion(buildProgram()))
    mkdirSync(path.join(dir, 'state-a'))
    writeFileSync(path.join(dir, 'state-file'), '')
    assert.deepEqual(complete(script, ['fleet', 'led']), ['ledger'])
    assert.ok(complete(script, ['fleet', '']).includes('enrol'))
    assert.deepEqual(complete(script, ['fleet', 'ledger', 'ver']), ['verify', 'verify-proof'])
    assert.deepEqual(complete(script, ['fleet', 'ledger', 'verify', '--f']), ['--fleet'])
    assert.deepEqual(complete(script, ['fleet', '--ver']), ['--version'])
    assert.ok(complete(script, ['fleet', 'status', '--state', 'x', '--j']).includes('--json'))
    assert.deepEqual(complete(script, ['fleet', 'status', '--state', 'state'], dir), ['state-a'])
    assert.deepEqual(complete(script, ['fleet', 'ledger', 'verify', '--export', 'state'], dir).sort(), [
      'state-a',
      'state-file'
    ])
  })
})
