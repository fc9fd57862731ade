/** Log lines as operators filter them: level names, and syslog priorities for the journal. */
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { createLogger, stderrIsJournal } from '../../../src/agent/index.js'

function capture(journald: boolean): { lines: string[]; logger: ReturnType<typeof createLogger> } {
  const lines: string[] = []
  const logger = createLogger({
    level: 'debug',
    journald,
    destination: new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString())
        done()
      }
    })
  })
  return { lines, logger }
}

describe('agent/ops: logger', () => {
  it('writes level names, not pino numbers', () => {
    const { lines, logger } = capture(false)
    logger.warn({ peer: 'x' }, 'careful')
    logger.info('fine')
    assert.deepEqual(
      lines.map((line) => (JSON.parse(line) as { level: unknown }).level),
      ['warn', 'info']
    )
  })

  it('to the journal, prefixes each line with its syslog priority (journalctl -p filters on it)', () => {
    const { lines, logger } = capture(true)
    logger.error('broken')
    logger.warn('careful')
    logger.info('fine')
    logger.debug('detail')
    assert.deepEqual(
      lines.map((line) => line.slice(0, 3)),
      ['<3>', '<4>', '<6>', '<7>']
    )
    assert.equal((JSON.parse(lines[1]!.slice(3)) as { msg: string }).msg, 'careful')
  })

  it('takes stderr for the journal only when JOURNAL_STREAM names its device and inode', () => {
    assert.equal(stderrIsJournal({}), false)
    assert.equal(stderrIsJournal({ JOURNAL_STREAM: 'garbage' }), false)
    assert.equal(stderrIsJournal({ JOURNAL_STREAM: '1:1' }), false)
  })
})
