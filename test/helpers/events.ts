/** Waiting on what the code under test reports: a callback hook (e.g. an agent's onReplication), a libp2p event. */
import assert from 'node:assert/strict'
import type { Libp2p, Libp2pEvents, PeerId } from '@libp2p/interface'

/**
 * Keeps every event a hook reports, in order, and resolves waits on them. Give `record` as the
 * hook; take `mark` before doing what should cause an event, then wait with `next(…, { from })`:
 * an event that came between the mark and the wait is not missed.
 */
export class EventLog<T> {
  readonly seen: T[] = []
  private readonly waiting = new Set<() => void>()

  /** The hook. */
  readonly record = (event: T): void => {
    this.seen.push(event)
    for (const check of [...this.waiting]) check()
  }

  /** Where the next event will be kept: what comes from here on. */
  get mark(): number {
    return this.seen.length
  }

  /** The events kept since `from` that `match`. */
  since(from: number, match: (event: T) => boolean): T[] {
    return this.seen.slice(from).filter(match)
  }

  /**
   * Resolves with the events since `from` (default: now) that `match`, once there are `count` of
   * them (default 1). Fails the test after `ms` (a deadline, not a pause).
   */
  async next(
    match: (event: T) => boolean,
    what: string,
    options: { from?: number; count?: number; ms?: number } = {}
  ): Promise<T[]> {
    const { from = this.mark, count = 1, ms = 30_000 } = options
    const found = (): T[] | undefined => {
      const matching = this.since(from, match)
      return matching.length >= count ? matching : undefined
    }
    const already = found()
    if (already !== undefined) return already
    return await new Promise<T[]>((resolve, reject) => {
      const check = (): void => {
        const matching = found()
        if (matching === undefined) return
        this.waiting.delete(check)
        clearTimeout(deadline)
        resolve(matching)
      }
      const deadline = setTimeout(() => {
        this.waiting.delete(check)
        reject(new assert.AssertionError({ message: `timed out after ${ms} ms waiting for ${what}` }))
      }, ms)
      this.waiting.add(check)
    })
  }
}

/** Resolves with the detail of the first `type` event of `node` whose detail `match`es; fails the test after `ms`. */
export async function nextEvent<K extends keyof Libp2pEvents>(
  node: Libp2p,
  type: K,
  match: (detail: Libp2pEvents[K]['detail']) => boolean,
  what: string,
  ms = 30_000
): Promise<Libp2pEvents[K]['detail']> {
  return await new Promise((resolve, reject) => {
    const listener = (event: Libp2pEvents[K]): void => {
      if (!match(event.detail)) return
      node.removeEventListener(type, listener)
      clearTimeout(deadline)
      resolve(event.detail)
    }
    const deadline = setTimeout(() => {
      node.removeEventListener(type, listener)
      reject(new assert.AssertionError({ message: `timed out after ${ms} ms waiting for ${what}` }))
    }, ms)
    node.addEventListener(type, listener)
  })
}

/** Resolves once `node` has no connection to `peer` left (at once when it has none now); fails the test after `ms`. */
export async function disconnected(node: Libp2p, peer: PeerId, what: string, ms = 30_000): Promise<void> {
  if (node.getConnections(peer).length === 0) return
  await nextEvent(node, 'peer:disconnect', (gone) => gone.equals(peer), what, ms)
}
