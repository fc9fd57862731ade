/**
 * Serving a peer's pull (/fleet/ledger-sync/1 opened with 'pull'): only to an attested peer
 * (its verdict may be a moment behind the stream), every feed held in serveOrder (a revoked
 * device's up to the owner's cut), and the members' records it lacks. What is served, the peer
 * then holds: announces and pushes to it start there.
 */
import type { SyncBatch } from '../../ledger/index.js'
import type { FramedStream } from '../../p2p/index.js'
import type { Clock } from '../../common/index.js'
import type { MemberRecords, Membership } from '../membership/index.js'
import type { ReplicaStore } from '../../ledger/index.js'
import type { PeerHeads } from './peer-heads.js'
import type { OwnFeedServer } from './own-feed-server.js'
import { membersToSend, servePull, type OpeningMessage } from './messages.js'
import { SYNC_PROTOCOL_LIMITS } from './limits.js'
import { serveOrder } from './planner.js'

export interface PullServerParts {
  attested: (peerId: string) => boolean
  /** Whether the peer is still connected. */
  connected: () => boolean
  clock: Clock
  peerHeads: PeerHeads
  replicas: ReplicaStore
  membership: Membership
  members: MemberRecords
  /** How the own feed is served (simnet's hostile servers stand in for it). */
  server: OwnFeedServer
  known: { ownFeed: string; ownerFeed: string }
}

export async function servePeerPull(
  framed: FramedStream,
  peerId: string,
  opening: Extract<OpeningMessage, { t: 'pull' }>,
  p: PullServerParts
): Promise<void> {
  const started = p.clock.now()
  while (!p.attested(peerId) && p.clock.now() - started < SYNC_PROTOCOL_LIMITS.attestedWaitMs)
    await new Promise((resolve) => setTimeout(resolve, 20))
  if (!p.attested(peerId)) {
    framed.abort(new Error('not attested'))
    return
  }
  if (p.connected()) p.peerHeads.learn(peerId, opening.heads)
  const served = (batch: SyncBatch | undefined): SyncBatch | undefined => {
    if (batch !== undefined) p.peerHeads.learn(peerId, [[batch.feed, batch.from + batch.entries.length]])
    return batch
  }
  const held = serveOrder((await p.replicas.feeds()).keys(), p.known).map(({ feed, own }) => ({
    feed,
    batch: own
      ? async (from: number) => served(await p.server.batch(peerId, from))
      : async (from: number) => served(await p.replicas.source(feed).batch(from, p.membership.cutOf(feed)))
  }))
  await servePull(framed, opening.heads, held, membersToSend(opening, p.members.held()))
}
