/**
 * sink: events delivered per second by one agent on swtpm to a local HTTPS webhook that verifies
 * every batch's JWS (jose, against the device's published key), and the recovery after the
 * webhook was down for 60 s while events kept being appended: the time from its return until the
 * backlog is 0, with no event lost and each feed's order kept.
 *
 * The throughput peer is the same sink sending one event per POST (one TPM signature each), on
 * a smaller backlog; the recovery peer is draining the same backlog at that one-per-POST rate.
 * The sink service is the agent's (same ledger store, cursors and TPM-held DSK); only the wait
 * between retries is the system's timers, as in `fleet run`.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import {
  CursorStore,
  SinkService,
  deviceSigner,
  enrolledSigningKeys,
  fleetJwks,
  ledgerSinkSource,
  type Agent,
  type SinkServiceEvent,
  type WebhookSinkConfig
} from '../src/agent/index.js'
import { decodeEntry, type Entry } from '../src/ledger/index.js'
import { cryptoRandom, systemClock } from '../src/common/index.js'
import { SimFleet, type SimDevice } from '../simnet/fleet.js'
import { WebhookReceiver, deduplicated, mintTls } from '../simnet/webhook-receiver.js'
import { type Bench, nowMs, round } from './types.js'

const BACKLOG = 20_000
const SINGLE_BACKLOG = 1_000
const OUTAGE_MS = 60_000
const APPEND_EVERY_MS = 20

function stopEntry(agent: Agent, i: number) {
  const self = agent.feed.ledger.feedId
  return {
    type: 'workload.stop',
    actor: { id: `agent/${self}`, role: 'agent' },
    attest: null,
    body: { exe: '/usr/bin/job', exeDigest: new Uint8Array(32).fill(i % 256), pid: i, reason: 'it exited' }
  }
}

/** A sink service over the agent's ledger, as the agent composes it, with its own name (its own cursors). */
function sinkService(
  agent: Agent,
  device: SimDevice,
  config: WebhookSinkConfig,
  onEvent: (event: SinkServiceEvent) => void
): SinkService {
  return new SinkService(
    {
      source: ledgerSinkSource(agent.feed.store, {
        ownFeed: agent.feed.ledger.feedId,
        ownSize: () => agent.feed.ledger.size,
        ownerFeed: agent.membership.ownerFeed,
        replicaSize: async (feed) => (await agent.replicas.meta(feed)).size
      }),
      cursors: new CursorStore(agent.feed.store),
      signer: deviceSigner(device.tpm, device.unlocked).authority,
      clock: systemClock,
      random: cryptoRandom
    },
    { deviceId: agent.feed.ledger.feedId, sinks: [config], pollMs: 50, onEvent }
  )
}

/** Runs `service` until its backlog is 0; resolves with the milliseconds it took from `started`. */
async function drain(service: SinkService, started = nowMs()): Promise<number> {
  await service.start()
  for (;;) {
    const [status] = await service.status()
    if (status!.backlog === 0) break
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  return nowMs() - started
}

export const sinkBench: Bench = {
  name: 'sink',
  description: `events/s delivered to a local HTTPS webhook (JWS per batch, swtpm; ${BACKLOG} batched vs ${SINGLE_BACKLOG} one per POST), and recovery after a ${OUTAGE_MS / 1000} s outage with no loss`,
  async run(report) {
    const work = await mkdtemp(path.join(os.tmpdir(), 'fleet-bench-sink-'))
    const fleet = await SimFleet.create()
    try {
      const [device] = (await fleet.addEnrolled(1)) as [SimDevice]
      const agent = await fleet.start(device)
      const self = agent.feed.ledger.feedId
      const entries: Entry[] = []
      for (let seq = 0; seq < fleet.owner.feed.ledger.size; seq++)
        entries.push(decodeEntry((await fleet.owner.feed.ledger.getEntry(seq))!).entry)
      const jwks = fleetJwks(enrolledSigningKeys(entries))
      const tls = mintTls(work, 'bench')
      const receiver = new WebhookReceiver(tls, () => jwks)
      await receiver.up()
      const webhook = (name: string, batchEvents?: number): WebhookSinkConfig => ({
        kind: 'webhook',
        name,
        url: receiver.url,
        caFile: tls.caFile,
        ...(batchEvents === undefined ? {} : { batchEvents })
      })
      // The TPM's first ECDSA operation may answer "retry": one signature before timing.
      await deviceSigner(device.tpm, device.unlocked).authority.sign(new Uint8Array(32))

      // One event per POST, over the first SINGLE_BACKLOG events.
      const writes: Array<Promise<unknown>> = []
      for (let i = 0; i < SINGLE_BACKLOG; i++) writes.push(agent.feed.ledger.append(stopEntry(agent, i)))
      await Promise.all(writes)
      const single = sinkService(agent, device, webhook('single', 1), () => undefined)
      const singleMs = await drain(single)
      await single.stop()
      const singleEvents = receiver.events.length
      const singlePerSecond = singleEvents / (singleMs / 1000)

      // Batched (100 per POST, the default), over BACKLOG events.
      writes.length = 0
      for (let i = SINGLE_BACKLOG; i < BACKLOG; i++) writes.push(agent.feed.ledger.append(stopEntry(agent, i)))
      await Promise.all(writes)
      receiver.events.length = 0
      const batched = sinkService(agent, device, webhook('batched'), () => undefined)
      const batchedMs = await drain(batched)
      await batched.stop()
      const batchedEvents = deduplicated(receiver.events).length
      if (batchedEvents !== BACKLOG) throw new Error(`batched: ${batchedEvents} of ${BACKLOG} events arrived`)
      const perSecond = batchedEvents / (batchedMs / 1000)
      report({
        bench: 'sink',
        metric: 'throughput',
        value: round(perSecond, 0),
        unit: 'events/s',
        peer: 'one event per POST',
        peerValue: round(singlePerSecond, 0),
        ratio: round(perSecond / singlePerSecond, 2),
        events: batchedEvents,
        peerEvents: singleEvents,
        measures: 'a backlog drained to a local HTTPS webhook that verifies each JWS; one TPM2_Sign (swtpm) per POST'
      })

      // Recovery: a live sink, the webhook down for OUTAGE_MS while events keep coming.
      receiver.events.length = 0
      let failures = 0
      let firstDelivery: number | undefined
      const live = sinkService(agent, device, webhook('recovery'), (event) => {
        if (event.type === 'failed') failures++
        if (event.type === 'delivered' && event.count > 0 && firstDelivery === undefined) firstDelivery = nowMs()
      })
      // The live sink first catches up with the feed as it is (its cursor starts at 0).
      await drain(live)
      receiver.events.length = 0
      const from = agent.feed.ledger.size
      await receiver.down()
      let appending = true
      let appended = 0
      const appender = (async () => {
        while (appending) {
          await agent.feed.ledger.append(stopEntry(agent, appended++))
          await new Promise((resolve) => setTimeout(resolve, APPEND_EVERY_MS))
        }
      })()
      await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS))
      appending = false
      await appender
      const backlog = (await live.status())[0]!.backlog
      firstDelivery = undefined
      const upAt = nowMs()
      await receiver.up()
      const recoveryMs = await drain(live, upAt)
      await live.stop()
      // No loss, in order: every entry appended during the outage, each once after deduplication.
      const got = deduplicated(receiver.events).filter((e) => e.feed === self)
      const seqs = got.map((e) => e.seq)
      const expected = Array.from({ length: appended }, (_, i) => from + i)
      if (got.length !== appended || seqs.some((seq, i) => seq !== expected[i]))
        throw new Error(`recovery: ${got.length} events arrived of ${appended}, or out of order`)
      // The wait for the sink's next try after the webhook came back (its backoff), then the drain.
      const waitMs = (firstDelivery ?? upAt) - upAt
      const peerMs = waitMs + (backlog / singlePerSecond) * 1000
      report({
        bench: 'sink',
        metric: 'recovery',
        value: round(recoveryMs / 1000, 2),
        unit: 's',
        peer: 'the same wait, then the backlog one event per POST',
        peerValue: round(peerMs / 1000, 2),
        ratio: round(peerMs / recoveryMs, 2),
        outageS: OUTAGE_MS / 1000,
        waitS: round(waitMs / 1000, 2),
        drainS: round((recoveryMs - waitMs) / 1000, 2),
        backlog,
        delivered: got.length,
        failedTries: failures,
        lost: 0,
        measures:
          'from the webhook listening again until the backlog is 0: the wait for the next retry (backoff, ≤ 15 s) and the drain'
      })
      await receiver.down()
    } finally {
      await fleet.close()
      await rm(work, { recursive: true, force: true })
    }
  }
}
