/**
 * Webhook delivery end to end on loopback: a real HTTPS receiver with a test CA verifies every
 * body with jose against the JWKS (nothing of the agent's signing code), and the sink service
 * runs over a real FeedLedger in memory with an injected clock and waits (no sleeps). Each case
 * asserts no loss, order per feed and ids a receiver deduplicates on: a receiver that is down,
 * one answering 500 and 404, an agent restarted mid-backlog, and a certificate from another CA.
 */
import assert from 'node:assert/strict'
import type { SinkStatus, WebhookSinkConfig } from '../../../src/agent/index.js'
import { tempDir } from '../../helpers/devices.js'
import { FEED, expectedIds, sinkFeed, storedHash, type SinkFeed } from '../../helpers/sink-feed.js'
import { WebhookReceiver, deduplicated, mintTls, type TestTls } from '../../../simnet/webhook-receiver.js'
import { assertOrderedPerFeed } from '../../helpers/sink-checks.js'

describe('webhook sink', function () {
  this.timeout(60_000)
  let dir: string
  let tls: TestTls
  let otherTls: TestTls
  let feed: SinkFeed
  let receiver: WebhookReceiver

  before(async () => {
    dir = await tempDir('fleet-sinks-')
    tls = mintTls(dir, 'soc')
    otherTls = mintTls(dir, 'stranger')
  })
  beforeEach(async () => {
    feed = await sinkFeed()
    receiver = new WebhookReceiver(tls, () => feed.jwks)
    await receiver.up()
  })
  afterEach(async () => {
    await receiver.down()
    await feed.close()
  })

  const webhook = (extra: Partial<WebhookSinkConfig> = {}): WebhookSinkConfig => ({
    kind: 'webhook',
    name: 'soc',
    url: receiver.url,
    caFile: tls.caFile,
    ...extra
  })
  const statusOf = async (service: { status: () => Promise<SinkStatus[]> }): Promise<SinkStatus> =>
    (await service.status())[0]!

  it('delivers every event once, in seq order, signed, batched, and leaves out what the filter does not name', async () => {
    await feed.append(300)
    const { service, recorder } = feed.service([webhook()])
    const idle = recorder.next((e) => e.type === 'idle')
    await service.start()
    await idle
    const ids = receiver.events.map((e) => e.id)
    assert.deepEqual(ids, expectedIds(300))
    assertOrderedPerFeed(receiver.events)
    // 200 events in pages of 256 entries: 100 per POST at most, one signature each.
    assert.equal(receiver.answered.get(200), 3)
    const first = receiver.events[0]!
    assert.equal(first.feed, FEED)
    assert.equal(first.type, 'attest.verdict')
    assert.equal(first.hash, await storedHash(feed.ledger, 0))
    const stop = receiver.events.find((e) => e.type === 'workload.stop')!
    assert.equal((stop.body as { reason: string }).reason, `it exited "2" \\ [done]`)
    const status = await statusOf(service)
    assert.equal(status.delivered, 200)
    assert.equal(status.backlog, 0)
    assert.equal(status.failed, 0)
    assert.equal(status.lastSuccessAt, new Date(feed.timers.now).toISOString())
    // New entries are sent once the sink looks again.
    await feed.append(3)
    const more = recorder.next((e) => e.type === 'delivered' && e.count > 0)
    feed.timers.fireAll()
    await more
    assert.deepEqual(
      receiver.events.slice(200).map((e) => e.id),
      expectedIds(303, 300)
    )
    await service.stop()
    await service.stop()
  })

  it('sends only the event types a sink names', async () => {
    await feed.append(30)
    const { service, recorder } = feed.service([webhook({ events: ['workload.stop'] })])
    const idle = recorder.next((e) => e.type === 'idle')
    await service.start()
    await idle
    assert.deepEqual(
      receiver.events.map((e) => e.id),
      expectedIds(30).filter((id) => Number(id.split('/')[1]) % 3 === 2)
    )
    assert.equal((await statusOf(service)).backlog, 0)
    await service.stop()
  })

  it('keeps everything while the receiver refuses connections, and delivers it all once it is back', async () => {
    await feed.append(60)
    await receiver.down()
    const { service, recorder } = feed.service([webhook()])
    const failed = recorder.next((e) => e.type === 'failed')
    await service.start()
    const failure = await failed
    assert.equal(failure.type === 'failed' && failure.code, 'ERR_SINK_TRANSPORT')
    assert.match(failure.type === 'failed' ? failure.error : '', /ECONNREFUSED/)
    // Equal jitter at fraction 0.5 on the first step (1 s): 750 ms.
    assert.equal(failure.type === 'failed' && failure.retryInMs, 750)
    const down = await statusOf(service)
    assert.equal(down.delivered, 0)
    assert.equal(down.backlog, 60)
    assert.equal(down.failed, 1)
    assert.equal(down.lastError?.code, 'ERR_SINK_TRANSPORT')
    assert.equal(down.retryAt, new Date(feed.timers.now + 750).toISOString())
    // More entries while it is down, and a second failure with a longer wait.
    await feed.append(30)
    const again = recorder.next((e) => e.type === 'failed')
    feed.timers.fireAll()
    const second = await again
    assert.equal(second.type === 'failed' && second.retryInMs, 1500)
    assert.equal((await statusOf(service)).backlog, 90)
    await receiver.up()
    const idle = recorder.next((e) => e.type === 'idle')
    feed.timers.fireAll()
    await idle
    assert.deepEqual(
      deduplicated(receiver.events).map((e) => e.id),
      expectedIds(90)
    )
    assertOrderedPerFeed(receiver.events)
    const up = await statusOf(service)
    assert.equal(up.backlog, 0)
    assert.equal(up.delivered, 60)
    assert.equal(up.retryAt, undefined)
    await service.stop()
  })

  it('retries a receiver answering 404 then 500, acknowledging nothing, with growing capped waits', async () => {
    await feed.append(15)
    receiver.status = 404
    const { service, recorder } = feed.service([webhook()])
    const delays: number[] = []
    let failures = recorder.next((e) => e.type === 'failed')
    await service.start()
    for (let i = 0; i < 9; i++) {
      const failure = await failures
      assert.equal(failure.type === 'failed' && failure.code, 'ERR_SINK_HTTP_STATUS')
      delays.push(failure.type === 'failed' ? failure.retryInMs : 0)
      if (i === 3) receiver.status = 500
      failures = recorder.next((e) => e.type === 'failed')
      feed.timers.fireAll()
    }
    await failures
    // Each step doubles from 1 s to the 15 s cap; equal jitter at 0.5 keeps three quarters of it.
    assert.deepEqual(delays, [750, 1500, 3000, 6000, 11_250, 11_250, 11_250, 11_250, 11_250])
    const failing = await statusOf(service)
    assert.equal(failing.delivered, 0)
    assert.equal(failing.backlog, 15)
    assert.match(failing.lastError?.message ?? '', /HTTP 500/)
    assert.equal(receiver.events.length, 0)
    assert.equal(receiver.answered.get(404), 4)
    receiver.status = 200
    const idle = recorder.next((e) => e.type === 'idle')
    feed.timers.fireAll()
    await idle
    assert.deepEqual(
      receiver.events.map((e) => e.id),
      expectedIds(15)
    )
    await service.stop()
  })

  it('resumes from the persisted cursor after a restart mid-backlog: at most the batch in flight is sent again', async () => {
    await feed.append(150)
    const first = feed.service([webhook({ batchEvents: 10 })])
    const moved = first.recorder.next((e) => e.type === 'delivered' && e.count > 0)
    // Stopping right after the first acknowledged batch: the second may be in flight.
    const stopped = moved.then(async () => await first.service.stop())
    await first.service.start()
    await stopped
    const afterFirst = receiver.events.length
    assert.ok(afterFirst >= 10 && afterFirst < 100, `${afterFirst} events before the restart`)
    const second = feed.service([webhook({ batchEvents: 10 })])
    const idle = second.recorder.next((e) => e.type === 'idle')
    await second.service.start()
    const resumed = await statusOf(second.service)
    assert.ok(resumed.backlog < 150)
    await idle
    const all = expectedIds(150)
    assert.deepEqual(
      deduplicated(receiver.events).map((e) => e.id),
      all
    )
    assertOrderedPerFeed(receiver.events)
    // At least once: the ids sent twice are at most one batch.
    assert.ok(receiver.events.length - all.length <= 10, `${receiver.events.length - all.length} sent twice`)
    assert.equal((await statusOf(second.service)).backlog, 0)
    await second.service.stop()
  })

  it('refuses a server whose certificate is from another CA: a failure, nothing acknowledged', async () => {
    await receiver.down()
    const stranger = new WebhookReceiver(otherTls, () => feed.jwks)
    await stranger.up()
    try {
      await feed.append(9)
      const { service, recorder } = feed.service([webhook({ url: stranger.url })])
      const failed = recorder.next((e) => e.type === 'failed')
      await service.start()
      const failure = await failed
      assert.equal(failure.type === 'failed' && failure.code, 'ERR_SINK_TRANSPORT')
      assert.match(failure.type === 'failed' ? failure.error : '', /UNABLE_TO_VERIFY_LEAF_SIGNATURE|CERT/)
      const status = await statusOf(service)
      assert.equal(status.delivered, 0)
      assert.equal(status.backlog, 9)
      assert.equal(status.failed, 1)
      assert.equal(stranger.events.length, 0)
      assert.equal(stranger.answered.size, 0)
      await service.stop()
    } finally {
      await stranger.down()
    }
  })
})
