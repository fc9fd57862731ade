import type { Random } from '../../common/index.js'
import { SINK_LIMITS } from './limits.js'

/**
 * How long to wait after the `failures`-th failure in a row (1 for the first): exponential from
 * SINK_LIMITS.retryBaseMs, capped at retryCapMs, with "equal jitter" (half fixed, half random)
 * so that agents a collector outage hit together do not all come back at the same instant, and
 * none waits less than half its step.
 */
export function retryDelayMs(failures: number, random: Pick<Random, 'fraction'>): number {
  const step = Math.min(SINK_LIMITS.retryCapMs, SINK_LIMITS.retryBaseMs * 2 ** Math.min(30, Math.max(0, failures - 1)))
  return Math.round(step / 2 + (step / 2) * random.fraction())
}

/** Waits `ms`, or less when `signal` aborts (it resolves then, never rejects). */
export type Wait = (ms: number, options: { signal?: AbortSignal }) => Promise<void>

/** The wait of the system's timers. */
export const timerWait: Wait = async (ms, options) =>
  await new Promise<void>((resolve) => {
    if (options.signal?.aborted === true) return resolve()
    const done = (): void => {
      clearTimeout(timer)
      options.signal?.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    options.signal?.addEventListener('abort', done, { once: true })
  })
