/**
 * ledger-append: durable appends/s of entries with 256-byte bodies, group-committed to LevelDB with
 * sync, hybrid-signed (P-256 + ML-DSA-65) checkpoints every 250 ms; against hypercore appending
 * the same 256-byte payloads in the same run, in batches (one signature per batch). Both sides
 * issue waves of WAVE appends and wait for each wave to be acknowledged; ours acknowledges only
 * after the LevelDB batch is written with sync.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import Hypercore from 'hypercore'
import { FeedLedger, BASE_ONTOLOGY, LevelLedgerStore, nodeCryptoHasher } from '../src/ledger/index.js'
import { nativeHasher } from '../src/attest/index.js'
import { HybridSigner, softwareP256Signer, nodeMlDsa65 } from '../src/identity/index.js'
import { type Bench, nowMs, round } from './types.js'

const SECONDS = 5
const WAVE = 2000

export const ledgerAppendBench: Bench = {
  name: 'ledger-append',
  description: `durable appends/s (256-byte bodies, signed checkpoints every 250 ms) for ${SECONDS} s vs hypercore`,
  async run(report) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fleet-bench-ledger-'))
    try {
      // 256 bytes of text in the body (52 + 204), as in the hypercore payloads.
      const body = { subject: 'a'.repeat(52), pcr: 7, detail: 'd'.repeat(204) }
      const store = new LevelLedgerStore(path.join(dir, 'ledger'))
      await store.open()
      const ledger = new FeedLedger(
        {
          store,
          signer: new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(new Uint8Array(32).fill(9))),
          clock: { now: () => Date.now() },
          tpmClock: { readTpmClock: async () => ({ clock: BigInt(Date.now()), resetCount: 1, restartCount: 0 }) },
          ontology: BASE_ONTOLOGY,
          // As the agent composes it (src/agent/service.ts); FLEET_BENCH_HASHER=node-crypto for the default.
          hasher: process.env.FLEET_BENCH_HASHER === 'node-crypto' ? nodeCryptoHasher : nativeHasher()
        },
        { fleetId: new Uint8Array(32).fill(1), feedId: 'a'.repeat(52), batchMs: 250 }
      )
      await ledger.start()
      let count = 0
      const start = nowMs()
      while (nowMs() - start < SECONDS * 1000) {
        await Promise.all(
          Array.from({ length: WAVE }, () =>
            ledger.append({
              type: 'alert.tamper',
              actor: { id: 'bench', role: 'agent' },
              attest: null,
              body
            })
          )
        )
        count += WAVE
      }
      const ours = count / ((nowMs() - start) / 1000)
      await ledger.whenSealed(count - 1)
      const sealed = ledger.sealedSize >= count
      await ledger.stop()
      await store.close()

      const core = new Hypercore(path.join(dir, 'hypercore'))
      await core.ready()
      const payload = Buffer.alloc(256, 0x61)
      let peerCount = 0
      const peerStart = nowMs()
      while (nowMs() - peerStart < SECONDS * 1000) {
        await core.append(Array.from({ length: WAVE }, () => payload))
        peerCount += WAVE
      }
      const peer = peerCount / ((nowMs() - peerStart) / 1000)
      await core.close()
      report({
        bench: 'ledger-append',
        value: round(ours, 0),
        unit: 'appends/s',
        peer: `hypercore (batches of ${WAVE}, one signature each)`,
        peerValue: round(peer, 0),
        ratio: round(ours / peer, 2),
        entries: count,
        sealed
      })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }
}
