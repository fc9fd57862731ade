import { SYNC_LIMITS } from '../../ledger/index.js'
import { SYNC_PROTOCOL_LIMITS } from './limits.js'

/**
 * What each connected peer is known to hold, from its announces and the heads of its pulls (the
 * most it has said per feed, at most SYNC_LIMITS.maxFeeds feeds a peer). A feed need not be
 * announced to a peer that already holds as much of it. Forgotten when the peer disconnects; at
 * most SYNC_PROTOCOL_LIMITS.maxPeersTracked peers.
 */
export class PeerHeads {
  private readonly known = new Map<string, Map<string, number>>()

  learn(peerId: string, heads: Iterable<[string, number]>): void {
    let known = this.known.get(peerId)
    if (known === undefined) {
      // Peers are forgotten when they disconnect; past the cap, the one heard of first goes.
      for (const [oldest] of this.known) {
        if (this.known.size < SYNC_PROTOCOL_LIMITS.maxPeersTracked) break
        this.known.delete(oldest)
      }
      known = new Map()
      this.known.set(peerId, known)
    }
    for (const [feed, size] of heads)
      if (size > (known.get(feed) ?? -1) && (known.size < SYNC_LIMITS.maxFeeds || known.has(feed)))
        known.set(feed, size)
  }

  /** True when the peer said it holds at least `size` entries of `feed`. */
  holds(peerId: string, feed: string, size: number): boolean {
    return (this.of(peerId, feed) ?? -1) >= size
  }

  /** The most the peer said it holds of `feed`, or undefined when it has not said. */
  of(peerId: string, feed: string): number | undefined {
    return this.known.get(peerId)?.get(feed)
  }

  forget(peerId: string): void {
    this.known.delete(peerId)
  }
}
