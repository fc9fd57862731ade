/**
 * The sink service's cursors when a feed's history below them is replaced (an epoch the owner
 * authorised: a replica rewinds to the fork point and takes the new history, often in the same
 * batch, so the feed may be longer than the cursor again by the time a sink looks). Two ledgers
 * with one feed id and different entries stand for the two histories; a syslog sink with a
 * recording transport shows what was sent.
 */
import assert from 'node:assert/strict'
import {
  EXTERNAL_WITNESS_ACTIONS,
  SEVERITY,
  CursorStore,
  SinkService,
  severityOf,
  ledgerSinkSource,
  type EarSigner,
  type SinkSource,
  type SyslogSinkConfig
} from '../../../src/agent/index.js'
import {
  BASE_ONTOLOGY,
  LEDGER_SUBLEVELS,
  MemoryLedgerStore,
  applyVerifiedOntologyUpdate
} from '../../../src/ledger/index.js'
import { FEED, OWNER_FEED, SinkRecorder, sinkFeed, storedHash, type SinkFeed } from '../../helpers/sink-feed.js'
import { ManualTimers } from '../../helpers/sink-checks.js'

const syslog: SyslogSinkConfig = { kind: 'syslog', name: 'soc', transport: 'udp', address: '127.0.0.1:9' }

/** The feed as `held` says: the ledger whose history the replica holds now. */
function heldSource(held: () => SinkFeed): SinkSource {
  const of = (feed: SinkFeed): SinkSource =>
    ledgerSinkSource(feed.store, {
      ownFeed: FEED,
      ownSize: () => feed.ledger.size,
      ownerFeed: OWNER_FEED,
      replicaSize: async () => 0
    })
  return {
    feeds: async (options) => (await of(held()).feeds(options)).filter((f) => f.feed === FEED),
    read: async (feed, from, limit, options) => await of(held()).read(feed, from, limit, options)
  }
}

describe('sink service', () => {
  let first: SinkFeed
  let second: SinkFeed
  let cursorStore: MemoryLedgerStore
  beforeEach(async () => {
    first = await sinkFeed()
    second = await sinkFeed()
    cursorStore = new MemoryLedgerStore()
    await cursorStore.open()
  })
  afterEach(async () => {
    await first.close()
    await second.close()
    await cursorStore.close()
  })

  const run = (
    held: () => SinkFeed
  ): { service: SinkService; recorder: SinkRecorder; sent: Array<{ id: string; hash: string }> } => {
    const sent: Array<{ id: string; hash: string }> = []
    const recorder = new SinkRecorder()
    const timers = new ManualTimers(0)
    const service = new SinkService(
      {
        source: heldSource(held),
        cursors: new CursorStore(cursorStore),
        signer: {} as EarSigner,
        clock: timers.clock,
        random: { fraction: () => 0.5 },
        wait: timers.wait,
        syslogTransport: () => ({
          send: async (messages) => {
            for (const message of messages) {
              const event = JSON.parse(message.slice(message.indexOf('\uFEFF') + 1)) as { id: string; hash: string }
              sent.push({ id: event.id, hash: event.hash })
            }
          },
          close: async () => undefined
        })
      },
      { deviceId: FEED, sinks: [syslog], onEvent: recorder.onEvent }
    )
    return { service, recorder, sent }
  }

  /** The events of `feed`'s entries from..to-1 as a sink is sent them (ids and hashes). */
  const events = async (feed: SinkFeed, from: number, to: number): Promise<Array<{ id: string; hash: string }>> => {
    const out: Array<{ id: string; hash: string }> = []
    for (let seq = from; seq < to; seq++)
      if (seq % 3 !== 1) out.push({ id: `${FEED}/${seq}`, hash: await storedHash(feed.ledger, seq) })
    return out
  }

  for (const [name, secondSize, grows] of [
    ['longer than the cursor', 12, 0],
    ['shorter than the cursor, then longer', 5, 7]
  ] as const)
    it(`sends a replaced history again from the start when the feed is ${name}: nothing of it is skipped`, async () => {
      await first.append(9)
      // Another history of the same feed: its entries differ from the first (another time).
      second.timers.now += 60_000
      await second.append(secondSize)
      let held = first
      const { service, recorder, sent } = run(() => held)
      let idle = recorder.next((e) => e.type === 'idle')
      await service.start()
      await idle
      assert.deepEqual(sent, await events(first, 0, 9))
      sent.length = 0
      held = second
      idle = recorder.next((e) => e.type === 'idle')
      service.wake()
      await idle
      if (grows > 0) {
        await second.append(grows)
        idle = recorder.next((e) => e.type === 'idle')
        service.wake()
        await idle
      }
      await service.stop()
      const size = secondSize + grows
      // Every event of the new history reached the sink, in seq order (none of the first's again).
      assert.deepEqual(sent, await events(second, 0, size))
    })

  it('keeps a cursor with the hash of the entry before it, and reads one written without a hash', async () => {
    const cursors = new CursorStore(cursorStore)
    const last = new Uint8Array(32).fill(9)
    await cursors.set('soc', FEED, { next: 5, last })
    assert.deepEqual(await cursors.get('soc', FEED), { next: 5, last })
    const legacy = Buffer.alloc(8)
    legacy.writeBigUInt64BE(7n)
    const sublevel = cursorStore.sublevel(LEDGER_SUBLEVELS.sinkCursors)
    await cursorStore.write([{ type: 'put', sublevel, key: `old/${FEED}`, value: legacy }], { sync: true })
    assert.deepEqual(await cursors.get('old', FEED), { next: 7 })
    await cursorStore.write([{ type: 'put', sublevel, key: `bad/${FEED}`, value: new Uint8Array(9) }], { sync: true })
    await assert.rejects(cursors.get('bad', FEED), { name: 'SinkCursorError' })
  })

  it("sends the device's external-witness alert (a split view) by default, as an alert", async () => {
    first.ledger.useOntology(
      applyVerifiedOntologyUpdate(BASE_ONTOLOGY, BASE_ONTOLOGY.version + 1, EXTERNAL_WITNESS_ACTIONS)
    )
    await first.append(2)
    const alert = {
      type: 'alert.external_witness',
      actor: { id: `agent/${FEED}`, role: 'agent' },
      attest: null,
      body: {
        witness: 'witness.example/w1',
        url: 'https://witness.example/w1',
        status: 409,
        checkpointSize: 2,
        oldSize: 0,
        witnessSize: 9,
        detail: 'the witness holds a checkpoint of 9 entries of this feed',
        response: new Uint8Array(Buffer.from('9\n'))
      }
    }
    const { seq } = await first.ledger.append(alert)
    const { service, recorder, sent } = run(() => first)
    const idle = recorder.next((e) => e.type === 'idle')
    await service.start()
    await idle
    await service.stop()
    assert.deepEqual(
      sent.map((e) => e.id),
      [`${FEED}/0`, `${FEED}/${seq}`]
    )
    assert.equal(severityOf({ type: 'alert.external_witness', body: undefined }), SEVERITY.alert)
  })
})
