/** Checks and timers of sink tests (the receiver itself is simnet's: the bench uses it too). */
import { deduplicated, type ReceivedEvent } from '../../simnet/webhook-receiver.js'

/** Fails unless, per feed, the events' seqs only grow (after deduplication). */
export function assertOrderedPerFeed(events: readonly ReceivedEvent[]): void {
  const last = new Map<string, number>()
  for (const event of deduplicated(events)) {
    const before = last.get(event.feed) ?? -1
    if (event.seq <= before) throw new Error(`${event.id} came after seq ${before} of its feed`)
    last.set(event.feed, event.seq)
  }
}

/**
 * Waits driven by the test: a sink's poll or retry wait resolves when the test fires it (or its
 * signal aborts), never by time passing. `now` moves to the fired wait's deadline.
 */
export class ManualTimers {
  now: number
  private pending: Array<{ at: number; resolve: () => void }> = []
  constructor(now: number) {
    this.now = now
  }
  readonly clock = { now: (): number => this.now }
  readonly wait = async (ms: number, options: { signal?: AbortSignal }): Promise<void> =>
    await new Promise<void>((resolve) => {
      if (options.signal?.aborted === true) return resolve()
      const entry = {
        at: this.now + ms,
        resolve: () => {
          options.signal?.removeEventListener('abort', done)
          resolve()
        }
      }
      const done = (): void => {
        this.pending = this.pending.filter((p) => p !== entry)
        entry.resolve()
      }
      options.signal?.addEventListener('abort', done, { once: true })
      this.pending.push(entry)
    })
  /** Waits pending now. */
  get waiting(): number[] {
    return this.pending.map((p) => p.at - this.now)
  }
  /** Fires every pending wait, moving the clock to the latest deadline among them. */
  fireAll(): void {
    const due = this.pending.splice(0)
    for (const p of due) this.now = Math.max(this.now, p.at)
    for (const p of due) p.resolve()
  }
}
