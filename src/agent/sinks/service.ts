/**
 * The sink service: for each configured sink, a loop that reads the event feeds past the sink's
 * durable cursors in bounded pages, sends what the sink's filter keeps in batches (one feed at
 * a time, in seq order), and moves the cursor only after the sink took the batch. A sink that
 * fails is retried with capped exponential backoff and jitter, from the same place, for as long
 * as it fails: every failure is kept for status and metrics, nothing is dropped. Each sink runs
 * on its own: one that is down holds up no other.
 */
import { readFile } from 'node:fs/promises'
import os from 'node:os'
import type { Clock, Random } from '../../common/index.js'
import type { EarSigner } from '../ear/index.js'
import { SINK_EVENT_TYPES, type Logger, type SinkConfig } from '../ops/index.js'
import { bytesEqual } from '../../common/index.js'
import { decodeEntry } from '../../ledger/index.js'
import type { CursorStore, SinkCursor } from './cursor-store.js'
import { sinkEventOf, type SinkEvent } from './event.js'
import { SINK_LIMITS } from './limits.js'
import { retryDelayMs, timerWait, type Wait } from './retry.js'
import type { Sink } from './sink.js'
import type { SinkSource } from './source.js'
import { SyslogSink, type SyslogTransport } from './syslog.js'
import { WebhookSink, nodeWebhookTransport, type WebhookTransport } from './webhook.js'

export interface SinkComponents {
  source: SinkSource
  cursors: CursorStore
  /** Signs webhook batches: the device's DSK (ES256). */
  signer: EarSigner
  clock: Clock
  random: Pick<Random, 'fraction'>
  logger?: Logger
  /** Default: the system's timers. Tests give one driven by their clock. */
  wait?: Wait
  /** Default: node:https with the sink's CA (nodeWebhookTransport). */
  webhookTransport?: (config: { ca?: string }) => WebhookTransport
  /** Default: the transport the sink's config names. */
  syslogTransport?: (config: SinkConfig) => SyslogTransport | undefined
}

export interface SinkServiceInit {
  /** This device's id: the JWS's iss and kid. */
  deviceId: string
  sinks: readonly SinkConfig[]
  /** Default SINK_LIMITS.pollMs. */
  pollMs?: number
  /** Told what each sink did, as it happens (tests wait on it; must not throw). */
  onEvent?: (event: SinkServiceEvent) => void
}

export type SinkServiceEvent =
  /** `count` events of `feed` were taken by the sink; its cursor there is now `next`. */
  | { type: 'delivered'; sink: string; feed: string; count: number; next: number }
  /** A batch was not taken; the next try is in `retryInMs`. */
  | { type: 'failed'; sink: string; error: string; code: string; retryInMs: number }
  /** The sink has everything durable now, and waits for more. */
  | { type: 'idle'; sink: string }

/** What `fleet status` and metrics show of a sink. */
export interface SinkStatus {
  name: string
  kind: 'webhook' | 'syslog'
  target: string
  /** Events the sink took since the agent started. */
  delivered: number
  /** Failed tries since the agent started (each batch counts once per try). */
  failed: number
  /** Entries past the sink's cursors in the event feeds: an upper bound of the events waiting (the filter is applied when they are read). */
  backlog: number
  lastError?: { message: string; code: string; at: string }
  lastSuccessAt?: string
  /** When the next try is due, after a failure. */
  retryAt?: string
}

interface Running {
  sink: Sink
  events: ReadonlySet<string>
  delivered: number
  failed: number
  failuresInRow: number
  lastError?: { message: string; code: string; at: number }
  lastSuccessAt?: number
  retryAt?: number
  /** Cursors read once from the store, then kept here as they move. */
  cursors: Map<string, SinkCursor>
  wake: AbortController
  done?: Promise<void>
}

export class SinkService {
  private readonly components: SinkComponents
  private readonly init: SinkServiceInit
  private readonly running: Running[] = []
  private stopping = new AbortController()
  private state: 'new' | 'started' | 'stopped' = 'new'

  constructor(components: SinkComponents, init: SinkServiceInit) {
    this.components = components
    this.init = init
  }

  /** Starts a loop per sink. Idempotent. */
  async start(_options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.state !== 'new') return
    this.state = 'started'
    for (const config of this.init.sinks) {
      const sink = await this.makeSink(config)
      const running: Running = {
        sink,
        events: new Set<string>(config.events ?? SINK_EVENT_TYPES),
        delivered: 0,
        failed: 0,
        failuresInRow: 0,
        cursors: new Map(),
        wake: new AbortController()
      }
      this.running.push(running)
      running.done = this.loop(running)
    }
  }

  /** Stops the loops (a batch in flight is abandoned: it is sent again after the next start) and closes the sinks. Idempotent. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return
    this.state = 'stopped'
    this.stopping.abort()
    for (const running of this.running) {
      await running.done
      await running.sink.close().catch(() => undefined)
    }
  }

  /** Asks idle sinks to look for new entries now (a sink waiting out a failure keeps waiting). */
  wake(): void {
    for (const running of this.running) {
      if (running.retryAt !== undefined) continue
      const wake = running.wake
      running.wake = new AbortController()
      wake.abort()
    }
  }

  /** Each sink's counts, backlog and last outcome. */
  async status(options: { signal?: AbortSignal } = {}): Promise<SinkStatus[]> {
    const feeds = this.running.length === 0 ? [] : await this.components.source.feeds(options)
    const iso = (ms: number | undefined): string | undefined =>
      ms === undefined ? undefined : new Date(ms).toISOString()
    const out: SinkStatus[] = []
    for (const running of this.running) {
      let backlog = 0
      for (const { feed, size } of feeds) backlog += Math.max(0, size - (await this.cursor(running, feed)).next)
      out.push({
        name: running.sink.name,
        kind: running.sink.kind,
        target: running.sink.target,
        delivered: running.delivered,
        failed: running.failed,
        backlog,
        ...(running.lastError === undefined
          ? {}
          : {
              lastError: {
                message: running.lastError.message,
                code: running.lastError.code,
                at: iso(running.lastError.at)!
              }
            }),
        ...(running.lastSuccessAt === undefined ? {} : { lastSuccessAt: iso(running.lastSuccessAt) }),
        ...(running.retryAt === undefined ? {} : { retryAt: iso(running.retryAt) })
      })
    }
    return out
  }

  private async makeSink(config: SinkConfig): Promise<Sink> {
    if (config.kind === 'webhook') {
      // Read at start: a CA file replaced later takes effect at the next start.
      const ca = config.caFile === undefined ? undefined : await readFile(config.caFile, 'utf8')
      const transport = (this.components.webhookTransport ?? nodeWebhookTransport)({ ca })
      return new WebhookSink(config, {
        deviceId: this.init.deviceId,
        signer: this.components.signer,
        clock: this.components.clock,
        transport
      })
    }
    return new SyslogSink(config, {
      hostname: os.hostname(),
      procId: String(process.pid),
      transport: this.components.syslogTransport?.(config)
    })
  }

  private async cursor(running: Running, feed: string): Promise<SinkCursor> {
    let cursor = running.cursors.get(feed)
    if (cursor === undefined) {
      cursor = await this.components.cursors.get(running.sink.name, feed)
      running.cursors.set(feed, cursor)
    }
    return cursor
  }

  private async loop(running: Running): Promise<void> {
    const wait = this.components.wait ?? timerWait
    const stop = this.stopping.signal
    const name = running.sink.name
    while (!stop.aborted) {
      let progressed: boolean
      try {
        progressed = await this.round(running, stop)
      } catch (err) {
        if (stop.aborted) break
        running.failed++
        running.failuresInRow++
        const delay = retryDelayMs(running.failuresInRow, this.components.random)
        const now = this.components.clock.now()
        const message = (err as Error).message
        const code = (err as { code?: string }).code ?? 'ERR_UNKNOWN'
        running.lastError = { message, code, at: now }
        running.retryAt = now + delay
        this.components.logger?.warn({ sink: name, err: message, retryInMs: delay }, 'a sink did not take its events')
        this.init.onEvent?.({ type: 'failed', sink: name, error: message, code, retryInMs: delay })
        await wait(delay, { signal: stop })
        running.retryAt = undefined
        continue
      }
      if (!progressed) {
        this.init.onEvent?.({ type: 'idle', sink: name })
        await wait(this.init.pollMs ?? SINK_LIMITS.pollMs, { signal: AbortSignal.any([stop, running.wake.signal]) })
      }
    }
  }

  /** One page of each feed with entries past the cursor; true when a cursor moved. */
  private async round(running: Running, signal: AbortSignal): Promise<boolean> {
    const { source, cursors } = this.components
    const name = running.sink.name
    let progressed = false
    for (const { feed, size } of await source.feeds({ signal })) {
      const cursor = await this.cursor(running, feed)
      const from = cursor.next
      if (from === size) continue
      const page =
        from > size ? [] : await source.read(feed, from, Math.min(SINK_LIMITS.pageEntries, size - from), { signal })
      if (from > size || (page.length > 0 && from > 0 && !this.continues(cursor, page[0]!))) {
        // The history below the cursor was replaced (an epoch the owner authorised: the replica
        // rewound to the fork and may have grown past the cursor since). Where it forked is not
        // known here, so the feed is sent again from its start: receivers drop the ids they have
        // with the same hash; the new history's entries come under the same ids with other hashes.
        this.components.logger?.warn(
          { sink: name, feed, cursor: from, size },
          "a feed's history below its sink cursor was replaced: sending it again from the start"
        )
        running.cursors.set(feed, { next: 0 })
        await cursors.set(name, feed, { next: 0 }, { signal })
        progressed = true
        continue
      }
      if (page.length === 0) continue
      const end = from + page.length
      const events: SinkEvent[] = []
      const hashes: string[] = []
      for (const bytes of page) {
        const event = sinkEventOf(bytes)
        hashes.push(event.hash)
        if (running.events.has(event.type)) events.push(event)
      }
      const at = (next: number): SinkCursor => ({ next, last: Buffer.from(hashes[next - 1 - from]!, 'hex') })
      let next = end
      let taken = 0
      while (taken < events.length) {
        signal.throwIfAborted()
        const count = Math.max(1, running.sink.take(events.slice(taken)))
        const batch = events.slice(taken, taken + count)
        await running.sink.deliver(batch, { signal })
        taken += count
        next = taken < events.length ? events[taken]!.seq : end
        await this.advance(running, feed, at(next), count)
      }
      if (events.length === 0) await this.advance(running, feed, at(next), 0)
      progressed = true
    }
    return progressed
  }

  /** Whether `entry` (the one at the cursor) follows the entry the cursor last saw (no hash known: it is taken to). */
  private continues(cursor: SinkCursor, entry: Uint8Array): boolean {
    return cursor.last === undefined || bytesEqual(decodeEntry(entry).entry.prev, cursor.last)
  }

  private async advance(running: Running, feed: string, cursor: SinkCursor, count: number): Promise<void> {
    await this.components.cursors.set(running.sink.name, feed, cursor)
    running.cursors.set(feed, cursor)
    const next = cursor.next
    running.delivered += count
    running.failuresInRow = 0
    if (count > 0) running.lastSuccessAt = this.components.clock.now()
    this.init.onEvent?.({ type: 'delivered', sink: running.sink.name, feed, count, next })
  }
}
