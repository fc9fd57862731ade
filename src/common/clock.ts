/** Time, injected: modules read it only through a Clock, so that tests and simnet can set it. */

/** Wall-clock time in milliseconds since the epoch. */
export interface Clock {
  now: () => number
}

export const systemClock: Clock = { now: () => Date.now() }
