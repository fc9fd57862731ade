/**
 * handshake: a new connection between two enrolled agents, each on its own swtpm, over loopback:
 * TCP + Noise + Yamux, then mutual attestation (/fleet/attest/1: two quotes with event logs,
 * each judged against the boot policy), until both sides trust each other. p50/p99 over N
 * handshakes. Peer, in the same run: the same two quote-and-check exchanges done with
 * tpm2-tools (tpm2_quote + tpm2_checkquote for each side), without any networking.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { promisify } from 'node:util'
import { SwtpmDevice } from '../src/attest/index.js'
import { SimFleet, type SimDevice } from '../simnet/index.js'
import { type Bench, nowMs, percentile, round } from './types.js'

const run = promisify(execFile)
const HANDSHAKES = 60
const PEER_HANDSHAKES = 8

export const handshakeBench: Bench = {
  name: 'handshake',
  description: `p50/p99 of connect + Noise + mutual attestation between two swtpm agents (${HANDSHAKES}) vs tpm2-tools quote+checkquote both ways`,
  async run(report) {
    const fleet = await SimFleet.create()
    try {
      const [da, db] = (await fleet.addEnrolled(2)) as [SimDevice, SimDevice]
      const a = await fleet.start(da, { attestIntervalMs: 3_600_000, syncIntervalMs: 3_600_000 })
      const b = await fleet.start(db, { attestIntervalMs: 3_600_000, syncIntervalMs: 3_600_000 })
      const aId = a.node.peerId.toString()
      const bId = b.node.peerId.toString()
      const times: number[] = []
      for (let i = 0; i < HANDSHAKES + 3; i++) {
        const start = nowMs()
        await a.node.dial(b.node.getMultiaddrs()[0]!)
        while (!(a.attestation.attested(bId) && b.attestation.attested(aId))) {
          if (nowMs() - start > 10_000) throw new Error('a handshake did not complete in 10 s')
          await new Promise((resolve) => setImmediate(resolve))
        }
        if (i >= 3) times.push(nowMs() - start)
        await a.node.hangUp(b.node.peerId)
        while (b.node.getConnections(a.node.peerId).length > 0) await new Promise((resolve) => setTimeout(resolve, 1))
      }
      times.sort((x, y) => x - y)

      // Peer: each side quotes the other's nonce with tpm2_quote and the other checks it with tpm2_checkquote.
      const pcrList = `sha256:${fleet.policy.pcrs.join(',')}`
      // The agents' TPMs hold their own objects, so the tools get a software TPM of their own (one
      // quote per side on it: the same TPM work as two devices).
      const toolsTpm = new SwtpmDevice({ dir: path.join(fleet.root, 'tools'), caDir: fleet.caDir })
      await toolsTpm.start()
      const tools = async (_device: unknown, tool: string, args: string[]): Promise<void> => {
        const env = { ...process.env, TPM2TOOLS_TCTI: toolsTpm.tcti }
        await run(tool, args, { env })
        await run('tpm2_flushcontext', ['-t'], { env })
      }
      for (const device of [da, db]) {
        const f = (name: string): string => path.join(device.dir, name)
        await tools(device, 'tpm2_createak', [
          '-C',
          '0x81010001',
          '-c',
          f('ak.ctx'),
          '-G',
          'ecc',
          '-g',
          'sha256',
          '-s',
          'ecdsa',
          '-u',
          f('ak.pub'),
          '-f',
          'pem',
          '-n',
          f('ak.name')
        ])
      }
      const peerTimes: number[] = []
      for (let i = 0; i < PEER_HANDSHAKES; i++) {
        const start = nowMs()
        for (const device of [da, db]) {
          const f = (name: string): string => path.join(device.dir, name)
          const nonce = randomBytes(32).toString('hex')
          await tools(device, 'tpm2_quote', [
            '-c',
            f('ak.ctx'),
            '-l',
            pcrList,
            '-q',
            nonce,
            '-m',
            f('q.msg'),
            '-s',
            f('q.sig'),
            '-o',
            f('q.pcrs'),
            '-g',
            'sha256'
          ])
          await run('tpm2_checkquote', [
            '-u',
            f('ak.pub'),
            '-m',
            f('q.msg'),
            '-s',
            f('q.sig'),
            '-f',
            f('q.pcrs'),
            '-g',
            'sha256',
            '-q',
            nonce
          ])
        }
        peerTimes.push(nowMs() - start)
      }
      peerTimes.sort((x, y) => x - y)
      await toolsTpm.stop()
      const p50 = percentile(times, 50)
      const peerP50 = percentile(peerTimes, 50)
      report({
        bench: 'handshake',
        metric: 'p50',
        value: round(p50, 1),
        unit: 'ms',
        peer: 'tpm2-tools quote exchange both ways (no network)',
        peerValue: round(peerP50, 1),
        ratio: round(peerP50 / p50, 2),
        handshakes: times.length,
        goal: '<= 50 ms'
      })
      report({
        bench: 'handshake',
        metric: 'p99',
        value: round(percentile(times, 99), 1),
        unit: 'ms',
        peer: 'tpm2-tools quote exchange both ways (no network)',
        peerValue: round(percentile(peerTimes, 99), 1),
        ratio: round(percentile(peerTimes, 99) / percentile(times, 99), 2),
        handshakes: times.length
      })
    } finally {
      await fleet.close()
    }
  }
}
