import { AbortedError } from '../../common/index.js'

/**
 * Runs tasks one at a time (an ESYS context serves one command at a time) with a deadline per
 * task. A task that passes its deadline is reported through `onTimeout`, and its Promise rejects
 * with what that returns; the underlying native call may still be running, so the owner must treat
 * the device as unusable afterwards.
 *
 * The deadline is about the device not answering, not about this process being busy: when the
 * deadline's timer runs, an answer the device already gave may be waiting behind it in the same
 * turn of the event loop (a long synchronous stretch, a collection, a starved CPU delayed both).
 * Timers run before I/O completions in a turn, so the verdict waits for that turn's completions
 * (setImmediate runs after them) and an answer that came in time is not counted as a timeout.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve()

  run<T>(task: () => Promise<T>, deadlineMs: number, onTimeout: () => Error, signal?: AbortSignal): Promise<T> {
    const result = this.tail.then(async () => {
      if (signal?.aborted === true) throw new AbortedError()
      return await withDeadline(task(), deadlineMs, onTimeout, signal)
    })
    // The queue continues after failures; callers see them through `result`.
    this.tail = result.catch(() => undefined)
    return result
  }
}

function withDeadline<T>(
  work: Promise<T>,
  deadlineMs: number,
  onTimeout: () => Error,
  signal?: AbortSignal
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let late: NodeJS.Immediate | undefined
    const timer = setTimeout(() => {
      late = setImmediate(() => {
        cleanup()
        reject(onTimeout())
      })
    }, deadlineMs)
    const onAbort = (): void => {
      // Past the deadline already (its verdict waiting for this turn's completions): a timeout,
      // so that the owner learns the native call may still be running.
      const overdue = late !== undefined
      cleanup()
      reject(overdue ? onTimeout() : new AbortedError())
    }
    const cleanup = (): void => {
      clearTimeout(timer)
      if (late !== undefined) clearImmediate(late)
      signal?.removeEventListener('abort', onAbort)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
    work.then(
      (value) => {
        cleanup()
        resolve(value)
      },
      (err: unknown) => {
        cleanup()
        reject(err)
      }
    )
  })
}
