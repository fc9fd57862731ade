/**
 * A state directory that cannot be one is refused before the TPM is touched: exit 2 and one line
 * naming the path, not an unexpected error after keys were made, and never a hang (/proc).
 */
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { runFleetAsync } from '../helpers/cli.js'
import { tempDir } from '../helpers/devices.js'

describe('cli: a bad --state for init and owner init', function () {
  this.timeout(60_000)

  it('a file, or a folder under /proc: exit 2 before any TPM command (the TCTI given leads nowhere)', async () => {
    const file = path.join(await tempDir('state-'), 'not-a-folder')
    await writeFile(file, 'x')
    const nowhere = 'swtpm:path=/nonexistent/tpm.sock'
    for (const args of [
      ['init', '--state', file, '--tcti', nowhere],
      ['init', '--state', '/proc/fleet-no-such', '--tcti', nowhere],
      ['owner', 'init', '--state', file, '--tcti', nowhere, '--name', 'clinic']
    ]) {
      const result = await runFleetAsync(args)
      assert.equal(result.status, 2, `${args.join(' ')}: ${result.stderr}`)
      assert.equal(result.stderr.trim().split('\n').length, 1)
      assert.match(result.stderr, /^fleet: .*(not-a-folder: is a file|fleet-no-such: the file system refuses)/)
    }
  })
})
