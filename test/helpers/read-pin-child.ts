/**
 * Runs readPin in a process of its own, for the tests that need a terminal (a pty made by
 * `script`) or none (`setsid`). Usage: node read-pin-child.js SOURCE_JSON OUT_FILE; writes
 * { pin } or { error: name, reason } as JSON to OUT_FILE, since stdout may be the terminal.
 */
import { writeFileSync } from 'node:fs'
import { readPin, type PinSource } from '../../src/pkcs11/index.js'

const [source, out] = process.argv.slice(2)
try {
  const pin = await readPin(JSON.parse(source!) as PinSource)
  writeFileSync(out!, JSON.stringify({ pin }))
} catch (err) {
  writeFileSync(out!, JSON.stringify({ error: (err as Error).name, reason: (err as { reason?: string }).reason }))
}
