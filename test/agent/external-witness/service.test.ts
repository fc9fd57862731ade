/**
 * The external witness service against a spec-following witness on 127.0.0.1 (test/helpers/
 * tlog-witness.ts): a device's feed on a software signer, its checkpoints submitted, the witness's
 * cosignatures verified and kept on the stored notes, and every hostile answer refused.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { HybridSigner, softwareP256Signer, nodeMlDsa65 } from '../../../src/identity/index.js'
import {
  applyVerifiedOntologyUpdate,
  BASE_ONTOLOGY,
  decodeEntry,
  exportFeed,
  FeedLedger,
  MemoryLedgerStore,
  ownFeedSource,
  parseCheckpoint,
  parseWitnessKey,
  verifyCheckpoint,
  verifyExport,
  verifyStoredFeed,
  type Entry,
  type Ontology
} from '../../../src/ledger/index.js'
import { EXTERNAL_WITNESS_ACTIONS, ExternalWitnessing, type ExternalWitness } from '../../../src/agent/index.js'
import { TestWitness } from '../../helpers/tlog-witness.js'

const fleetId = new Uint8Array(32).fill(1)
const feedId = 'a'.repeat(52)
const origin = `fleet/${Buffer.from(fleetId).toString('hex')}/${feedId}`
const signer = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32)))
const tpmClock = { readTpmClock: async () => ({ clock: 1000n, resetCount: 1, restartCount: 0 }) }
const withWitnessActions: Ontology = applyVerifiedOntologyUpdate(BASE_ONTOLOGY, 4, { ...EXTERNAL_WITNESS_ACTIONS })

interface Device {
  store: MemoryLedgerStore
  ledger: FeedLedger
  source: ReturnType<typeof ownFeedSource>
  grow: (count: number) => Promise<void>
}

/** A feed signed by `signer`; `tag` makes its entries differ from another device's with the same key (a clone). */
async function device(tag = 'a', ontology = withWitnessActions): Promise<Device> {
  const store = new MemoryLedgerStore()
  await store.open()
  const ledger = new FeedLedger(
    { store, signer, clock: { now: () => Date.now() }, tpmClock, ontology },
    { fleetId, feedId, batchMs: 60_000 }
  )
  await ledger.start()
  let n = 0
  return {
    store,
    ledger,
    source: ownFeedSource(store, feedId),
    grow: async (count) => {
      for (let i = 0; i < count; i++)
        await ledger.append({
          type: 'alert.tamper',
          actor: { id: `agent/${feedId}`, role: 'agent' },
          attest: null,
          body: { subject: feedId, pcr: 7, detail: `${tag}-${n++}` }
        })
      await ledger.checkpoint()
    }
  }
}

function listed(witness: TestWitness, url = witness.url): ExternalWitness {
  return { name: witness.name, url, vkey: witness.vkey, key: parseWitnessKey(witness.vkey), addedAt: 0 }
}

function service(
  d: Device,
  witnesses: () => ExternalWitness[],
  timeoutMs = 2_000,
  clock = { now: () => Date.now() }
): ExternalWitnessing {
  return new ExternalWitnessing(
    {
      ledger: d.ledger,
      source: d.source,
      witnesses,
      ontology: () => withWitnessActions,
      // The test's clock keeps the time and the intervals (backoff, alert spacing) both.
      clock,
      steady: clock
    },
    { feedId, intervalMs: 0, timeoutMs }
  )
}

async function ownEntries(d: Device): Promise<Entry[]> {
  const out: Entry[] = []
  for (let seq = 0; seq < d.ledger.size; seq++) out.push(decodeEntry((await d.ledger.getEntry(seq))!).entry)
  return out
}

describe('agent/external-witness: submitting checkpoints to a C2SP witness', function () {
  this.timeout(30_000)
  let witness: TestWitness

  beforeEach(async () => {
    witness = await TestWitness.start()
    witness.trust(origin, feedId, signer.publicKey)
  })
  afterEach(async () => {
    await witness.close()
  })

  /** The old size and status of the witness's last two requests. */
  const lastTwo = (): number[][] => witness.requests.slice(-2).map((r) => [r.oldSize, r.status])
  const alertsOf = async (d: Device): Promise<Entry[]> =>
    (await ownEntries(d)).filter((e) => e.type === 'alert.external_witness')

  /** A clone of the device (its key, other entries) had the witness cosign `cloneSize`; the device then signed `ownSize`. */
  async function afterClone(
    cloneSize: number,
    ownSize: number,
    clock = { now: () => Date.now() }
  ): Promise<{ d: Device; s: ExternalWitnessing }> {
    const clone = await device('clone')
    await clone.grow(cloneSize)
    await service(clone, () => [listed(witness)]).sync()
    const d = await device()
    await d.grow(ownSize)
    const s = service(d, () => [listed(witness)], 2_000, clock)
    await s.sync()
    return { d, s }
  }

  it('gets a cosignature, keeps it on the stored note, and sends consistency proofs as the feed grows', async () => {
    const d = await device()
    const s = service(d, () => [listed(witness)])
    await d.grow(3)
    await s.sync()
    assert.deepEqual(await s.cosignersOfNewest(), [witness.name])
    assert.deepEqual(witness.requests.at(-1), { oldSize: 0, proofLines: 0, size: 3, status: 200 })
    await d.grow(4)
    assert.deepEqual(await s.cosignersOfNewest(), [], 'the new checkpoint is not cosigned yet')
    await s.sync()
    assert.deepEqual(witness.requests.at(-1)!.oldSize, 3)
    assert.ok(witness.requests.at(-1)!.proofLines > 0)
    assert.equal(witness.requests.at(-1)!.status, 200)
    assert.deepEqual(await s.cosignersOfNewest(), [witness.name])
    assert.equal(s.status()[0]!.cosignedSize, 7)
    // The note still verifies (the witness's line is a key it does not know), as does the whole feed and its export.
    const note = (await d.ledger.latestCheckpoint())!
    assert.match(note, new RegExp(`\u2014 ${witness.name} `))
    verifyCheckpoint(parseCheckpoint(note), { name: feedId, key: signer.publicKey })
    const trust = { fleetId, feedId, key: signer.publicKey, ontology: withWitnessActions }
    const report = await verifyStoredFeed(d.store, trust)
    assert.equal(report.entries, 7)
    const lines: string[] = []
    for await (const line of exportFeed(d.store, { feedId })) lines.push(JSON.stringify(line))
    assert.equal((await verifyExport(lines, { ...trust, feedKey: signer.publicKey })).entries, 7)
  })

  it('after a 409 (a restarted agent does not know the witness holds its checkpoint) retries once from its size', async () => {
    const d = await device()
    await d.grow(2)
    await service(d, () => [listed(witness)]).sync()
    await d.grow(3)
    const fresh = service(d, () => [listed(witness)])
    await fresh.sync()
    assert.deepEqual(lastTwo(), [
      [0, 409],
      [2, 200]
    ])
    assert.deepEqual(await fresh.cosignersOfNewest(), [witness.name])
    assert.equal((await alertsOf(d)).length, 0)
  })

  for (const [mode, reason] of [
    ['forged', /does not verify/],
    ['unlisted-key', /no line by its key/],
    ['other-checkpoint', /does not verify/],
    ['stale-time', /older than the request/],
    ['future-time', /in the future/],
    ['huge', /larger than 8192 bytes/],
    ['huge-chunked', /larger than 8192 bytes/],
    ['redirect', /fetch failed|redirect/]
  ] as const)
    it(`does not count a witness that answers ${mode}, and backs off`, async () => {
      const d = await device()
      const s = service(d, () => [listed(witness)])
      await d.grow(2)
      witness.mode = mode
      await s.sync()
      assert.deepEqual(await s.cosignersOfNewest(), [])
      const [status] = s.status()
      assert.equal(status!.failures, 1)
      assert.match(status!.lastError!, reason)
      assert.doesNotMatch((await d.ledger.latestCheckpoint())!, new RegExp(witness.name))
      // Backing off: another round right away sends nothing.
      const sent = witness.requests.length
      await s.sync()
      assert.equal(witness.requests.length, sent)
      assert.deepEqual(s.counts.get(witness.name), { cosigned: 0, failed: 1, splitView: 0 })
    })

  it('refuses a replayed cosignature of an earlier checkpoint', async () => {
    const d = await device()
    const s = service(d, () => [listed(witness)])
    await d.grow(2)
    await s.sync()
    witness.mode = 'replay-previous'
    await d.grow(2)
    await s.sync()
    assert.equal(s.status()[0]!.cosignedSize, 2)
    assert.match(s.status()[0]!.lastError!, /does not verify over this checkpoint/)
    assert.deepEqual(await s.cosignersOfNewest(), [])
  })

  it('gives up on a witness that does not answer within the deadline, without hanging', async () => {
    const d = await device()
    const s = service(d, () => [listed(witness)], 300)
    await d.grow(1)
    witness.mode = 'slow'
    const started = performance.now()
    await s.sync()
    assert.ok(performance.now() - started < 2_000, 'aborted near the deadline')
    assert.match(s.status()[0]!.lastError!, /no complete answer within 300 ms/)
  })

  it('a witness that holds a larger checkpoint of this feed than the device signed: split view, alert, rate-limited', async () => {
    let now = Date.now()
    const { d, s } = await afterClone(9, 4, { now: () => now })
    const alerts = await alertsOf(d)
    assert.equal(alerts.length, 1)
    assert.equal(alerts[0]!.body.status, 409)
    assert.equal(alerts[0]!.body.witnessSize, 9)
    assert.equal(alerts[0]!.body.checkpointSize, 4)
    assert.equal(Buffer.from(alerts[0]!.body.response as Uint8Array).toString(), '9\n')
    assert.match(s.status()[0]!.splitView!.detail, /never signed more than 4/)
    // Again once the backoff is over: logged and counted, not recorded again within the alert interval…
    now += 60 * 60 * 1000
    await s.sync()
    assert.equal(s.counts.get(witness.name)!.splitView, 2)
    assert.equal((await alertsOf(d)).length, 1)
    // …and recorded again after it.
    now += 6 * 60 * 60 * 1000
    await s.sync()
    assert.equal(s.counts.get(witness.name)!.splitView, 3)
    assert.equal((await alertsOf(d)).length, 2)
    assert.deepEqual(await s.cosignersOfNewest(), [])
  })

  it('a witness that holds another root at a size the device signed refuses its proof (422): split view', async () => {
    const { d } = await afterClone(3, 5)
    assert.deepEqual(lastTwo(), [
      [0, 409],
      [3, 422]
    ])
    const alerts = await alertsOf(d)
    assert.equal(alerts.length, 1)
    assert.equal(alerts[0]!.body.status, 422)
    assert.equal(alerts[0]!.body.oldSize, 3)
    assert.match(String(alerts[0]!.body.detail), /another root/)
  })

  it('without the well-known alert action in the ontology in force, a split view is logged but not recorded', async () => {
    const clone = await device('clone')
    await clone.grow(9)
    await service(clone, () => [listed(witness)]).sync()
    const d = await device('a', BASE_ONTOLOGY)
    await d.grow(2)
    const s = new ExternalWitnessing(
      {
        ledger: d.ledger,
        source: d.source,
        witnesses: () => [listed(witness)],
        ontology: () => BASE_ONTOLOGY,
        clock: { now: () => Date.now() }
      },
      { feedId, intervalMs: 0 }
    )
    await s.sync()
    assert.equal(s.counts.get(witness.name)!.splitView, 1)
    assert.equal((await alertsOf(d)).length, 0)
  })

  it('takes a witness added to the list at the next round, and drops a removed one', async () => {
    const d = await device()
    let list: ExternalWitness[] = []
    const s = service(d, () => list)
    await d.grow(1)
    await s.sync()
    assert.equal(witness.requests.length, 0)
    list = [listed(witness)]
    await s.sync()
    assert.deepEqual(await s.cosignersOfNewest(), [witness.name])
    list = []
    assert.deepEqual(await s.cosignersOfNewest(), [], 'a removed witness is not counted')
    await d.grow(1)
    await s.sync()
    assert.equal(witness.requests.length, 1)
    assert.deepEqual(s.status(), [])
  })

  it('refuses (404) when the witness does not know the origin, and 403 when it trusts another key', async () => {
    const stranger = await TestWitness.start('witness.test/w2', new Uint8Array(32).fill(0x44))
    try {
      const d = await device()
      await d.grow(1)
      const s = service(d, () => [listed(stranger)])
      await s.sync()
      assert.match(s.status()[0]!.lastError!, /\(404\)/)
      stranger.trust(
        origin,
        feedId,
        new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32))).publicKey
      )
      const other = service(d, () => [listed(stranger)])
      await other.sync()
      assert.match(other.status()[0]!.lastError!, /\(403\)/)
    } finally {
      await stranger.close()
    }
  })
})
