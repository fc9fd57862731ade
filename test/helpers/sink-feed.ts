/**
 * A feed for sink tests: a FeedLedger in memory (software keys) holding a mix of events and
 * entries no sink is sent, the sink service over it as the agent composes it (ledgerSinkSource,
 * CursorStore in the same store), and a recorder of what the service reports.
 */
import crypto, { randomBytes } from 'node:crypto'
import type { JSONWebKeySet } from 'jose'
import { HybridSigner, nodeMlDsa65, softwareP256Signer } from '../../src/identity/index.js'
import {
  BASE_ONTOLOGY,
  FeedLedger,
  MemoryLedgerStore,
  type AppendInput,
  type TpmClockSource
} from '../../src/ledger/index.js'
import {
  CursorStore,
  SinkService,
  ledgerSinkSource,
  type SinkConfig,
  type SinkServiceEvent,
  type WebhookTransport
} from '../../src/agent/index.js'
import { toHex } from '../../src/common/index.js'
import { ManualTimers } from './sink-checks.js'

export const FEED = 'e'.repeat(52)
export const OWNER_FEED = 'o'.repeat(52)
export const PEER = 'p'.repeat(52)
export const T0 = Date.UTC(2026, 5, 1)
const fleetId = new Uint8Array(32).fill(7)
const agentActor = { id: `agent/${FEED}`, role: 'agent' }
const digest = new Uint8Array(32).fill(0xab)

/** The entries appended, in order: a verdict, a workload start (no sink is sent those), a workload stop. */
export function mixedEntry(i: number): AppendInput {
  switch (i % 3) {
    case 0:
      return {
        type: 'attest.verdict',
        actor: agentActor,
        attest: null,
        body: { subject: PEER, trusted: i % 2 === 0, policyId: 'ab'.repeat(32), quoteHash: digest, reasons: [] }
      }
    case 1:
      return {
        type: 'workload.start',
        actor: agentActor,
        attest: null,
        body: { exe: '/usr/bin/job', exeDigest: digest, pid: 1000 + i, secrets: [], quorum: 1 }
      }
    default:
      return {
        type: 'workload.stop',
        actor: agentActor,
        attest: null,
        body: { exe: '/usr/bin/job', exeDigest: digest, pid: 1000 + i, reason: `it exited "${i}" \\ [done]` }
      }
  }
}

/** Ids of the events among the first `count` mixed entries (what a sink with no filter is sent). */
export function expectedIds(count: number, from = 0): string[] {
  const ids: string[] = []
  for (let i = from; i < count; i++) if (i % 3 !== 1) ids.push(`${FEED}/${i}`)
  return ids
}

export class SinkRecorder {
  readonly events: SinkServiceEvent[] = []
  private waiters: Array<{ match: (e: SinkServiceEvent) => boolean; resolve: (e: SinkServiceEvent) => void }> = []
  readonly onEvent = (event: SinkServiceEvent): void => {
    this.events.push(event)
    for (const waiter of this.waiters.filter((w) => w.match(event))) {
      this.waiters = this.waiters.filter((w) => w !== waiter)
      waiter.resolve(event)
    }
  }
  /** The next event (from now on) that `match` accepts. */
  async next(match: (e: SinkServiceEvent) => boolean): Promise<SinkServiceEvent> {
    return await new Promise((resolve) => this.waiters.push({ match, resolve }))
  }
}

export interface SinkFeed {
  store: MemoryLedgerStore
  ledger: FeedLedger
  jwks: JSONWebKeySet
  timers: ManualTimers
  /** A sink service over this feed, as the agent makes it. */
  service: (
    sinks: SinkConfig[],
    options?: { webhookTransport?: (config: { ca?: string }) => WebhookTransport }
  ) => { service: SinkService; recorder: SinkRecorder }
  append: (count: number) => Promise<void>
  close: () => Promise<void>
}

export async function sinkFeed(): Promise<SinkFeed> {
  const store = new MemoryLedgerStore()
  await store.open()
  const timers = new ManualTimers(T0)
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const dsk = softwareP256Signer(privateKey)
  const signer = new HybridSigner(dsk, nodeMlDsa65.fromSeed(randomBytes(32)))
  const tpmClock: TpmClockSource = { readTpmClock: async () => ({ clock: 1000n, resetCount: 1, restartCount: 0 }) }
  const ledger = new FeedLedger(
    { store, signer, clock: timers.clock, tpmClock, ontology: BASE_ONTOLOGY },
    { fleetId, feedId: FEED, batchMs: 3_600_000 }
  )
  await ledger.start()
  const jwk = crypto.createPublicKey(privateKey).export({ format: 'jwk' })
  let appended = 0
  return {
    store,
    ledger,
    timers,
    jwks: { keys: [{ ...jwk, kid: FEED, alg: 'ES256', use: 'sig' }] },
    service: (sinks, options = {}) => {
      const recorder = new SinkRecorder()
      const service = new SinkService(
        {
          source: ledgerSinkSource(store, {
            ownFeed: FEED,
            ownSize: () => ledger.size,
            ownerFeed: OWNER_FEED,
            replicaSize: async () => 0
          }),
          cursors: new CursorStore(store),
          signer: dsk,
          clock: timers.clock,
          random: { fraction: () => 0.5 },
          wait: timers.wait,
          webhookTransport: options.webhookTransport
        },
        { deviceId: FEED, sinks, onEvent: recorder.onEvent }
      )
      return { service, recorder }
    },
    append: async (count) => {
      const writes: Array<Promise<unknown>> = []
      for (let i = 0; i < count; i++) writes.push(ledger.append(mixedEntry(appended++)))
      await Promise.all(writes)
    },
    close: async () => {
      await ledger.stop()
      await store.close()
    }
  }
}

/** The hex hash of entry `seq` as the ledger holds it. */
export async function storedHash(ledger: FeedLedger, seq: number): Promise<string> {
  const bytes = await ledger.getEntry(seq)
  return toHex(crypto.createHash('sha256').update(bytes!).digest())
}
