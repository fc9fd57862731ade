import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

// V8's collector, for tests that measure what stays reachable (no --expose-gc on mocha's command line).
setFlagsFromString('--expose-gc')

/** One full garbage collection. */
export const gc = runInNewContext('gc') as () => void
