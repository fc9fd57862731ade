import assert from 'node:assert/strict'
import { runFleet as run } from '../helpers/cli.js'

describe("cli: the owner's statements about equivocation and epochs", () => {
  const device = 'a'.repeat(52)
  const root = '0'.repeat(64)

  it('clear-quarantine names one piece of evidence by its id: an epoch clears nothing and is a usage error', () => {
    const epochOnly = run(['clear-quarantine', '--state', '/nonexistent', device, '--reason', 'r', '--epoch', '1'])
    assert.equal(epochOnly.status, 2)
    assert.match(epochOnly.stderr, /--evidence/)
    const notAnId = run(['clear-quarantine', '--state', '/nonexistent', device, '--reason', 'r', '--evidence', 'abc'])
    assert.equal(notAnId.status, 2)
    assert.match(notAnId.stderr, /evidence id/)
  })

  it('new-epoch takes an epoch of 2 or more and the fork point as a size and a tree root', () => {
    for (const [args, why] of [
      [['--epoch', '1', '--fork-size', '2', '--fork-root', root], /at least 2/],
      [['--epoch', '2', '--fork-size', '-1', '--fork-root', root], /--fork-size/],
      [['--epoch', '2', '--fork-size', '2', '--fork-root', 'zz'], /--fork-root/]
    ] as const) {
      const result = run(['new-epoch', '--state', '/nonexistent', device, '--reason', 'r', ...args])
      assert.equal(result.status, 2, result.stderr)
      assert.match(result.stderr, why)
      assert.equal(result.stderr.trim().split('\n').length, 1, 'one line')
    }
  })
})
