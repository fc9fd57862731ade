import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { Level } from 'level'
import { HybridSigner, softwareP256Signer, nodeMlDsa65 } from '../../src/identity/index.js'
import {
  FeedLedger,
  BASE_ONTOLOGY,
  decodeEntry,
  encodeEntry,
  entryHash,
  leafHash,
  MerkleFrontier,
  parseCheckpoint,
  verifyCheckpoint,
  verifyStoredFeed,
  decodeRun,
  LevelLedgerStore,
  feedSublevels,
  type TpmClockSource,
  type LedgerStore,
  type LedgerSublevel
} from '../../src/ledger/index.js'
import { encodeCanonical } from '../../src/codec/index.js'
import { actorDirectory, makeActor } from '../helpers/signing-actor.js'
import { tempDir } from '../helpers/devices.js'
import { EventLog } from '../helpers/events.js'
import { printed } from '../../simnet/printed.js'
import { asVersion1 } from './checkpoint-v1.js'
import { TpmClosedError } from '../../src/attest/index.js'

const feed = 'a'.repeat(52)
const signer = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32)))
const clock = { now: () => 1_795_000_000_000 }
const tpmNow = { clock: 1000n, resetCount: 3, restartCount: 0 }
const tpmClock: TpmClockSource = { readTpmClock: async () => tpmNow }

async function open(
  dir: string,
  options: { tpm?: TpmClockSource; routineBatchMs?: number; clock?: { now: () => number } } = {}
): Promise<{ store: LedgerStore; ledger: FeedLedger }> {
  const store = new LevelLedgerStore(dir)
  await store.open()
  const ledger = new FeedLedger(
    { store, signer, clock: options.clock ?? clock, tpmClock: options.tpm ?? tpmClock, ontology: BASE_ONTOLOGY },
    { fleetId: new Uint8Array(32).fill(1), feedId: feed, batchMs: 20, routineBatchMs: options.routineBatchMs }
  )
  return { store, ledger }
}

/** The seqs the crash-trial child printed, one a line (a line it is still printing may be cut short). */
const acknowledgedIn = (output: string): number[] =>
  output
    .split('\n')
    .filter((line) => /^\d+$/.test(line))
    .map(Number)

const action = (i: number): Parameters<FeedLedger['append']>[0] => ({
  type: 'alert.tamper',
  actor: { id: `agent/${feed}`, role: 'agent' },
  attest: null,
  body: { subject: feed, pcr: 7, detail: `record-${i}` }
})

describe('ledger/FeedLedger on LevelDB', function () {
  this.timeout(120_000)

  it('group-commits concurrent appends, seals them in a signed checkpoint, and the chain and tree check out', async () => {
    const { store, ledger } = await open(path.join(await tempDir(), 'db'))
    await ledger.start()
    const acks = await Promise.all(Array.from({ length: 1000 }, async (_, i) => await ledger.append(action(i))))
    assert.deepEqual(
      acks.map((a) => a.seq),
      Array.from({ length: 1000 }, (_, i) => i)
    )
    await ledger.whenSealed(999)
    let tree = new MerkleFrontier()
    let prev: Uint8Array = new Uint8Array(32)
    for (let seq = 0; seq < 1000; seq++) {
      const bytes = (await ledger.getEntry(seq))!
      const { entry } = decodeEntry(bytes)
      assert.equal(entry.seq, seq)
      assert.deepEqual(Buffer.from(entry.prev), Buffer.from(prev))
      prev = entryHash(bytes)
      tree = tree.append(leafHash(bytes))
    }
    const checkpoint = verifyCheckpoint(parseCheckpoint((await ledger.latestCheckpoint())!), {
      name: feed,
      key: signer.publicKey
    })
    assert.equal(checkpoint.body.size, 1000)
    assert.deepEqual(Buffer.from(checkpoint.body.root), Buffer.from(tree.root()))
    await ledger.stop()
    await store.close()
  })

  it('stores every entry exactly as the generic canonical encoding, one at a time and in batches', async () => {
    const { store, ledger } = await open(path.join(await tempDir(), 'db'))
    await ledger.start()
    const resources = [
      'r',
      'é'.repeat(100),
      '😀'.repeat(64),
      'x'.repeat(23),
      'x'.repeat(24),
      'y'.repeat(256),
      '中文/记录',
      '\ud800 lone'
    ]
    const numbers = [0, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER]
    // Every other entry holds a string of its own, the others an integer of each width.
    const varied = (i: number): Parameters<FeedLedger['append']>[0] => {
      const k = i >> 1
      const body: Record<string, unknown> =
        i % 2 === 0
          ? { subject: feed, pcr: k % 24, detail: resources[k % resources.length]! }
          : { feed, epoch: numbers[k % numbers.length]!, evidence: new TextEncoder().encode(`p${i}`) }
      return {
        type: i % 2 === 0 ? 'alert.tamper' : 'alert.equivocation',
        actor: { id: `agent-${'ü'.repeat(i % 5)}`, role: 'agent' },
        attest: i % 3 === 0 ? null : new Uint8Array(32).fill(i),
        body
      }
    }
    // One at a time: each append is queued right after the previous one resolves.
    const acks = []
    for (let i = 0; i < 5; i++) acks.push(await ledger.append(varied(i)))
    acks.push(...(await Promise.all(Array.from({ length: 300 }, async (_, i) => await ledger.append(varied(5 + i))))))
    for (let seq = 0; seq < acks.length; seq++) {
      const bytes = (await ledger.getEntry(seq))!
      const { entry } = decodeEntry(bytes)
      assert.deepEqual(Buffer.from(bytes), Buffer.from(encodeCanonical(entry)), `entry ${seq}`)
      assert.deepEqual(Buffer.from(bytes), Buffer.from(encodeEntry(entry)), `entry ${seq}`)
      assert.deepEqual(Buffer.from(acks[seq]!.hash), Buffer.from(entryHash(bytes)))
      assert.equal(acks[seq]!.seq, seq)
    }
    await ledger.stop()
    await store.close()
  })

  it('a failed write rejects only its own appends: the batches staged after it are written in its place, and the chain holds', async () => {
    const dir = path.join(await tempDir(), 'db')
    const { store, ledger } = await open(dir)
    await ledger.start()
    await ledger.append(action(0))
    // The next write fails, as on a full disk.
    let failures = 1
    const batch = store.batch.bind(store)
    store.batch = () => {
      const chained = batch()
      if (failures > 0) {
        failures--
        chained.write = async () => {
          throw new Error('no space left on device')
        }
      }
      return chained
    }
    const results = await Promise.allSettled(
      Array.from({ length: 1500 }, async (_, i) => await ledger.append(action(1 + i)))
    )
    const failed = results.findIndex((r) => r.status === 'fulfilled')
    assert.ok(failed > 0 && failed < results.length, `${failed} appends failed`)
    for (const result of results.slice(0, failed))
      assert.equal(result.status === 'rejected' && (result.reason as Error).name, 'LedgerWriteError')
    const acks = results.slice(failed).map((r) => (r.status === 'fulfilled' ? r.value.seq : -1))
    assert.deepEqual(
      acks,
      Array.from({ length: results.length - failed }, (_, i) => 1 + i)
    )
    await ledger.stop()
    await store.close()
    const reopened = await open(dir)
    await reopened.ledger.start()
    assert.equal(reopened.ledger.size, 1 + results.length - failed)
    let prev: Uint8Array = new Uint8Array(32)
    for (let seq = 0; seq < reopened.ledger.size; seq++) {
      const bytes = (await reopened.ledger.getEntry(seq))!
      const { entry } = decodeEntry(bytes)
      assert.equal(entry.seq, seq)
      assert.deepEqual(Buffer.from(entry.prev), Buffer.from(prev), `chain at ${seq}`)
      prev = entryHash(bytes)
    }
    assert.equal(await reopened.ledger.getEntry(reopened.ledger.size), undefined)
    await reopened.ledger.stop()
    const report = await verifyStoredFeed(reopened.store, {
      fleetId: new Uint8Array(32).fill(1),
      feedId: feed,
      key: signer.publicKey,
      ontology: BASE_ONTOLOGY
    })
    assert.equal(report.entries, 1 + results.length - failed)
    await reopened.store.close()
  })

  it('seals routine entries within routineBatchMs, and at once with an entry that is not routine or for a caller of whenSealed', async () => {
    // The ledger's clock is set by the test: routine entries become due when it says so, not when wall time passes.
    // Its timer reads that clock each batch interval while routine entries wait, and a checkpoint begins by reading
    // the TPM's clock: both readings are kept, in order.
    const clockReads = new EventLog<number>()
    const manual = {
      at: 1_795_000_000_000,
      now(): number {
        clockReads.record(this.at)
        return this.at
      }
    }
    const checkpoints = new EventLog<true>()
    const tpm: TpmClockSource = {
      readTpmClock: async () => {
        checkpoints.record(true)
        return tpmNow
      }
    }
    const { store, ledger } = await open(path.join(await tempDir(), 'db'), { routineBatchMs: 1500, clock: manual, tpm })
    await ledger.start()
    // Routine entries wait: at 1,499 ms after the first, the timer looks at the clock and starts no checkpoint
    // (it would have started it in the same turn)…
    await ledger.append(action(0), { routine: true })
    await ledger.append(action(1), { routine: true })
    manual.at += 1499
    const begun = checkpoints.mark
    const read = await clockReads.next(() => true, "the ledger's timer to read the clock", { ms: 10_000 })
    assert.deepEqual(read, [manual.at])
    assert.equal(checkpoints.mark, begun)
    assert.equal(ledger.sealedSize, 0)
    assert.equal(await ledger.latestCheckpoint(), undefined)
    // …and at routineBatchMs after the first of them, the timer seals them.
    manual.at += 1
    await checkpoints.next(() => true, 'a checkpoint of the routine entries once due', { from: begun, ms: 10_000 })
    await ledger.checkpoint()
    assert.equal(checkpoints.mark, begun + 1, 'the routine entries were not sealed by the timer')
    assert.equal(ledger.sealedSize, 2)
    assert.equal(parseCheckpoint((await ledger.latestCheckpoint())!).body.size, 2)

    // An entry that is not routine is sealed without the clock moving, with the routine ones before it.
    const next = checkpoints.mark
    await ledger.append(action(2), { routine: true })
    await ledger.append(action(3))
    await checkpoints.next(() => true, 'a non-routine entry sealed at the next batch', { from: next, ms: 10_000 })
    await ledger.checkpoint()
    assert.equal(checkpoints.mark, next + 1, 'the non-routine entry was not sealed by the timer')
    assert.equal(ledger.sealedSize, 4)

    // A caller waiting for a routine entry to be sealed does not wait routineBatchMs (the clock stands still).
    const { seq } = await ledger.append(action(4), { routine: true })
    await ledger.whenSealed(seq)
    assert.equal(ledger.sealedSize, 5)
    await ledger.stop()
    await store.close()
  })

  it('resumes after a restart where it left off', async () => {
    const dir = path.join(await tempDir(), 'db')
    let { store, ledger } = await open(dir)
    await ledger.start()
    const last = await ledger.append(action(0))
    await ledger.stop()
    await store.close()
    ;({ store, ledger } = await open(dir))
    await ledger.start()
    const next = await ledger.append(action(1))
    assert.equal(next.seq, 1)
    assert.deepEqual(Buffer.from(decodeEntry((await ledger.getEntry(1))!).entry.prev), Buffer.from(last.hash))
    await ledger.stop()
    await store.close()
  })

  it('refuses actions the ontology does not allow, and stores nothing for them', async () => {
    const { store, ledger } = await open(path.join(await tempDir(), 'db'))
    await ledger.start()
    await assert.rejects(ledger.append({ ...action(0), actor: { id: 'x', role: 'owner' } }), { name: 'ActorRoleError' })
    await assert.rejects(ledger.append({ ...action(0), type: 'alert.exfiltrate' }), { name: 'UnknownActionError' })
    await assert.rejects(ledger.append({ ...action(0), body: { subject: feed } }), { name: 'BodySchemaError' })
    assert.equal(ledger.size, 0)
    assert.equal(await ledger.getEntry(0), undefined)
    await ledger.stop()
    await store.close()
  })

  it("refuses an operator's action without its actor's proof, with enrolled actors or without any to check one", async () => {
    const { store, ledger } = await open(path.join(await tempDir(), 'db'))
    await ledger.start()
    const alice = makeActor('alice')
    const fleet = new Uint8Array(32).fill(1)
    const access = { type: 'operator.data_access', attest: null, body: { resource: 'patients/42', purpose: 'care' } }
    const signed = await alice.signed(access, { fleet, device: feed }, clock.now())
    // Without the actor's signature the action is refused; with it, only where enrolled actors can check it.
    const unsigned = { ...access, actor: alice.actor }
    await assert.rejects(ledger.append(unsigned), { name: 'MissingActorProofError', actorId: 'alice' })
    await assert.rejects(ledger.append(signed), { name: 'ActorProofUncheckedError', actorId: 'alice' })
    ledger.useActors(actorDirectory(fleet, [alice], clock.now()))
    await assert.rejects(ledger.append(unsigned), { name: 'MissingActorProofError', actorId: 'alice' })
    // Only operators and auditors sign their actions: an agent's action carries no proof.
    await assert.rejects(ledger.append({ ...action(0), proof: signed.proof }), {
      name: 'UnexpectedActorProofError',
      role: 'agent'
    })
    assert.equal(ledger.size, 0)
    assert.equal(await ledger.getEntry(0), undefined)
    // With the proof its enrolled key made, it is appended as a version-2 entry.
    assert.equal((await ledger.append(signed)).seq, 0)
    assert.deepEqual(decodeEntry((await ledger.getEntry(0))!).entry.proof, signed.proof)
    await ledger.stop()
    await store.close()
  })

  it('detects rollback: TPM counters going back, or a signed checkpoint ahead of the store', async () => {
    const dir = path.join(await tempDir(), 'db')
    let { store, ledger } = await open(dir)
    await ledger.start()
    await ledger.append(action(0))
    await ledger.checkpoint()
    await ledger.stop()
    await store.close()
    const earlier = { readTpmClock: async () => ({ clock: 999n, resetCount: 2, restartCount: 0 }) }
    ;({ store, ledger } = await open(dir, { tpm: earlier }))
    await assert.rejects(ledger.start(), { name: 'RollbackDetectedError' })
    await store.close()
    // A store older than the checkpoint its device signed (e.g. an older copy of the entries),
    // written with LevelDB's own sublevels: the layout LevelLedgerStore reads.
    const raw = new Level<string, Uint8Array>(dir, { valueEncoding: 'view' })
    await raw
      .sublevel<string, Uint8Array>('meta', { valueEncoding: 'view' })
      .put('checkpoint', encodeCanonical({ size: 50, tpm: ['1000', 3, 0], epoch: 1 }))
    await raw.close()
    ;({ store, ledger } = await open(dir))
    await assert.rejects(ledger.start(), { name: 'RollbackDetectedError' })
    await store.close()
  })

  it('kill -9 during appends loses no acknowledged entry (20 trials)', async () => {
    const fixture = path.resolve('dist/test/ledger/fixtures/append-loop.js')
    let acknowledged = 0
    for (let trial = 0; trial < 20; trial++) {
      const dir = path.join(await tempDir(), `crash-${trial}`)
      const child = spawn(process.execPath, [fixture, dir], { stdio: ['ignore', 'pipe', 'inherit'] })
      let output = ''
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString()
      })
      // Killed at a random point of its appends: once it has acknowledged a random number of them.
      const kill = Math.floor(Math.random() * 2_000)
      await printed(child, (seen) => seen.startsWith('ready\n') && acknowledgedIn(seen).length >= kill, 60_000)
      child.kill('SIGKILL')
      await new Promise((resolve) => child.once('exit', resolve))
      const acked = acknowledgedIn(output)
      const highest = acked.length === 0 ? -1 : Math.max(...acked)
      acknowledged += acked.length
      const { store, ledger } = await open(dir)
      await ledger.start()
      assert.ok(ledger.size > highest, `trial ${trial}: acknowledged up to ${highest}, store holds ${ledger.size}`)
      let prev: Uint8Array = new Uint8Array(32)
      for (let seq = 0; seq < ledger.size; seq++) {
        const bytes = await ledger.getEntry(seq)
        assert.ok(bytes !== undefined, `trial ${trial}: entry ${seq} missing`)
        assert.deepEqual(
          Buffer.from(decodeEntry(bytes).entry.prev),
          Buffer.from(prev),
          `trial ${trial}: chain broken at ${seq}`
        )
        prev = entryHash(bytes)
      }
      await ledger.stop()
      await store.close()
    }
    assert.ok(acknowledged > 0, 'the trials acknowledged nothing: the test proved nothing')
  })
})

describe('ledger/verifyStoredFeed: offline re-verification for auditors', function () {
  this.timeout(60_000)

  it('verifies an intact store, and detects a flipped byte in every run header, at the start, middle and end of every stored entry, and in every checkpoint', async () => {
    const dir = path.join(await tempDir(), 'db')
    const { store, ledger } = await open(dir)
    await ledger.start()
    // 40 concurrent appends share runs; 20 one at a time are stored one entry per key.
    await Promise.all(Array.from({ length: 40 }, async (_, i) => await ledger.append(action(i))))
    await ledger.checkpoint()
    for (let i = 40; i < 60; i++) await ledger.append(action(i))
    await ledger.stop()
    const feedInfo = {
      fleetId: new Uint8Array(32).fill(1),
      feedId: feed,
      key: signer.publicKey,
      ontology: BASE_ONTOLOGY
    }
    const report = await verifyStoredFeed(store, feedInfo)
    assert.equal(report.entries, 60)
    assert.ok(report.checkpoints >= 2)

    const { entries, checkpoints } = feedSublevels(store)
    const put = async (sublevel: LedgerSublevel, key: string, value: Uint8Array): Promise<void> => {
      await store.write([{ type: 'put', sublevel, key, value }], { sync: false })
    }
    const del = async (sublevel: LedgerSublevel, key: string): Promise<void> => {
      await store.write([{ type: 'del', sublevel, key }], { sync: false })
    }
    const runs: Array<[string, Uint8Array]> = []
    for await (const pair of entries.iterator()) runs.push(pair)
    assert.ok(
      runs.some(([key, value]) => decodeRun(key, value).length > 1),
      'no run holds more than one entry'
    )
    assert.ok(
      runs.some(([key, value]) => decodeRun(key, value).length === 1),
      'no entry is stored alone'
    )

    const flip = async (sublevel: LedgerSublevel, key: string, value: Uint8Array, at: number): Promise<void> => {
      const changed = new Uint8Array(value)
      changed[at]! ^= 0x01
      await put(sublevel, key, changed)
      await assert.rejects(verifyStoredFeed(store, feedInfo), { name: 'FeedVerificationError' }, `${key} byte ${at}`)
      await put(sublevel, key, value)
    }
    let flips = 0
    for (const [key, value] of runs) {
      const parts = decodeRun(key, value)
      // The run header: marker, count and the first and last length.
      const header = parts.length > 1 ? [0, 4, 8, 4 + 4 * parts.length] : []
      const offsets = parts.flatMap((part) =>
        [0, Math.floor(part.length / 2), part.length - 1].map((at) => part.byteOffset - value.byteOffset + at)
      )
      for (const at of [...header, ...offsets]) {
        await flip(entries, key, value, at)
        flips++
      }
    }
    for await (const [key, value] of checkpoints.iterator()) {
      for (const at of [0, Math.floor(value.length / 2), value.length - 1]) {
        await flip(checkpoints, key, value, at)
        flips++
      }
    }
    assert.ok(flips >= 186)
    // A removed run, a run under another key, or a checkpoint signed by another key is detected too.
    const holding5 = runs.find(
      ([key, value]) => Number.parseInt(key, 16) >= 5 && Number.parseInt(key, 16) - decodeRun(key, value).length < 5
    )!
    await del(entries, holding5[0])
    await assert.rejects(verifyStoredFeed(store, feedInfo), {
      name: 'FeedVerificationError',
      message: /out of sequence/
    })
    await put(entries, holding5[0], holding5[1])
    await put(entries, '00000000000003e8', holding5[1])
    await assert.rejects(verifyStoredFeed(store, feedInfo), {
      name: 'FeedVerificationError',
      message: /out of sequence/
    })
    await del(entries, '00000000000003e8')
    const impostor = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32)))
    await assert.rejects(verifyStoredFeed(store, { ...feedInfo, key: impostor.publicKey }), {
      name: 'FeedVerificationError'
    })
    await verifyStoredFeed(store, feedInfo)
    await store.close()
  })
})

describe('ledger/FeedLedger: a store written in an older checkpoint format', function () {
  this.timeout(60_000)

  it('a state directory holding format-1 checkpoints is refused at start and by verifyStoredFeed with CheckpointVersionError naming version 1', async () => {
    const dir = path.join(await tempDir(), 'db')
    const { store, ledger } = await open(dir)
    await ledger.start()
    for (let i = 0; i < 3; i++) await ledger.append(action(i))
    await ledger.checkpoint()
    await ledger.stop()
    // Rewrite every stored note as version 1 wrote it (same signatures, 0x81/0x82 key IDs).
    const { checkpoints } = feedSublevels(store)
    for await (const [key, value] of checkpoints.iterator()) {
      const note = new Uint8Array(Buffer.from(asVersion1(Buffer.from(value).toString('utf8'), feed, signer.publicKey)))
      await store.write([{ type: 'put', sublevel: checkpoints, key, value: note }], { sync: false })
    }
    const feedInfo = {
      fleetId: new Uint8Array(32).fill(1),
      feedId: feed,
      key: signer.publicKey,
      ontology: BASE_ONTOLOGY
    }
    await assert.rejects(verifyStoredFeed(store, feedInfo), {
      name: 'FeedVerificationError',
      message: /checkpoint format version 1/
    })
    await store.close()
    const reopened = await open(dir)
    await assert.rejects(reopened.ledger.start(), (err: Error & { version: number }) => {
      assert.equal(err.name, 'CheckpointVersionError')
      assert.equal(err.version, 1)
      assert.match(err.message, /format version 1, which is no longer read .*version 2/)
      return true
    })
    await reopened.store.close()
  })
})

describe('ledger/FeedLedger.whenSealed', () => {
  it('can be cancelled through its AbortSignal', async () => {
    const { store, ledger } = await open(path.join(await tempDir(), 'db'))
    await ledger.start()
    await ledger.append(action(0))
    const controller = new AbortController()
    const waiting = ledger.whenSealed(1_000, { signal: controller.signal })
    controller.abort()
    await assert.rejects(waiting, { name: 'AbortedError' })
    await ledger.stop()
    await store.close()
  })

  it('rejects with the typed error when the checkpoint that was to seal the entry could not be signed (a lost TPM); a later checkpoint seals it', async () => {
    let tpmGone = true
    const failing: TpmClockSource = {
      readTpmClock: async () => {
        if (tpmGone) throw new TpmClosedError('swtpm:path=/gone')
        return tpmNow
      }
    }
    const { store, ledger } = await open(path.join(await tempDir(), 'db'), { tpm: failing })
    await ledger.start()
    const { seq } = await ledger.append(action(0))
    await assert.rejects(ledger.whenSealed(seq), { name: 'TpmClosedError', code: 'ERR_TPM_CLOSED' })
    // Stored, not sealed.
    assert.ok((await ledger.getEntry(seq)) !== undefined)
    assert.equal(ledger.sealedSize, 0)
    tpmGone = false
    await ledger.whenSealed(seq)
    assert.equal(ledger.sealedSize, 1)
    await ledger.stop()
    await store.close()
  })
})
