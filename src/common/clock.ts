/** Time, injected: modules read it only through a Clock, so that tests and simnet can set it. */

/** Time in milliseconds since the epoch. */
export interface Clock {
  now: () => number
}

/** The wall clock: for what is stamped with a time or compared with another machine's times. */
export const systemClock: Clock = { now: () => Date.now() }

/**
 * For intervals, throttles, deadlines and backoff: the wall clock as it read when this process
 * started, plus monotonic time since. It never steps: when NTP, an operator or a resumed VM moves
 * the wall clock back an hour, a throttle kept on it would stay shut for that hour (no cosigning,
 * no check of an announced checkpoint, no retry), and moved forward, every wait would end at once.
 */
export const steadyClock: Clock = { now: () => performance.timeOrigin + performance.now() }
