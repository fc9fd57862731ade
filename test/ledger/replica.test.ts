import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { HybridSigner, softwareP256Signer, nodeMlDsa65 } from '../../src/identity/index.js'
import {
  FeedLedger,
  BASE_ONTOLOGY,
  ReplicaStore,
  ownFeedSource,
  ReplicaRejectedError,
  EquivocationDetectedError,
  verifyEquivocationEvidence,
  encodeEvidence,
  decodeEvidence,
  cosignCheckpoint,
  verifyCheckpoint,
  parseCheckpoint,
  leafHash,
  subtreeRoot,
  decodeEntryUnhashed,
  decodeEntry,
  encodeEntry,
  signCheckpoint,
  LevelLedgerStore,
  SYNC_LIMITS,
  type FeedSource,
  type ReplicaTrust
} from '../../src/ledger/index.js'
import { actorDirectory, makeActor } from '../helpers/signing-actor.js'
import { tempDir } from '../helpers/devices.js'
import { syncTrials } from '../../bench/crash.js'

const feed = 'b'.repeat(52)
const fleetId = new Uint8Array(32).fill(7)
const signer = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32)))
const trust: ReplicaTrust = { fleetId, feedKey: signer.publicKey, ontology: BASE_ONTOLOGY }
const action = (i: number, who = 'alice'): Parameters<FeedLedger['append']>[0] => ({
  type: 'alert.tamper',
  actor: { id: who, role: 'agent' },
  attest: null,
  body: { subject: feed, pcr: 7, detail: `record-${i}` }
})

async function writer(
  count: number,
  who = 'alice',
  batchEntries = 1_000
): Promise<{ db: LevelLedgerStore; ledger: FeedLedger; source: FeedSource }> {
  const db = new LevelLedgerStore(path.join(await tempDir('fleet-replica-'), 'db'))
  await db.open()
  const ledger = new FeedLedger(
    {
      store: db,
      signer,
      clock: { now: () => 1_795_000_000_000 },
      tpmClock: { readTpmClock: async () => ({ clock: 1n, resetCount: 1, restartCount: 0 }) },
      ontology: BASE_ONTOLOGY
    },
    { fleetId, feedId: feed, batchMs: 10_000, batchEntries }
  )
  await ledger.start()
  await Promise.all(Array.from({ length: count }, async (_, i) => await ledger.append(action(i, who))))
  await ledger.checkpoint()
  return { db, ledger, source: ownFeedSource(db, feed) }
}

async function replica(): Promise<{ db: LevelLedgerStore; store: ReplicaStore }> {
  const db = new LevelLedgerStore(path.join(await tempDir('fleet-replica-'), 'db'))
  await db.open()
  return { db, store: new ReplicaStore(db) }
}

async function syncAll(source: FeedSource, store: ReplicaStore): Promise<number> {
  let batches = 0
  for (;;) {
    const batch = await source.batch((await store.meta(feed)).size)
    if (batch === undefined) return batches
    await store.apply(batch, trust)
    batches++
  }
}

describe('ledger/replica: verified feed replicas', function () {
  this.timeout(60_000)
  const closers: Array<() => Promise<void>> = []
  after(async () => {
    for (const close of closers) await close().catch(() => undefined)
  })

  it("copies a feed batch by batch (entries, checkpoint, consistency proof) and holds exactly the writer's entries", async () => {
    const w = await writer(4_500)
    closers.push(async () => {
      await w.ledger.stop()
      await w.db.close()
    })
    const r = await replica()
    closers.push(async () => {
      await r.db.close()
    })
    const batches = await syncAll(w.source, r.store)
    assert.ok(batches >= 3, `${batches} batches`)
    assert.equal((await r.store.meta(feed)).size, 4_500)
    let seq = 0
    for await (const bytes of r.store.entries(feed))
      assert.deepEqual(Buffer.from(bytes), Buffer.from((await w.ledger.getEntry(seq++))!))
    assert.deepEqual([...(await r.store.feeds())], [[feed, 4_500]])
    // More entries later: only the new ones travel.
    await Promise.all(Array.from({ length: 10 }, async (_, i) => await w.ledger.append(action(5_000 + i))))
    await w.ledger.checkpoint()
    const next = await w.source.batch(4_500)
    assert.equal(next?.entries.length, 10)
    await r.store.apply(next!, trust)
    assert.equal((await r.store.meta(feed)).size, 4_510)
    // A replica serves what it holds to the next peer.
    const r2 = await replica()
    closers.push(async () => {
      await r2.db.close()
    })
    await syncAll(r.store.source(feed), r2.store)
    assert.equal((await r2.store.meta(feed)).size, 4_510)
  })

  it("holds a revoked feed exactly up to the owner's cut: a batch across it is verified whole and stored up to it", async () => {
    const w = await writer(300)
    closers.push(async () => {
      await w.ledger.stop()
      await w.db.close()
    })
    const cut: ReplicaTrust = { ...trust, cut: 120 }
    // One batch of all 300, checkpoint at 300: only 0..119 are stored, with the tree state at 120.
    const r = await replica()
    closers.push(async () => {
      await r.db.close()
    })
    const all = (await w.source.batch(0))!
    assert.equal(all.entries.length, 300)
    assert.deepEqual(
      { added: (await r.store.apply(all, cut)).added, size: (await r.store.meta(feed)).size },
      { added: 120, size: 120 }
    )
    let seq = 0
    for await (const bytes of r.store.entries(feed))
      assert.deepEqual(Buffer.from(bytes), Buffer.from((await w.ledger.getEntry(seq++))!))
    assert.equal(seq, 120)
    assert.deepEqual(await r.store.source(feed).rootAt(120), await w.source.rootAt(120))
    // Nothing past the cut is taken later, and the held prefix still checks against the writer's checkpoints.
    assert.equal((await r.store.apply(all, cut)).added, 0)
    assert.equal((await r.store.apply((await w.source.batch(120))!, cut)).added, 0)
    assert.equal((await r.store.meta(feed)).size, 120)
    // A forged batch across the cut is still refused whole (verified before anything is cut).
    const forged = {
      ...all,
      entries: all.entries.map((e, i) =>
        i === 250 ? Uint8Array.from(e, (b, j) => (j === e.length - 2 ? b ^ 1 : b)) : e
      )
    }
    const fresh = await replica()
    closers.push(async () => {
      await fresh.db.close()
    })
    await assert.rejects(fresh.store.apply(forged, cut), ReplicaRejectedError)
    assert.equal((await fresh.store.meta(feed)).size, 0)
    // A server that knows the cut serves up to it, in batches that verify on their own.
    const capped = (await w.source.batch(0, 120))!
    assert.equal(capped.entries.length, 120)
    assert.deepEqual(
      { added: (await fresh.store.apply(capped, cut)).added, size: (await fresh.store.meta(feed)).size },
      { added: 120, size: 120 }
    )
    assert.equal(await w.source.batch(120, 120), undefined)
    // Without a cut the same replica would have taken everything.
    const open = await replica()
    closers.push(async () => {
      await open.db.close()
    })
    assert.equal((await open.store.apply(all, trust)).added, 300)
  })

  it('refuses forged, reordered or foreign batches and stores nothing of them', async () => {
    const w = await writer(50)
    closers.push(async () => {
      await w.ledger.stop()
      await w.db.close()
    })
    const r = await replica()
    closers.push(async () => {
      await r.db.close()
    })
    const batch = (await w.source.batch(0))!
    const refused = async (changed: typeof batch, why: RegExp, t: ReplicaTrust = trust): Promise<void> => {
      await assert.rejects(
        r.store.apply(changed, t),
        (err: Error) => err instanceof ReplicaRejectedError && why.test(err.message)
      )
      assert.equal((await r.store.meta(feed)).size, 0)
    }
    const flipped = batch.entries.map((e) => new Uint8Array(e))
    flipped[20]![flipped[20]!.length - 3]! ^= 1
    await refused({ ...batch, entries: flipped }, /entry 20|not in the signed tree/)
    await refused(
      {
        ...batch,
        entries: [...batch.entries.slice(0, 10), batch.entries[11]!, batch.entries[10]!, ...batch.entries.slice(12)]
      },
      /entry 10/
    )
    // An entry whose own prev is not the hash of the one before (the batch is hashed in one call,
    // with the chain written into copies: the carried prev must still equal it).
    const rechained = batch.entries.map((e) => new Uint8Array(e))
    rechained[20]![decodeEntryUnhashed(rechained[20]!).prevAt + 5]! ^= 1
    await refused({ ...batch, entries: rechained }, /entry 20 does not chain to entry 19/)
    await refused({ ...batch, entries: batch.entries.slice(0, 49) }, /not in the signed tree/)
    // A batch that starts past the end leaves a gap: nothing is stored, the peer is not blamed.
    assert.equal((await r.store.apply({ ...batch, from: 1 }, trust)).added, 0)
    assert.equal((await r.store.meta(feed)).size, 0)
    await refused({ ...batch, checkpoint: batch.checkpoint.replace(/\n\n[\s\S]*$/, '\n\n') }, /checkpoint/)
    const stranger = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32)))
    await refused(batch, /checkpoint/, { ...trust, feedKey: stranger.publicKey })
    await refused(batch, /names fleet/, { ...trust, fleetId: new Uint8Array(32).fill(8) })
    // After all that, the honest batch applies.
    assert.equal((await r.store.apply(batch, trust)).added, 50)
  })

  it("takes an operator's entry only with the proof their enrolled key made, checked against the fleet's actors", async () => {
    const now = 1_795_000_000_000
    const alice = makeActor('alice')
    const actors = (): ReplicaTrust => ({ ...trust, actors: actorDirectory(fleetId, [alice], now) })
    const w = await writer(5)
    closers.push(async () => {
      await w.ledger.stop()
      await w.db.close()
    })
    w.ledger.useActors(actorDirectory(fleetId, [alice], now))
    const access = { type: 'operator.data_access', attest: null, body: { resource: 'patients/42', purpose: 'care' } }
    await w.ledger.append(await alice.signed(access, { fleet: fleetId, device: feed }, now))
    await w.ledger.checkpoint()
    const signed = (await w.source.batch(0))!
    // The device signs a checkpoint over the same action without its proof (a version-1 entry).
    const { v, proof, ...action } = decodeEntry(signed.entries[5]!).entry
    assert.ok(signed.entries.length === 6 && v === 2 && proof !== undefined, 'the signed action is a version-2 entry')
    const entries = [...signed.entries.slice(0, 5), encodeEntry({ ...action, v: 1 })]
    const body = parseCheckpoint(signed.checkpoint).body
    const root = subtreeRoot(entries.map(leafHash), 0, entries.length)
    const unsigned = { ...signed, entries, checkpoint: await signCheckpoint({ ...body, root }, signer, feed) }
    const r = await replica()
    closers.push(async () => {
      await r.db.close()
    })
    const refused = async (batch: typeof signed, t: ReplicaTrust, cause: string): Promise<void> => {
      await assert.rejects(
        r.store.apply(batch, t),
        (err: Error) => err instanceof ReplicaRejectedError && (err.cause as Error).name === cause
      )
      assert.equal((await r.store.meta(feed)).size, 0)
    }
    await refused(unsigned, actors(), 'MissingActorProofError')
    await refused(unsigned, trust, 'MissingActorProofError')
    // Without the fleet's actors the proof cannot be checked: refused.
    await refused(signed, trust, 'ActorProofUncheckedError')
    // A key the owner did not enrol for alice made the proof: refused.
    const impostor = actorDirectory(fleetId, [makeActor('alice')], now)
    await refused(signed, { ...trust, actors: impostor }, 'ActorSignatureError')
    assert.equal((await r.store.apply(signed, actors())).added, 6)
  })

  it('skips what it holds when batches from two peers overlap', async () => {
    const w = await writer(3_000)
    closers.push(async () => {
      await w.ledger.stop()
      await w.db.close()
    })
    const r = await replica()
    closers.push(async () => {
      await r.db.close()
    })
    const first = (await w.source.batch(0))!
    const partial = first.entries.length
    await r.store
      .apply({ ...first, entries: first.entries.slice(0, 500), proof: (await w.source.batch(0))!.proof }, trust)
      .catch(() => undefined)
    await r.store.apply(first, trust)
    assert.equal((await r.store.meta(feed)).size, partial)
    // The same batch again (from another peer): nothing added, nothing refused.
    assert.equal((await r.store.apply(first, trust)).added, 0)
    const next = (await w.source.batch(partial))!
    const overlapping = (await w.source.batch(partial - 100))!
    assert.equal((await r.store.apply(overlapping, trust)).added, overlapping.entries.length - 100)
    assert.equal((await r.store.apply(next, trust)).added, 0)
    let seq = 0
    for await (const bytes of r.store.entries(feed))
      assert.deepEqual(Buffer.from(bytes), Buffer.from((await w.ledger.getEntry(seq++))!))
  })

  it('serves several peers at once: proofs stay right when batches are made concurrently', async () => {
    const w = await writer(3_000)
    closers.push(async () => {
      await w.ledger.stop()
      await w.db.close()
    })
    const source = ownFeedSource(w.db, feed)
    const replicas = await Promise.all([replica(), replica(), replica()])
    for (const r of replicas)
      closers.push(async () => {
        await r.db.close()
      })
    // Three peers ask at the same moment, each from the start: every batch must verify.
    const batches = await Promise.all(replicas.map(async () => await source.batch(0)))
    await Promise.all(replicas.map(async (r, i) => await r.store.apply(batches[i]!, trust)))
    for (const r of replicas) await syncAll(source, r.store)
    for (const r of replicas) assert.equal((await r.store.meta(feed)).size, 3_000)
  })

  it('the root at any size, from cached subtree roots, is the RFC 9162 root of that prefix', async () => {
    const w = await writer(300, 'alice', 300)
    closers.push(async () => {
      await w.ledger.stop()
      await w.db.close()
    })
    const leaves: Uint8Array[] = []
    for (let seq = 0; seq < 300; seq++) leaves.push(leafHash((await w.ledger.getEntry(seq))!))
    // Grown in steps, as a replica's cache is.
    for (const size of [1, 2, 3, 5, 7, 8, 9, 100, 127, 128, 129, 255, 256, 257, 299, 300, 64, 1]) {
      assert.deepEqual(
        Buffer.from(await w.source.rootAt(size)),
        Buffer.from(subtreeRoot(leaves, 0, size)),
        `size ${size}`
      )
    }
  })

  it('a replica keeps the leaf hashes of the batches it stores: its roots and proofs are those of a store read afresh', async () => {
    const w = await writer(2_600, 'alice', 700)
    closers.push(async () => {
      await w.ledger.stop()
      await w.db.close()
    })
    const r = await replica()
    closers.push(async () => {
      await r.db.close()
    })
    const source = r.store.source(feed)
    // Every batch is applied at the end of the cache, so its leaves are taken as given.
    await syncAll(w.source, r.store)
    const fresh = new ReplicaStore(r.db).source(feed)
    const leaves: Uint8Array[] = []
    for await (const bytes of r.store.entries(feed)) leaves.push(leafHash(bytes))
    assert.equal(leaves.length, 2_600)
    for (const size of [1, 7, 700, 1400, 1401, 2100, 2599, 2600]) {
      assert.deepEqual(
        Buffer.from(await source.rootAt(size)),
        Buffer.from(subtreeRoot(leaves, 0, size)),
        `size ${size}`
      )
      assert.deepEqual(
        Buffer.from(await fresh.rootAt(size)),
        Buffer.from(subtreeRoot(leaves, 0, size)),
        `size ${size} (afresh)`
      )
    }
    assert.deepEqual(
      (await source.proofBetween(700, 2600)).map((h) => Buffer.from(h)),
      (await fresh.proofBetween(700, 2600)).map((h) => Buffer.from(h))
    )
    // Leaves offered out of place are ignored (the cache ends elsewhere), not appended.
    source.addLeaves(5, new Uint8Array(32 * 3).fill(9), 3)
    assert.deepEqual(Buffer.from(await source.rootAt(2600)), Buffer.from(subtreeRoot(leaves, 0, 2600)))
  })

  it('resumes an interrupted copy where it stopped', async () => {
    const w = await writer(3_000)
    closers.push(async () => {
      await w.ledger.stop()
      await w.db.close()
    })
    const r = await replica()
    await r.store.apply((await w.source.batch(0))!, trust)
    const partial = (await r.store.meta(feed)).size
    assert.ok(partial > 0 && partial < 3_000)
    await r.db.close()
    const reopened = new LevelLedgerStore(r.db.location)
    await reopened.open()
    closers.push(async () => {
      await reopened.close()
    })
    const store = new ReplicaStore(reopened)
    assert.equal((await store.meta(feed)).size, partial)
    await syncAll(w.source, store)
    assert.equal((await store.meta(feed)).size, 3_000)
  })

  /** A replica of an honest history of `honestSize` entries offered a forked one of `forkSize`: the error it refuses it with. */
  async function offerFork(
    honestSize: number,
    forkSize: number
  ): Promise<{ err: EquivocationDetectedError; forked: Awaited<ReturnType<typeof writer>>; size: number }> {
    const honest = await writer(honestSize, 'alice', honestSize)
    const forked = await writer(forkSize, 'mallory', forkSize)
    closers.push(async () => {
      await honest.ledger.stop()
      await honest.db.close()
      await forked.ledger.stop()
      await forked.db.close()
    })
    const r = await replica()
    closers.push(async () => {
      await r.db.close()
    })
    await syncAll(honest.source, r.store)
    let caught: unknown
    await r.store.apply((await forked.source.batch(0))!, trust).catch((err: unknown) => {
      caught = err
    })
    assert.ok(caught instanceof EquivocationDetectedError, String(caught))
    return { err: caught, forked, size: (await r.store.meta(feed)).size }
  }

  it('a second history signed by the same device is equivocation, with both checkpoints as evidence', async () => {
    const { err, size } = await offerFork(30, 30)
    assert.equal(err.evidence.feed, feed)
    assert.equal(verifyEquivocationEvidence(decodeEvidence(encodeEvidence(err.evidence)), signer.publicKey).epoch, 1)
    assert.equal(size, 30, 'nothing of the fork stored')
  })

  it("a shorter second history is equivocation too: the evidence carries the held tree's prefix root and a proof to the held checkpoint", async () => {
    const { err, forked } = await offerFork(30, 20)
    assert.equal(err.evidence.prefixRoot.length, 32)
    assert.ok(err.evidence.proof.length > 0)
    verifyEquivocationEvidence(err.evidence, signer.publicKey)
    // The same evidence with the root the accused signed for 20 entries in place of the held prefix proves nothing.
    const signedRoot = await forked.source.rootAt(20)
    assert.throws(() => verifyEquivocationEvidence({ ...err.evidence, prefixRoot: signedRoot }, signer.publicKey), {
      name: 'EvidenceRejectedError'
    })
  })

  it("merges witnesses' cosignatures into the stored checkpoint of the same size, and only verified ones", async () => {
    const w = await writer(10, 'alice', 10)
    closers.push(async () => {
      await w.ledger.stop()
      await w.db.close()
    })
    const r = await replica()
    closers.push(async () => {
      await r.db.close()
    })
    await syncAll(w.source, r.store)
    const stored = (await r.store.source(feed).sealed())!
    const witness = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32)))
    const name = 'w'.repeat(52)
    const cosigned = await cosignCheckpoint(stored.note, witness, name)
    const witnesses = new Map([[name, witness.publicKey]])
    const verified = verifyCheckpoint(parseCheckpoint(cosigned), { name: feed, key: signer.publicKey }, witnesses)
    assert.deepEqual(verified.cosigners, [name])
    assert.equal(await r.store.source(feed).mergeCosignatures(verified), 1)
    assert.equal(await r.store.source(feed).mergeCosignatures(verified), 0, 'already there')
    const merged = (await r.store.source(feed).sealed())!.note
    assert.deepEqual(
      verifyCheckpoint(parseCheckpoint(merged), { name: feed, key: signer.publicKey }, witnesses).cosigners,
      [name]
    )
    // A cosignature line that does not verify is not counted, so it is not merged either.
    const impostor = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32)))
    const bad = verifyCheckpoint(
      parseCheckpoint(await cosignCheckpoint(stored.note, impostor, 'x'.repeat(52))),
      { name: feed, key: signer.publicKey },
      new Map([['x'.repeat(52), witness.publicKey]])
    )
    assert.deepEqual(bad.cosigners, [])
    assert.equal(await r.store.source(feed).mergeCosignatures(bad), 0)
  })

  it("an external witness's line on the own feed's note takes no fleet cosigner's place", async () => {
    const w = await writer(10, 'alice', 10)
    closers.push(async () => {
      await w.ledger.stop()
      await w.db.close()
    })
    const sealed = (await w.source.sealed())!
    const { body, text } = parseCheckpoint(sealed.note)
    // Eight external witnesses' cosignature/v1 lines (key ID, time, Ed25519 signature: 76 bytes).
    const external = Array.from(
      { length: 8 },
      (_, i) => `\u2014 witness${i}.example/w ${randomBytes(76).toString('base64')}`
    )
    assert.equal(await w.source.addSignatureLines(body.size, text, external), 8)
    // Then the fleet's cosigners, as many as a note keeps.
    let cosigned = sealed.note
    const witnesses = new Map<string, HybridSigner['publicKey']>()
    for (let i = 0; i < SYNC_LIMITS.maxCosigners; i++) {
      const witness = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32)))
      const name = String.fromCharCode(99 + i).repeat(52)
      cosigned = await cosignCheckpoint(cosigned, witness, name)
      witnesses.set(name, witness.publicKey)
    }
    const verified = verifyCheckpoint(parseCheckpoint(cosigned), { name: feed, key: signer.publicKey }, witnesses)
    assert.equal(verified.cosigners.length, SYNC_LIMITS.maxCosigners)
    assert.equal(await w.source.mergeCosignatures(verified), SYNC_LIMITS.maxCosigners)
    const merged = parseCheckpoint((await w.source.sealed())!.note)
    assert.equal(merged.signatures.length, 2 + 2 * SYNC_LIMITS.maxCosigners + 8)
  })

  it('kill -9 while copying a feed loses no acknowledged batch, leaves a consistent store, and the copy resumes (10 trials)', async () => {
    const result = await syncTrials(await tempDir('fleet-crash-sync-'), 10)
    assert.ok(result.acknowledged > 0, 'the trials acknowledged nothing: the test proved nothing')
    assert.deepEqual(
      { lost: result.lost, corrupt: result.corrupt, resumed: result.resumed },
      { lost: 0, corrupt: 0, resumed: 10 }
    )
  })
})
