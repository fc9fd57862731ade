/** Randomness, injected: modules draw it only through a Random, so that tests and simnet can fix it. */
import { randomBytes, randomInt } from 'node:crypto'

export interface Random {
  /** Unpredictable bytes (nonces, seeds, challenges). */
  bytes: (length: number) => Uint8Array
  /** A fraction in [0, 1), for choices that need not be secret (which peers to ask). */
  fraction: () => number
}

const FRACTION_STEPS = 2 ** 48 - 1

export const cryptoRandom: Random = {
  bytes: (length) => new Uint8Array(randomBytes(length)),
  fraction: () => randomInt(FRACTION_STEPS) / FRACTION_STEPS
}
