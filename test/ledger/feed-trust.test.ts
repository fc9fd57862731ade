import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import path from 'node:path'
import { HybridSigner, softwareP256Signer, nodeMlDsa65 } from '../../src/identity/index.js'
import {
  FeedLedger,
  BASE_ONTOLOGY,
  ReplicaStore,
  EquivocationDetectedError,
  ReplicaRejectedError,
  encodeEntry,
  entryHash,
  leafHash,
  subtreeRoot,
  signCheckpoint,
  verifyExport,
  entryView,
  decodeEntry,
  ownerFeedId,
  parseCheckpoint,
  checkEntryAgainstOntology,
  evidenceId,
  EMPTY_ROOT,
  LevelLedgerStore,
  LEDGER_SUBLEVELS,
  feedSublevels,
  replicaSpace,
  type Entry,
  type SyncBatch,
  type EpochAuthorisation,
  type ReplicaTrust
} from '../../src/ledger/index.js'
import { toHex } from '../../src/common/index.js'
import { tempDir } from '../helpers/devices.js'

/**
 * Trust holes of a feed's history: a device speaking in the owner's name, and a device rewriting
 * its feed by stating another epoch. Histories are signed with the feed's own key (the device
 * attacks with its real key), built entry by entry as a forged peer would.
 */
const fleetId = new Uint8Array(32).fill(5)
const feed = 'd'.repeat(52)
const device = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32)))
const trust: ReplicaTrust = { fleetId, feedKey: device.publicKey, ontology: BASE_ONTOLOGY }
const exportTrust = { feedKey: device.publicKey, fleetId, feedId: feed, ontology: BASE_ONTOLOGY }

type Action = Pick<Entry, 'type' | 'actor' | 'body'>
const tamper = (tag: string): Action => ({
  type: 'alert.tamper',
  actor: { id: `agent/${feed}`, role: 'agent' },
  body: { subject: feed, pcr: 7, detail: tag }
})
const revoke = (deviceId: string): Action => ({
  type: 'device.revoke',
  actor: { id: 'owner/fleet', role: 'owner' },
  body: { deviceId, reason: 'stolen' }
})

/** A history of `feed` as the device's key signs it: the entries' bytes, chained, and a checkpoint note over them. */
async function history(
  actions: Action[],
  options: { epoch?: number; prefix?: Uint8Array[] } = {}
): Promise<{ entries: Uint8Array[]; note: string; root: Uint8Array }> {
  const entries = [...(options.prefix ?? [])]
  for (const action of actions) {
    const seq = entries.length
    const entry: Entry = {
      v: 1,
      fleet: fleetId,
      feed,
      seq,
      prev: seq === 0 ? new Uint8Array(32) : entryHash(entries[seq - 1]!),
      time: 1_795_000_000_000 + seq,
      device: feed,
      attest: null,
      ...action
    }
    entries.push(encodeEntry(entry))
  }
  const root = subtreeRoot(entries.map(leafHash), 0, entries.length)
  const note = await signCheckpoint(
    {
      origin: `fleet/${toHex(fleetId)}/${feed}`,
      size: entries.length,
      root,
      epoch: options.epoch ?? 1,
      tpm: { clock: 1n, resetCount: 1, restartCount: 0 },
      peers: []
    },
    device,
    feed
  )
  return { entries, note, root }
}

const batchOf = (h: { entries: Uint8Array[]; note: string }, from = 0): SyncBatch => ({
  feed,
  from,
  entries: h.entries.slice(from),
  checkpoint: h.note,
  proof: []
})

/** The export lines of a history (as fleet ledger export writes them, without the header). */
function exportLines(h: { entries: Uint8Array[]; note: string }): string[] {
  const lines = h.entries.map((bytes, seq) =>
    JSON.stringify({
      kind: 'entry',
      seq,
      hash: toHex(entryHash(bytes)),
      entry: Buffer.from(bytes).toString('base64'),
      type: 'alert.tamper',
      time: 1_795_000_000_000 + seq,
      derived: entryView(decodeEntry(bytes).entry)
    })
  )
  return [
    ...lines,
    JSON.stringify({ kind: 'checkpoint', size: h.entries.length, note: h.note }),
    JSON.stringify({ kind: 'end', feed, entries: h.entries.length, checkpoints: 1 })
  ]
}

async function replica(): Promise<{ db: LevelLedgerStore; store: ReplicaStore }> {
  const db = new LevelLedgerStore(path.join(await tempDir('fleet-trust-'), 'db'))
  await db.open()
  return { db, store: new ReplicaStore(db) }
}

describe("ledger: roles are tied to feeds, and a feed's epoch is the owner's to change", function () {
  this.timeout(60_000)
  const closers: Array<() => Promise<void>> = []
  after(async () => {
    for (const close of closers) await close().catch(() => undefined)
  })

  it("a device's feed carrying a device.revoke is refused: appended through the API, injected by a forged peer, and in an export", async () => {
    // Through the API: the device's own ledger refuses to write an owner statement, whatever role it claims.
    const db = new LevelLedgerStore(path.join(await tempDir('fleet-trust-'), 'db'))
    await db.open()
    const ledger = new FeedLedger(
      {
        store: db,
        signer: device,
        clock: { now: () => 1_795_000_000_000 },
        tpmClock: { readTpmClock: async () => ({ clock: 1n, resetCount: 1, restartCount: 0 }) },
        ontology: BASE_ONTOLOGY
      },
      { fleetId, feedId: feed, batchMs: 10_000 }
    )
    await ledger.start()
    closers.push(async () => {
      await ledger.stop()
      await db.close()
    })
    const victim = 'v'.repeat(52)
    await assert.rejects(
      ledger.append({ ...revoke(victim), attest: null }),
      (err: Error & { feed?: string; ownerFeed?: string }) =>
        err.name === 'FeedRoleError' && err.feed === feed && err.ownerFeed === ownerFeedId(fleetId)
    )
    await assert.rejects(
      ledger.append({
        type: 'key.rotate',
        actor: { id: 'owner/fleet', role: 'owner' },
        attest: null,
        body: { key: 'ak', newPublic: new Uint8Array(8) }
      }),
      { name: 'FeedRoleError' }
    )
    assert.equal(ledger.size, 0)

    // Injected by a forged peer: the device's key signs a history with the revocation in it.
    const forged = await history([tamper('a'), revoke(victim), tamper('b')])
    const r = await replica()
    closers.push(async () => {
      await r.db.close()
    })
    await assert.rejects(
      r.store.apply(batchOf(forged), trust),
      (err: Error) =>
        err instanceof ReplicaRejectedError &&
        (err.cause as Error)?.name === 'FeedRoleError' &&
        /entry 1/.test(err.message) &&
        // The refusal carries its evidence: which batch, and the entry at fault.
        err.batch?.seq === 1 &&
        err.batch.from === 0 &&
        err.batch.entries === batchOf(forged).entries.length &&
        err.batch.checkpoint.length > 0
    )
    assert.equal((await r.store.meta(feed)).size, 0)

    // In an export: the auditor refuses it offline.
    const lines = exportLines(forged).map((line, i) =>
      i === 1 ? line.replace('"alert.tamper"', '"device.revoke"') : line
    )
    await assert.rejects(
      verifyExport(lines, exportTrust),
      (err: Error & { seq?: number }) =>
        err.name === 'FeedVerificationError' && (err.cause as Error)?.name === 'FeedRoleError' && err.seq === 1
    )

    // The same statement in the owner's feed is the owner's to make.
    const ownerDb = new LevelLedgerStore(path.join(await tempDir('fleet-trust-'), 'db'))
    await ownerDb.open()
    const owner = new FeedLedger(
      {
        store: ownerDb,
        signer: device,
        clock: { now: () => 1_795_000_000_000 },
        tpmClock: { readTpmClock: async () => ({ clock: 1n, resetCount: 1, restartCount: 0 }) },
        ontology: BASE_ONTOLOGY
      },
      { fleetId, feedId: ownerFeedId(fleetId), batchMs: 10_000 }
    )
    await owner.start()
    closers.push(async () => {
      await owner.stop()
      await ownerDb.close()
    })
    assert.equal((await owner.append({ ...revoke(victim), attest: null })).seq, 0)
  })

  it('a device that re-signs its feed under epoch 2 is refused as an equivocator by a replica that holds the first history', async () => {
    const first = await history([tamper('a'), tamper('b'), tamper('c'), tamper('d'), tamper('e'), tamper('f')])
    const r = await replica()
    closers.push(async () => {
      await r.db.close()
    })
    assert.equal((await r.store.apply(batchOf(first), trust)).added, 6)
    // The second history keeps entries 0-1 and rewrites from 2 on, signed in "epoch 2".
    const second = await history([tamper('x'), tamper('y'), tamper('z')], {
      epoch: 2,
      prefix: first.entries.slice(0, 2)
    })
    await assert.rejects(
      r.store.apply(batchOf(second, 6), trust),
      (err: Error) => err instanceof EquivocationDetectedError && err.evidence.feed === feed
    )
    // Of the same size as well.
    const same = await history([tamper('x'), tamper('y'), tamper('z'), tamper('w')], {
      epoch: 2,
      prefix: first.entries.slice(0, 2)
    })
    await assert.rejects(r.store.apply(batchOf(same, 6), trust), EquivocationDetectedError)
    assert.equal((await r.store.meta(feed)).size, 6)
  })

  it('a new peer does not take a history in an epoch the owner never authorised; one the owner authorised it takes, forking where the owner said', async () => {
    const first = await history([tamper('a'), tamper('b'), tamper('c'), tamper('d'), tamper('e'), tamper('f')])
    const second = await history([tamper('x'), tamper('y'), tamper('z')], {
      epoch: 2,
      prefix: first.entries.slice(0, 2)
    })
    const fresh = await replica()
    closers.push(async () => {
      await fresh.db.close()
    })
    await assert.rejects(
      fresh.store.apply(batchOf(second), trust),
      (err: Error) => err instanceof ReplicaRejectedError && (err.cause as Error)?.name === 'UnauthorisedEpochError'
    )
    assert.equal((await fresh.store.meta(feed)).size, 0)
    // Authorised at another fork point: refused.
    const forkRoot = subtreeRoot(first.entries.map(leafHash), 0, 2)
    const wrong: EpochAuthorisation = {
      feed,
      epoch: 2,
      forkSize: 3,
      forkRoot: subtreeRoot(first.entries.map(leafHash), 0, 3)
    }
    await assert.rejects(
      fresh.store.apply(batchOf(second), { ...trust, epochs: new Map([[2, wrong]]) }),
      (err: Error) => (err.cause as Error)?.name === 'UnauthorisedEpochError'
    )
    // Authorised where it forks: taken.
    const authorised = new Map([[2, { feed, epoch: 2, forkSize: 2, forkRoot }]])
    assert.equal((await fresh.store.apply(batchOf(second), { ...trust, epochs: authorised })).added, 5)
    // A replica holding the old history takes the authorised fork for no equivocation: it moves over
    // to the new epoch from the fork point, and keeps the replaced entries apart, unserved.
    const old = await replica()
    closers.push(async () => {
      await old.db.close()
    })
    await old.store.apply(batchOf(first), trust)
    assert.equal((await old.store.apply(batchOf(second, 6), { ...trust, epochs: authorised })).added, 0)
    assert.equal((await old.store.meta(feed)).size, 2)
    assert.equal((await old.store.apply(batchOf(second, 2), { ...trust, epochs: authorised })).added, 3)
    const held: Uint8Array[] = []
    for await (const bytes of old.store.entries(feed)) held.push(bytes)
    assert.deepEqual(
      held.map((b) => Buffer.from(b).toString('hex')),
      second.entries.map((b) => Buffer.from(b).toString('hex'))
    )
    assert.deepEqual(await old.store.source(feed).rootAt(5), second.root)
    assert.equal((await old.store.source(feed).sealed())?.size, 5)
    const replaced: Uint8Array[] = []
    for await (const value of feedSublevels(
      replicaSpace(old.db, feed).sublevel(LEDGER_SUBLEVELS.replaced).sublevel('2')
    ).entries.values())
      replaced.push(value)
    assert.equal(replaced.length, 1, 'the replaced entries 2-5, in one run')
    // The old history's checkpoint is refused from then on (it is the replaced one), not taken for equivocation.
    await assert.rejects(
      old.store.apply(batchOf(first, 5), { ...trust, epochs: authorised }),
      (err: Error) => err instanceof ReplicaRejectedError && !(err instanceof EquivocationDetectedError)
    )
    // A new peer that knows of the new epoch no longer takes the history it replaced past the fork point.
    const knowing = await replica()
    closers.push(async () => {
      await knowing.db.close()
    })
    await assert.rejects(
      knowing.store.apply(batchOf(first), { ...trust, epochs: authorised }),
      (err: Error) => (err.cause as Error)?.name === 'UnauthorisedEpochError' && /replaced/.test(err.message)
    )
    // But a fork within the new epoch is equivocation again.
    const third = await history([tamper('p'), tamper('q'), tamper('r')], {
      epoch: 2,
      prefix: first.entries.slice(0, 2)
    })
    await assert.rejects(
      fresh.store.apply(batchOf(third, 5), { ...trust, epochs: authorised }),
      EquivocationDetectedError
    )
  })

  it('an export whose epoch the owner never authorised is refused offline', async () => {
    const first = await history([tamper('a'), tamper('b'), tamper('c'), tamper('d')])
    const second = await history([tamper('x'), tamper('y'), tamper('z')], {
      epoch: 2,
      prefix: first.entries.slice(0, 2)
    })
    // The auditor sees only the second history: its checkpoint says epoch 2, and nothing in the trust chain backs it.
    await assert.rejects(
      verifyExport(exportLines(second), exportTrust),
      (err: Error & { checkpointSize?: number }) =>
        err.name === 'FeedVerificationError' &&
        (err.cause as Error)?.name === 'UnauthorisedEpochError' &&
        err.checkpointSize === 5
    )
    // With the owner's authorisation of epoch 2 at the fork point it verifies; at another fork point it does not.
    const forkRoot = subtreeRoot(first.entries.map(leafHash), 0, 2)
    assert.equal(
      (
        await verifyExport(exportLines(second), {
          ...exportTrust,
          epochs: new Map([[2, { feed, epoch: 2, forkSize: 2, forkRoot }]])
        })
      ).entries,
      5
    )
    await assert.rejects(
      verifyExport(exportLines(second), {
        ...exportTrust,
        epochs: new Map([[2, { feed, epoch: 2, forkSize: 2, forkRoot: EMPTY_ROOT }]])
      }),
      (err: Error) => (err.cause as Error)?.name === 'UnauthorisedEpochError'
    )
    await assert.rejects(
      verifyExport(exportLines(second), {
        ...exportTrust,
        epochs: new Map([[3, { feed, epoch: 3, forkSize: 2, forkRoot }]])
      }),
      (err: Error) => (err.cause as Error)?.name === 'UnauthorisedEpochError'
    )
    // Once the owner replaced it, the first history past the fork point no longer verifies.
    await assert.rejects(
      verifyExport(exportLines(first), {
        ...exportTrust,
        epochs: new Map([[2, { feed, epoch: 2, forkSize: 2, forkRoot }]])
      }),
      (err: Error) => (err.cause as Error)?.name === 'UnauthorisedEpochError' && /replaced/.test(err.message)
    )
    // The first history in epoch 1 needs nothing.
    assert.equal((await verifyExport(exportLines(first), exportTrust)).entries, 4)
    // An epoch that goes back (the replaced history signed on after the new one) is refused.
    const back = await history([tamper('w')], { prefix: second.entries })
    const lines = exportLines(back)
    const twoCheckpoints = [
      ...lines.slice(0, 6),
      JSON.stringify({ kind: 'checkpoint', size: 5, note: second.note }),
      lines[6]!,
      JSON.stringify({ kind: 'end', feed, entries: 6, checkpoints: 2 })
    ]
    await assert.rejects(
      verifyExport(twoCheckpoints, {
        ...exportTrust,
        epochs: new Map([[2, { feed, epoch: 2, forkSize: 2, forkRoot }]])
      }),
      (err: Error) => (err.cause as Error)?.name === 'UnauthorisedEpochError' && /replaced|went back/.test(err.message)
    )
  })

  it("a device's ledger signs in a new epoch once told to, durably, and never goes back to an older one", async () => {
    const location = path.join(await tempDir('fleet-trust-'), 'db')
    const open = async (): Promise<{ db: LevelLedgerStore; ledger: FeedLedger }> => {
      const db = new LevelLedgerStore(location)
      await db.open()
      const ledger = new FeedLedger(
        {
          store: db,
          signer: device,
          clock: { now: () => 1_795_000_000_000 },
          tpmClock: { readTpmClock: async () => ({ clock: 1n, resetCount: 1, restartCount: 0 }) },
          ontology: BASE_ONTOLOGY
        },
        { fleetId, feedId: feed, batchMs: 10_000 }
      )
      await ledger.start()
      return { db, ledger }
    }
    let { db, ledger } = await open()
    await ledger.append({ ...tamper('a'), attest: null })
    await ledger.checkpoint()
    assert.equal(parseCheckpoint((await ledger.latestCheckpoint())!).body.epoch, 1)
    await ledger.startEpoch(2)
    await ledger.append({ ...tamper('b'), attest: null })
    await ledger.checkpoint()
    assert.equal(parseCheckpoint((await ledger.latestCheckpoint())!).body.epoch, 2)
    await ledger.stop()
    await db.close()
    ;({ db, ledger } = await open())
    closers.push(async () => {
      await ledger.stop()
      await db.close()
    })
    assert.equal(ledger.epoch, 2)
    await ledger.startEpoch(1)
    assert.equal(ledger.epoch, 2)
  })
})

describe('ledger: the version-2 statements (golden bytes)', () => {
  const ownerFeed = ownerFeedId(fleetId)
  const statement = (type: string, body: Record<string, unknown>): Entry => ({
    v: 1,
    fleet: fleetId,
    feed: ownerFeed,
    seq: 7,
    prev: new Uint8Array(32).fill(1),
    time: 1_795_000_000_000,
    type,
    actor: { id: 'owner/fleet', role: 'owner' },
    device: ownerFeed,
    attest: null,
    body
  })

  it('device.new_epoch and device.clear_quarantine naming evidence encode to fixed bytes; the version-1 clear form still verifies', () => {
    const newEpoch = statement('device.new_epoch', {
      deviceId: feed,
      epoch: 2,
      forkSize: 40,
      forkRoot: new Uint8Array(32).fill(2),
      reason: 'restored from backup'
    })
    checkEntryAgainstOntology(newEpoch, BASE_ONTOLOGY)
    assert.equal(createHash('sha256').update(encodeEntry(newEpoch)).digest('hex'), GOLDEN.newEpoch)
    const clear = statement('device.clear_quarantine', {
      deviceId: feed,
      evidence: new Uint8Array(32).fill(3),
      reason: 'investigated'
    })
    checkEntryAgainstOntology(clear, BASE_ONTOLOGY)
    assert.equal(createHash('sha256').update(encodeEntry(clear)).digest('hex'), GOLDEN.clear)
    // Version 1's form (an epoch) still verifies in old feeds; it clears nothing (membership.ts).
    checkEntryAgainstOntology(
      statement('device.clear_quarantine', { deviceId: feed, epoch: 1, reason: 'investigated' }),
      BASE_ONTOLOGY
    )
    assert.throws(
      () =>
        checkEntryAgainstOntology(
          statement('device.clear_quarantine', { deviceId: feed, evidence: new Uint8Array(31), reason: 'x' }),
          BASE_ONTOLOGY
        ),
      { name: 'BodySchemaError' }
    )
    assert.throws(
      () =>
        checkEntryAgainstOntology(
          statement('device.new_epoch', { deviceId: feed, epoch: 2, forkSize: 1, reason: 'x' }),
          BASE_ONTOLOGY
        ),
      { name: 'BodySchemaError' }
    )
  })

  it('an evidence id is SHA-256 over a tag, the feed and the two signed texts, fixed', () => {
    const note = (size: number): string =>
      `fleet/${'0'.repeat(64)}/${feed}\n${size}\n${Buffer.alloc(32, size).toString('base64')}\nepoch 1\ntpm 1 0 0\n\n\u2014 ${feed} AAAA\n`
    const evidence = { v: 1 as const, feed, first: note(3), second: note(4), prefixRoot: new Uint8Array(32), proof: [] }
    assert.equal(toHex(evidenceId(evidence)), GOLDEN.evidenceId)
    // Signature lines are not part of it.
    assert.equal(toHex(evidenceId({ ...evidence, second: note(4).replace('AAAA', 'BBBB') })), GOLDEN.evidenceId)
  })
})

/** SHA-256 of the statements' exact entry bytes, and the evidence id: frozen (a change here is a format change). */
const GOLDEN = {
  newEpoch: 'ab8f5787fcd98e5e38c80475a2646085dd38cd35d240eedca3ec55aace10ba28',
  clear: '254b02e30fbe6e9db879ba827e997f3db437be7ab43634c59a8a92c44e2c9de5',
  evidenceId: '9f47ce12f454f3951f7e1294f6900045842e71871f24dad00a65d84271266e80'
}
