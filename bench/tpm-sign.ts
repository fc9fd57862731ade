/**
 * tpm-sign: p50/p99 latency of sign and quote through the native binding on swtpm, against
 * tpm2-tools doing the same operation per call (tpm2_sign / tpm2_quote with a loaded context).
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { EsysTpm, SwtpmDevice } from '../src/attest/index.js'
import { type Bench, nowMs, percentile, round } from './types.js'

const run = promisify(execFile)
const OURS = 300
const PEER = 30

export const tpmSignBench: Bench = {
  name: 'tpm-sign',
  description: `p50/p99 sign and quote latency through the addon on swtpm (${OURS} each) vs tpm2-tools per call`,
  async run(report) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fleet-bench-sign-'))
    const device = new SwtpmDevice({ dir: path.join(dir, 'dev') })
    try {
      await device.start()
      const tpm = await EsysTpm.open({ tcti: device.tcti })
      const signingKey = await tpm.createKey('signing')
      const ak = await tpm.createKey('attestation')
      const sign: number[] = []
      const quote: number[] = []
      await tpm.sign(signingKey, randomBytes(32))
      for (let i = 0; i < OURS; i++) {
        const t = nowMs()
        await tpm.sign(signingKey, randomBytes(32))
        sign.push(nowMs() - t)
      }
      await tpm.quote(ak, randomBytes(16), [{ hash: 'sha256', pcrs: [0, 1, 2, 3, 7] }])
      for (let i = 0; i < OURS; i++) {
        const t = nowMs()
        await tpm.quote(ak, randomBytes(16), [{ hash: 'sha256', pcrs: [0, 1, 2, 3, 7] }])
        quote.push(nowMs() - t)
      }
      await tpm.close()

      // Peer: tpm2-tools with keys made and loaded by tpm2-tools on the same device.
      const env = { ...process.env, TPM2TOOLS_TCTI: device.tcti }
      const file = (name: string): string => path.join(dir, name)
      // tpm2-tools leaves transient objects loaded and swtpm has three slots: flush after each step.
      const tool = async (command: string, args: string[]): Promise<void> => {
        await run(command, args, { env })
        await run('tpm2_flushcontext', ['-t'], { env })
      }
      await tool('tpm2_createprimary', ['-C', 'o', '-g', 'sha256', '-G', 'ecc256', '-c', file('primary.ctx')])
      await tool('tpm2_create', [
        '-C',
        file('primary.ctx'),
        '-G',
        'ecc256',
        '-u',
        file('key.pub'),
        '-r',
        file('key.priv')
      ])
      await tool('tpm2_load', [
        '-C',
        file('primary.ctx'),
        '-u',
        file('key.pub'),
        '-r',
        file('key.priv'),
        '-c',
        file('key.ctx')
      ])
      await tool('tpm2_create', [
        '-C',
        file('primary.ctx'),
        '-G',
        'ecc256:ecdsa-sha256:null',
        '-a',
        'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign',
        '-u',
        file('ak.pub'),
        '-r',
        file('ak.priv')
      ])
      await tool('tpm2_load', [
        '-C',
        file('primary.ctx'),
        '-u',
        file('ak.pub'),
        '-r',
        file('ak.priv'),
        '-c',
        file('ak.ctx')
      ])
      await writeFile(file('digest.bin'), randomBytes(32))
      const peerSign: number[] = []
      const peerQuote: number[] = []
      for (let i = 0; i < PEER; i++) {
        let t = nowMs()
        await run(
          'tpm2_sign',
          ['-c', file('key.ctx'), '-g', 'sha256', '-d', '-o', file('sig.out'), file('digest.bin')],
          { env }
        )
        peerSign.push(nowMs() - t)
        await run('tpm2_flushcontext', ['-t'], { env })
        t = nowMs()
        await run(
          'tpm2_quote',
          [
            '-c',
            file('ak.ctx'),
            '-l',
            'sha256:0,1,2,3,7',
            '-q',
            randomBytes(16).toString('hex'),
            '-m',
            file('q.msg'),
            '-s',
            file('q.sig')
          ],
          { env }
        )
        peerQuote.push(nowMs() - t)
        await run('tpm2_flushcontext', ['-t'], { env })
      }
      const line = (metric: string, ours: number[], peer: number[], p: number, peerName: string): void => {
        const a = percentile(
          [...ours].sort((x, y) => x - y),
          p
        )
        const b = percentile(
          [...peer].sort((x, y) => x - y),
          p
        )
        report({
          bench: 'tpm-sign',
          metric,
          value: round(a),
          unit: 'ms',
          peer: peerName,
          peerValue: round(b),
          ratio: round(b / a, 1),
          samples: ours.length
        })
      }
      line('sign-p50', sign, peerSign, 50, 'tpm2_sign (per call)')
      line('sign-p99', sign, peerSign, 99, 'tpm2_sign (per call)')
      line('quote-p50', quote, peerQuote, 50, 'tpm2_quote (per call)')
      line('quote-p99', quote, peerQuote, 99, 'tpm2_quote (per call)')
    } finally {
      await device.stop()
      await rm(dir, { recursive: true, force: true })
    }
  }
}
