/** A logger whose lines a test reads back: each JSON line, parsed, in the order written. */
import { Writable } from 'node:stream'
import { createLogger, type Logger } from '../../src/agent/index.js'

export function capturingLogger(level = 'info'): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const logger = createLogger({
    level,
    destination: new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>)
        done()
      }
    })
  })
  return { logger, lines }
}
