/**
 * crash: kill -9 trials during appends and during replication.
 *
 * - append: the child acknowledges each durable append on stdout; after the kill the store must
 *   hold every acknowledged entry with an intact chain.
 * - sync: the child copies an 8,000-entry feed into a replica store batch by batch and
 *   acknowledges each stored batch; after the kill the replica must hold at least what was
 *   acknowledged, byte for byte as the writer wrote it, its state must match its entries, and
 *   copying must resume from there to the end.
 *
 * One line per kind: {"bench":"crash","during":"append"|"sync","trials","lost","corrupt",…}.
 */
import { spawn } from 'node:child_process'
import { cp, mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  FeedLedger,
  BASE_ONTOLOGY,
  ReplicaStore,
  ownFeedSource,
  decodeEntry,
  entryHash,
  LevelLedgerStore,
  type LedgerStore
} from '../src/ledger/index.js'
import { HybridSigner, softwareP256Signer, nodeMlDsa65 } from '../src/identity/index.js'
import type { Bench } from './types.js'

const TRIALS = 100
const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../test/ledger/fixtures')
const FLEET = new Uint8Array(32).fill(1)
const FEED = 'a'.repeat(52)
const SOURCE_ENTRIES = 8_000
/** Trials run two at a time (one per core). */
const PARALLEL = 2

async function pool(count: number, run: (trial: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (next < count) await run(next++)
    })
  )
}

/** Runs a child, kills it with SIGKILL `afterMs` after it said ready; returns its acknowledgements. */
async function killed(args: string[], afterMs: number): Promise<number[]> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'ignore'] })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  await new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (output.includes('ready') || child.exitCode !== null) {
        clearInterval(check)
        resolve()
      }
    }, 5)
  })
  await new Promise((resolve) => setTimeout(resolve, afterMs))
  child.kill('SIGKILL')
  await exited
  return output
    .split('\n')
    .filter((line) => /^\d+$/.test(line))
    .map(Number)
}

function ledgerOn(store: LedgerStore, signer: HybridSigner, batchEntries?: number): FeedLedger {
  return new FeedLedger(
    {
      store,
      signer,
      clock: { now: () => Date.now() },
      tpmClock: { readTpmClock: async () => ({ clock: BigInt(Date.now()), resetCount: 1, restartCount: 0 }) },
      ontology: BASE_ONTOLOGY
    },
    { fleetId: FLEET, feedId: FEED, batchEntries }
  )
}

async function appendTrials(root: string): Promise<{ lost: number; corrupt: number; acknowledged: number }> {
  let lost = 0
  let corrupt = 0
  let acknowledged = 0
  await pool(TRIALS, async (trial) => {
    const dir = path.join(root, `append-${trial}`)
    const acked = await killed([path.join(FIXTURES, 'append-loop.js'), dir], 20 + Math.floor(Math.random() * 300))
    acknowledged += acked.length
    const store = new LevelLedgerStore(dir)
    const ledger = ledgerOn(
      store,
      new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(new Uint8Array(32).fill(5)))
    )
    try {
      await store.open()
      await ledger.start()
      for (const seq of acked) if (seq >= ledger.size) lost++
      let prev: Uint8Array = new Uint8Array(32)
      for (let seq = 0; seq < ledger.size; seq++) {
        const bytes = await ledger.getEntry(seq)
        if (bytes === undefined || !Buffer.from(decodeEntry(bytes).entry.prev).equals(Buffer.from(prev))) {
          corrupt++
          break
        }
        prev = entryHash(bytes)
      }
      await ledger.stop()
    } catch {
      corrupt++
    }
    await store.close()
    await rm(dir, { recursive: true, force: true })
  })
  return { lost, corrupt, acknowledged }
}

/** Kill -9 trials of a replica copying a feed (also run, fewer, by the test suite). */
export async function syncTrials(
  root: string,
  trials = TRIALS
): Promise<{ lost: number; corrupt: number; acknowledged: number; resumed: number }> {
  // The writer's store: checkpoints every 700 entries, so batch ends (2,000) often fall between them.
  const sourceDir = path.join(root, 'source')
  const signer = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(new Uint8Array(32).fill(6)))
  const sourceStore = new LevelLedgerStore(sourceDir)
  await sourceStore.open()
  const writer = ledgerOn(sourceStore, signer, 700)
  await writer.start()
  for (let i = 0; i < SOURCE_ENTRIES; i += 1000) {
    await Promise.all(
      Array.from(
        { length: 1000 },
        async (_, j) =>
          await writer.append({
            type: 'alert.tamper',
            actor: { id: 'crash-trial', role: 'agent' },
            attest: null,
            body: { subject: FEED, pcr: 7, detail: `r-${i + j}` }
          })
      )
    )
  }
  await writer.checkpoint()
  const written: Buffer[] = []
  for (let seq = 0; seq < SOURCE_ENTRIES; seq++) written.push(Buffer.from((await writer.getEntry(seq))!))
  await writer.stop()
  await sourceStore.close()
  const keyArgs = [
    Buffer.from(signer.publicKey.p256).toString('hex'),
    Buffer.from(signer.publicKey.mldsa65).toString('hex')
  ]
  const trust = { fleetId: FLEET, feedKey: signer.publicKey, ontology: BASE_ONTOLOGY }

  let lost = 0
  let corrupt = 0
  let acknowledged = 0
  let resumed = 0
  // Two children cannot open one LevelDB: each of the two lanes copies from its own copy of the source.
  const sources = [sourceDir, path.join(root, 'source-2')]
  await cp(sourceDir, sources[1]!, { recursive: true })
  const lanes = [...sources]
  await pool(trials, async (trial) => {
    const laneSource = lanes.pop()!
    try {
      await syncTrial(trial, laneSource)
    } finally {
      lanes.push(laneSource)
    }
  })
  return { lost, corrupt, acknowledged, resumed }

  async function syncTrial(trial: number, sourceDir: string): Promise<void> {
    const dir = path.join(root, `replica-${trial}`)
    const acked = await killed(
      [path.join(FIXTURES, 'sync-loop.js'), sourceDir, dir, FEED, ...keyArgs],
      10 + Math.floor(Math.random() * 1_200)
    )
    const last = acked.length === 0 ? 0 : Math.max(...acked)
    acknowledged += last
    const replica = new LevelLedgerStore(dir)
    const source = new LevelLedgerStore(sourceDir)
    try {
      await replica.open()
      await source.open()
      const store = new ReplicaStore(replica)
      const size = (await store.meta(FEED)).size
      if (size < last) lost += last - size
      let seq = 0
      for await (const bytes of store.entries(FEED))
        if (!written[seq++]?.equals(Buffer.from(bytes))) {
          corrupt++
          seq = -1
          break
        }
      if (seq !== -1 && seq !== size) corrupt++
      // Copying resumes where the crash left it.
      const from = ownFeedSource(source, FEED)
      for (
        let batch = await from.batch((await store.meta(FEED)).size);
        batch !== undefined;
        batch = await from.batch((await store.meta(FEED)).size)
      )
        await store.apply(batch, trust)
      if ((await store.meta(FEED)).size === SOURCE_ENTRIES) resumed++
    } catch {
      corrupt++
    }
    await replica.close()
    await source.close()
    await rm(dir, { recursive: true, force: true })
  }
}

export const crashBench: Bench = {
  name: 'crash',
  description: `${TRIALS} kill -9 trials during appends and ${TRIALS} during replication: acknowledged-but-lost entries and corrupt stores`,
  async run(report) {
    const root = await mkdtemp(path.join(os.tmpdir(), 'fleet-bench-crash-'))
    try {
      const append = await appendTrials(root)
      report({
        bench: 'crash',
        during: 'append',
        value: append.lost,
        unit: 'acknowledged entries lost',
        peer: 'goal',
        peerValue: 0,
        ratio: append.lost === 0 && append.corrupt === 0 ? 1 : 0,
        trials: TRIALS,
        lost: append.lost,
        corrupt: append.corrupt,
        acknowledged: append.acknowledged
      })
      const sync = await syncTrials(root)
      report({
        bench: 'crash',
        during: 'sync',
        value: sync.lost,
        unit: 'acknowledged replicated entries lost',
        peer: 'goal',
        peerValue: 0,
        ratio: sync.lost === 0 && sync.corrupt === 0 && sync.resumed === TRIALS ? 1 : 0,
        trials: TRIALS,
        lost: sync.lost,
        corrupt: sync.corrupt,
        acknowledged: sync.acknowledged,
        resumed: sync.resumed
      })
    } finally {
      await rm(root, { recursive: true, force: true })
    }
  }
}
