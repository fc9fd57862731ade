import { AbortedError } from '../common/index.js'

/** Throws AbortedError when `signal` has aborted. */
export function checkNotAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new AbortedError()
}

/**
 * The promise's value, or AbortedError as soon as `signal` aborts. The work itself goes on (the
 * library's calls cannot be stopped); only the wait for it ends.
 */
export async function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return await promise
  checkNotAborted(signal)
  let onAbort: (() => void) | undefined
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(new AbortedError())
    signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([promise, aborted])
  } finally {
    signal.removeEventListener('abort', onAbort!)
  }
}
