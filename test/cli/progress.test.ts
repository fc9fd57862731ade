import assert from 'node:assert/strict'
import { makeProgress, makeWaiting } from '../../src/cli/output.js'

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

describe('cli/output waiting: the phase of a long wait and its seconds, on a terminal only', () => {
  function ticking(): { every: (tick: () => void) => () => void; tick: () => void; running: () => boolean } {
    let current: (() => void) | undefined
    return {
      every: (tick) => {
        current = tick
        return () => {
          current = undefined
        }
      },
      tick: () => current?.(),
      running: () => current !== undefined
    }
  }

  it('on a terminal: names the phase with its seconds, counts again for the next phase, and clears before the result', () => {
    let clock = 0
    const out = stream(true)
    const timer = ticking()
    const waiting = makeWaiting({ stream: out.stream, now: () => clock, every: timer.every })
    waiting.show('looking for a device')
    clock = 2_400
    timer.tick()
    waiting.show('attesting the device')
    clock = 3_500
    timer.tick()
    waiting.clear()
    waiting.clear()
    assert.equal(timer.running(), false, 'no timer is left running')
    assert.deepEqual(out.writes, [
      '\rlooking for a device (0 s)\x1b[K',
      '\rlooking for a device (2 s)\x1b[K',
      '\r\x1b[K',
      '\rattesting the device (0 s)\x1b[K',
      '\rattesting the device (1 s)\x1b[K',
      '\r\x1b[K'
    ])
  })

  it('piped (not a terminal): writes nothing and starts no timer', () => {
    const out = stream(false)
    const timer = ticking()
    const waiting = makeWaiting({ stream: out.stream, every: timer.every })
    waiting.show('looking for a device')
    assert.equal(timer.running(), false)
    waiting.clear()
    assert.deepEqual(out.writes, [])
  })
})

describe('cli/output: what a terminal is shown is plain text, and nothing with --json', () => {
  it('control characters in a label (a file name can hold escape sequences) are shown as ?', () => {
    const out = stream(true)
    const progress = makeProgress('verifying \x1b]0;owned\x07feed.jsonl', { stream: out.stream, now: () => 0 })
    progress.update(1)
    const waiting = makeWaiting({ stream: out.stream, now: () => 0, every: () => () => undefined })
    waiting.show('looking\x1b[2J')
    assert.deepEqual(out.writes, ['\rverifying ?]0;owned?feed.jsonl: 1\x1b[K', '\rlooking?[2J (0 s)\x1b[K'])
  })

  it('disabled (a command printing JSON), neither draws on a terminal', () => {
    const out = stream(true)
    const progress = makeProgress('verifying', { enabled: false, stream: out.stream, now: () => 0 })
    progress.update(1)
    progress.end()
    const waiting = makeWaiting({ enabled: false, stream: out.stream, every: () => () => undefined })
    waiting.show('looking')
    waiting.clear()
    assert.deepEqual(out.writes, [])
  })
})
