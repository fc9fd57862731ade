import assert from 'node:assert/strict'
import { makeProgress } from '../../src/cli/output.js'

/** A stand-in for stderr: what was written, and whether it is a terminal. */
function stream(isTTY: boolean): { writes: string[]; stream: NodeJS.WriteStream } {
  const writes: string[] = []
  return { writes, stream: { isTTY, write: (text: string) => writes.push(text) } as unknown as NodeJS.WriteStream }
}

describe('cli/output progress: a count on a terminal, nothing when piped', () => {
  it('on a terminal: rewrites one line, at most every 200 ms, and clears it at the end', () => {
    let clock = 0
    const out = stream(true)
    const progress = makeProgress('exporting', { stream: out.stream, now: () => clock })
    progress.update(1)
    clock = 100
    progress.update(2)
    clock = 250
    progress.update(3, 10)
    progress.end()
    assert.deepEqual(out.writes, ['\rexporting: 1\x1b[K', '\rexporting: 3 of 10\x1b[K', '\r\x1b[K'])
  })

  it('piped (not a terminal): writes nothing at all', () => {
    let clock = 0
    const out = stream(false)
    const progress = makeProgress('exporting', { stream: out.stream, now: () => clock })
    for (let i = 0; i < 10; i++) {
      clock += 1_000
      progress.update(i)
    }
    progress.end()
    assert.deepEqual(out.writes, [])
  })
})
