import assert from 'node:assert/strict'
import { MessageChannel } from 'node:worker_threads'
import { AbortedError } from '../../../src/common/index.js'
import { SerialQueue } from '../../../src/attest/tpm/queue.js'

class Late extends Error {}

/** Keeps this thread busy (as a long synchronous stretch or a starved CPU would) for `ms`. */
function busy(ms: number): void {
  const until = performance.now() + ms
  while (performance.now() < until) {
    // spin
  }
}

/**
 * A task answered from outside the JS turn, as a native TPM call is: through an I/O completion,
 * posted at once. `started` resolves once the task runs (and so once its deadline is set).
 */
function answeredByIo<T>(value: T): { task: () => Promise<T>; started: Promise<void> } {
  let onStart!: () => void
  const started = new Promise<void>((resolve) => {
    onStart = resolve
  })
  const task = async (): Promise<T> => {
    const answered = new Promise<T>((resolve) => {
      const { port1, port2 } = new MessageChannel()
      port1.once('message', () => {
        port1.close()
        resolve(value)
      })
      port2.postMessage(0)
    })
    onStart()
    return await answered
  }
  return { task, started }
}

describe('attest/tpm/SerialQueue deadlines', () => {
  it('an answer that came in time is not a timeout when this process was too busy to hear it before the deadline', async () => {
    const queue = new SerialQueue()
    const io = answeredByIo('answered')
    const answer = queue.run(io.task, 20, () => new Late())
    await io.started
    // The answer is posted at once, but the thread is busy past the deadline: when it is free, the
    // deadline's timer and the answer are both due, and timers run first in a turn.
    busy(80)
    assert.equal(await answer, 'answered')
  })

  it('an abort that comes once the deadline has passed is a timeout, not a plain abort (the call may still run)', async () => {
    const queue = new SerialQueue()
    const controller = new AbortController()
    let started!: () => void
    const running = new Promise<void>((resolve) => {
      started = resolve
    })
    const never = queue.run(
      async () => {
        started()
        return await new Promise<never>(() => undefined)
      },
      20,
      () => new Late(),
      controller.signal
    )
    await running
    // Due after the deadline's timer: both run in the same turn once this thread is free.
    setTimeout(() => controller.abort(), 21)
    busy(80)
    await assert.rejects(never, Late)
  })

  it('a task that does not answer still times out, and the queue goes on with the next task', async () => {
    const queue = new SerialQueue()
    const never = queue.run(
      async () => await new Promise<never>(() => undefined),
      20,
      () => new Late()
    )
    const next = queue.run(answeredByIo(7).task, 1_000, () => new Late())
    await assert.rejects(never, Late)
    assert.equal(await next, 7)
  })

  it('an aborted signal ends the wait with AbortedError, and a task after an abort does not start', async () => {
    const queue = new SerialQueue()
    const controller = new AbortController()
    const waiting = queue.run(
      async () => await new Promise<never>(() => undefined),
      10_000,
      () => new Late(),
      controller.signal
    )
    let started = false
    const after = queue.run(
      async () => {
        started = true
      },
      10_000,
      () => new Late(),
      controller.signal
    )
    controller.abort()
    await assert.rejects(waiting, AbortedError)
    await assert.rejects(after, AbortedError)
    assert.equal(started, false)
  })
})
