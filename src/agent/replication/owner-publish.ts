import type { Connection, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { ownFeedSource, type LedgerStore } from '../../ledger/index.js'
import { FramedStream, type FleetNode } from '../../p2p/index.js'
import { LEDGER_SYNC_PROTOCOL, SYNC_PROTOCOL_LIMITS, readOpening, servePull, sendAnnounce } from './messages.js'
import { steadyClock, type Clock } from '../../common/index.js'

/**
 * The owner hands its feed (enrolments, revocations) to agents: it serves pulls of its own feed
 * to anyone (every entry is owner-signed, so agents verify it against the genesis key without
 * attesting the owner), and announces it, with its newest checkpoint, to the agents it dials.
 * Resolves with the agents that pulled up to `size`.
 */
export async function publishOwnerFeed(
  node: FleetNode,
  store: LedgerStore,
  feed: string,
  size: number,
  peers: Multiaddr[],
  options: { timeoutMs?: number; onServed?: (peerId: string) => void; clock?: Clock } = {}
): Promise<string[]> {
  const source = ownFeedSource(store, feed)
  const served = new Set<string>()
  let wake: (() => void) | undefined
  await node.handle(
    LEDGER_SYNC_PROTOCOL,
    async (stream: Stream, connection: Connection) => {
      const framed = new FramedStream(stream, {
        maxBytes: SYNC_PROTOCOL_LIMITS.maxFrameBytes,
        timeoutMs: SYNC_PROTOCOL_LIMITS.stepTimeoutMs
      })
      try {
        const opening = await readOpening(framed)
        if (opening.t !== 'pull') {
          await framed.close()
          return
        }
        await servePull(framed, opening.heads, [{ feed, batch: async (from) => await source.batch(from) }])
        // A puller that said it holds `size` already, or just received it, is up to date.
        const peerId = connection.remotePeer.toString()
        served.add(peerId)
        options.onServed?.(peerId)
        wake?.()
      } catch (err) {
        framed.abort(err as Error)
      }
    },
    { maxInboundStreams: 8 }
  )
  const reached: string[] = []
  try {
    await Promise.all(
      peers.map(async (addr) => {
        try {
          const connection = await node.dial(addr, { signal: AbortSignal.timeout(options.timeoutMs ?? 10_000) })
          const peerId = connection.remotePeer.toString()
          const stream = await connection.newStream(LEDGER_SYNC_PROTOCOL)
          // With its owner-signed checkpoint: agents act on an unattested peer's announce only with one.
          await sendAnnounce(new FramedStream(stream), feed, size, (await source.sealed())?.note ?? '')
          const clock = options.clock ?? steadyClock
          const deadline = clock.now() + (options.timeoutMs ?? 10_000)
          while (!served.has(peerId) && clock.now() < deadline)
            await new Promise<void>((resolve) => {
              wake = resolve
              setTimeout(resolve, 100)
            })
          if (served.has(peerId)) reached.push(peerId)
        } catch {}
      })
    )
  } finally {
    await node.unhandle(LEDGER_SYNC_PROTOCOL).catch(() => undefined)
  }
  return reached
}
