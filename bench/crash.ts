/**
 * crash: kill -9 trials during appends (the child acknowledges each durable append on stdout);
 * after each, the store must hold every acknowledged entry with an intact chain.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Level } from 'level'
import { FeedLedger, BASE_ONTOLOGY, decodeEntry, entryHash } from '../src/ledger/index.js'
import { HybridSigner, softwareP256Signer, nodeMlDsa65 } from '../src/identity/index.js'
import type { Bench } from './types.js'

const TRIALS = 100
const fixture = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../test/ledger/fixtures/append-loop.js')

export const crashBench: Bench = {
  name: 'crash',
  description: `${TRIALS} kill -9 trials during appends: acknowledged-but-lost entries and corrupt stores`,
  async run (report) {
    const root = await mkdtemp(path.join(os.tmpdir(), 'fleet-bench-crash-'))
    let lost = 0
    let corrupt = 0
    let acknowledged = 0
    try {
      for (let trial = 0; trial < TRIALS; trial++) {
        const dir = path.join(root, String(trial))
        const child = spawn(process.execPath, [fixture, dir], { stdio: ['ignore', 'pipe', 'ignore'] })
        let output = ''
        child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
        await new Promise<void>((resolve) => { const check = setInterval(() => { if (output.includes('ready')) { clearInterval(check); resolve() } }, 5) })
        await new Promise((resolve) => setTimeout(resolve, 20 + Math.floor(Math.random() * 300)))
        child.kill('SIGKILL')
        await new Promise((resolve) => child.once('exit', resolve))
        const acked = output.split('\n').filter((line) => /^\d+$/.test(line)).map(Number)
        acknowledged += acked.length
        const db = new Level<string, Uint8Array>(dir, { valueEncoding: 'view' })
        const ledger = new FeedLedger({
          db, signer: new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(new Uint8Array(32).fill(5))), clock: { now: () => Date.now() },
          tpmClock: { readTpmClock: async () => ({ clock: BigInt(Date.now()), resetCount: 1, restartCount: 0 }) }, ontology: BASE_ONTOLOGY
        }, { fleetId: new Uint8Array(32).fill(1), feedId: 'a'.repeat(52) })
        try {
          await ledger.start()
          for (const seq of acked) if (seq >= ledger.size) lost++
          let prev: Uint8Array = new Uint8Array(32)
          for (let seq = 0; seq < ledger.size; seq++) {
            const bytes = await ledger.getEntry(seq)
            if (bytes === undefined || !Buffer.from(decodeEntry(bytes).entry.prev).equals(Buffer.from(prev))) { corrupt++; break }
            prev = entryHash(bytes)
          }
          await ledger.stop()
        } catch {
          corrupt++
        }
        await db.close()
        await rm(dir, { recursive: true, force: true })
      }
    } finally {
      await rm(root, { recursive: true, force: true })
    }
    report({ bench: 'crash', value: lost, unit: 'acknowledged entries lost', peer: 'goal', peerValue: 0, ratio: lost === 0 && corrupt === 0 ? 1 : 0, trials: TRIALS, lost, corrupt, acknowledged })
  }
}
