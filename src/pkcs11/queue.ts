import { AbortedError } from '../common/index.js'

/**
 * One operation at a time on a PKCS#11 session: C_SignInit and C_Sign (or an encryption) of two
 * callers must not interleave, and a session serves one thread at a time.
 *
 * An aborted caller stops waiting at once, but the next operation still waits for the one that
 * is running on the token to finish: the session is never given two operations at once.
 */
export class OperationQueue {
  private tail: Promise<unknown> = Promise.resolve()

  run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const work = this.tail.then(async () => {
      if (signal?.aborted === true) throw new AbortedError()
      return await task()
    })
    this.tail = work.catch(() => undefined)
    return signal === undefined ? work : abortable(work, signal)
  }

  /** Resolves when everything queued so far has finished. */
  async idle(): Promise<void> {
    await this.tail
  }
}

function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new AbortedError())
    if (signal.aborted) onAbort()
    signal.addEventListener('abort', onAbort, { once: true })
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(err)
      }
    )
  })
}
