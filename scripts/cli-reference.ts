/**
 * Writes the CLI's man page and bash completion, made from the command tree (src/cli/reference.ts):
 *   node dist/scripts/cli-reference.js OUTDIR [YYYY-MM-DD]
 * → OUTDIR/fleet.1 and OUTDIR/fleet.bash-completion. The date defaults to today's (UTC).
 */
import { readFileSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildProgram } from '../src/cli/program.js'
import { bashCompletion, manPage } from '../src/cli/reference.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const [out, date = new Date().toISOString().slice(0, 10)] = process.argv.slice(2)
if (out === undefined || !/^\d{4}-\d{2}-\d{2}$/.test(date)) {
  process.stderr.write('usage: node dist/scripts/cli-reference.js OUTDIR [YYYY-MM-DD]\n')
  process.exit(2)
}
const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }
await mkdir(out, { recursive: true })
await writeFile(path.join(out, 'fleet.1'), manPage(buildProgram(), { version, date }))
await writeFile(path.join(out, 'fleet.bash-completion'), bashCompletion(buildProgram()))
