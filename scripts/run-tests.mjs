// Runs the test suite with mocha on the compiled tests.
// Usage: node scripts/run-tests.mjs [mocha args…]  (FLEET_TEST_GREP=pattern narrows it)
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const args = [
  path.join(root, 'node_modules/mocha/bin/mocha.js'),
  '--recursive', '--timeout', '60000', '--reporter', 'spec', '--exit',
  '--require', 'dist/test/helpers/hooks.js',
  'dist/test/**/*.test.js',
  ...process.argv.slice(2)
]
if (process.env.FLEET_TEST_GREP) args.push('--grep', process.env.FLEET_TEST_GREP)
const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' })
process.exit(result.status ?? 1)
