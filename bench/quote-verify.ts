/**
 * quote-verify: quote verifications per second in one process, against tpm2_checkquote run once
 * per quote on the same quotes (what a verifier shelling out to tpm2-tools would do).
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import {
  EsysTpm,
  SwtpmDevice,
  parsePublic,
  publicToPem,
  serializePcrs,
  verifyQuote,
  type PcrSelection,
  type PcrValues
} from '../src/attest/index.js'
import { type Bench, nowMs, round } from './types.js'

const run = promisify(execFile)
const QUOTES = 40
const PEER_QUOTES = 40
const OURS_SECONDS = 3

export const quoteVerifyBench: Bench = {
  name: 'quote-verify',
  description: `verifications/s of ${QUOTES} swtpm quotes in process vs tpm2_checkquote per quote`,
  async run(report) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fleet-bench-qv-'))
    const device = new SwtpmDevice({ dir: path.join(dir, 'dev') })
    try {
      await device.start()
      const tpm = await EsysTpm.open({ tcti: device.tcti })
      const selection: PcrSelection = [{ hash: 'sha256', pcrs: [0, 1, 2, 3, 4, 5, 6, 7] }]
      const ak = await tpm.createKey('attestation')
      const akPublic = parsePublic(ak.public)
      const pcrs: PcrValues = await tpm.readPcrs(selection)
      const quotes: Array<{ attest: Uint8Array; signature: Uint8Array; nonce: Uint8Array }> = []
      for (let i = 0; i < QUOTES; i++) {
        const nonce = randomBytes(32)
        quotes.push({ ...(await tpm.quote(ak, nonce, selection)), nonce })
      }
      await tpm.close()

      // Ours: verify the set repeatedly for a fixed time, from the parsed AK public only.
      let count = 0
      const start = nowMs()
      while (nowMs() - start < OURS_SECONDS * 1000) {
        for (const q of quotes) {
          verifyQuote({ ak: akPublic, attest: q.attest, signature: q.signature, nonce: q.nonce, pcrs })
          count++
        }
      }
      const ours = count / ((nowMs() - start) / 1000)

      // Peer: tpm2_checkquote once per quote, same files and checks.
      await writeFile(path.join(dir, 'ak.pem'), publicToPem(akPublic))
      await writeFile(path.join(dir, 'quote.pcrs'), serializePcrs(selection, pcrs))
      const peerStart = nowMs()
      for (let i = 0; i < PEER_QUOTES; i++) {
        const q = quotes[i % quotes.length]!
        await writeFile(path.join(dir, 'quote.msg'), q.attest)
        await writeFile(path.join(dir, 'quote.sig'), q.signature)
        await run('tpm2_checkquote', [
          '-u',
          path.join(dir, 'ak.pem'),
          '-m',
          path.join(dir, 'quote.msg'),
          '-s',
          path.join(dir, 'quote.sig'),
          '-f',
          path.join(dir, 'quote.pcrs'),
          '-g',
          'sha256',
          '-q',
          Buffer.from(q.nonce).toString('hex')
        ])
      }
      const peer = PEER_QUOTES / ((nowMs() - peerStart) / 1000)
      report({
        bench: 'quote-verify',
        value: round(ours, 0),
        unit: 'verifications/s',
        peer: 'tpm2_checkquote (per quote)',
        peerValue: round(peer, 1),
        ratio: round(ours / peer, 1)
      })
    } finally {
      await device.stop()
      await rm(dir, { recursive: true, force: true })
    }
  }
}
