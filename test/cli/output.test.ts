/** The CLI's output streams: a reader that stops early gets no stack trace and a clean exit. */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { FLEET } from '../helpers/cli.js'

describe('cli: output to a reader that stops early', function () {
  this.timeout(30_000)

  it('stdout closed before the command writes (fleet --help | head): exit 0, nothing on stderr', async () => {
    const child = spawn(FLEET, ['--help'], { stdio: ['ignore', 'pipe', 'pipe'] })
    // The read end is gone before the help is written: every write fails with EPIPE.
    child.stdout.destroy()
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
    assert.equal(stderr, '')
    assert.equal(code, 0)
  })
})
