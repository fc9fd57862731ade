import type { SinkEvent } from './event.js'

/**
 * Where events go. deliver() resolves only once the sink took the whole batch (what "took"
 * means is each sink's: a webhook's 2xx, a syslog stream's written bytes); it throws when it
 * did not, and then nothing of the batch counts as delivered.
 */
export interface Sink {
  readonly name: string
  readonly kind: 'webhook' | 'syslog'
  /** Where it delivers, for status lines (no credentials). */
  readonly target: string
  /** How many events of `events` (of one feed, in order) the next batch takes: at least 1. */
  take(events: readonly SinkEvent[]): number
  deliver(events: readonly SinkEvent[], options?: { signal?: AbortSignal }): Promise<void>
  close(): Promise<void>
}
