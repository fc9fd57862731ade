// Runs the test suite with mocha on the compiled tests, then prints one plain summary line
// ("tests: N passed, N failed") that any CI can read.
// Usage: node scripts/run-tests.mjs [mocha args…]  (FLEET_TEST_GREP=pattern narrows it)
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const args = [
  path.join(root, 'node_modules/mocha/bin/mocha.js'),
  '--recursive',
  '--timeout',
  '60000',
  '--reporter',
  'spec',
  '--exit',
  '--require',
  'dist/test/helpers/hooks.js',
  'dist/test/**/*.test.js',
  ...process.argv.slice(2)
]
if (process.env.FLEET_TEST_GREP) args.push('--grep', process.env.FLEET_TEST_GREP)
// The tests run agents in this one process: the thread pool is as wide as bin/fleet makes an agent's.
// The suite starts the fleet command many times: Node's compile cache, in a directory of
// this run's own (removed at the end), spares each start compiling the bundle again (about 15% of
// a CLI-heavy test file's time). Only the tests use it; bin/fleet does not.
const compileCache = mkdtempSync(path.join(os.tmpdir(), 'fleet-test-compile-cache-'))
const env = {
  ...process.env,
  UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? '16',
  NODE_COMPILE_CACHE: compileCache
}
const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] })
let output = ''
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk)
  output += chunk.toString()
})
child.on('exit', (code, signal) => {
  rmSync(compileCache, { recursive: true, force: true })
  const count = (word) =>
    Number(/(\d+) (?:passing|failing|pending)/.test(output) ? (new RegExp(`(\\d+) ${word}`).exec(output)?.[1] ?? 0) : 0)
  const skipped = count('pending')
  process.stdout.write(
    `\ntests: ${count('passing')} passed, ${count('failing')} failed${skipped > 0 ? `, ${skipped} skipped` : ''}\n`
  )
  process.exitCode = code ?? (signal === null ? 1 : 1)
})
