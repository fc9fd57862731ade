/**
 * The replication decisions, as pure functions of what this agent holds and what its peers said:
 * which feeds to announce now and to whom (with the entries pushed along, or not), what a received
 * announce calls for, what a puller is served and in which order, and how much of a revoked
 * device's feed counts (the owner's cut). Nothing here does I/O or reads a clock: the replicator
 * runs these decisions over streams, and tests run them on plain values.
 */
import type { SyncBatch } from '../../ledger/index.js'
import type { AnnounceKind } from './gossip.js'
import type { Announce, Announcement } from './messages.js'

/** How much of a feed counts: a revoked device's feed only up to the owner's cut. */
export function upToCut(size: number, cut: number | undefined): number {
  return Math.min(size, cut ?? size)
}

/** The sizes told to peers: every replica up to its cut, and the sealed part of the own feed. */
export function headsToTell(
  replicas: ReadonlyMap<string, number>,
  cutOf: (feed: string) => number | undefined,
  own: { feed: string; sealed: number }
): Map<string, number> {
  const heads = new Map<string, number>()
  for (const [feed, size] of replicas) heads.set(feed, upToCut(size, cutOf(feed)))
  heads.set(own.feed, own.sealed)
  return heads
}

/** The feeds an agent knows by name: its own, the owner's, and its members'. Peers may announce any name. */
export interface KnownFeeds {
  ownFeed: string
  ownerFeed: string
  isMember: (feed: string) => boolean
}

/** Whether a feed is one of the fleet's (only those are looked up or pulled). */
export function isFleetFeed(feed: string, known: KnownFeeds): boolean {
  return feed === known.ownFeed || feed === known.ownerFeed || known.isMember(feed)
}

/**
 * How a feed that changed here is announced: the own feed and the owner's to every attested peer
 * ('all'), a peer's feed this agent just cosigned as a cosignature, any other as a relay.
 */
export function announceKind(
  feed: string,
  known: Pick<KnownFeeds, 'ownFeed' | 'ownerFeed'>,
  cosignedSinceAnnounce: ReadonlySet<string>
): AnnounceKind {
  if (feed === known.ownFeed || feed === known.ownerFeed) return 'all'
  return cosignedSinceAnnounce.has(feed) ? 'cosignature' : 'relay'
}

/**
 * Of the feeds that changed, those to announce now: a relay waits until `relayDue` says so (a feed
 * growing in small steps is relayed once a second); the others go at once.
 */
export function feedsDue(
  changed: Iterable<string>,
  kindOf: (feed: string) => AnnounceKind,
  relayDue: (feed: string) => boolean
): string[] {
  return [...changed].filter((feed) => kindOf(feed) !== 'relay' || relayDue(feed))
}

/** What peers said they hold. */
export interface PeerHeadsView {
  holds: (peerId: string, feed: string, size: number) => boolean
  of: (peerId: string, feed: string) => number | undefined
}

export interface AnnouncePlanInput {
  feed: string
  /** The size announced (for the own feed, that of the checkpoint that goes with it). */
  size: number
  note: string
  /** This agent just cosigned the feed: the announce carries news even to peers that hold as much. */
  cosigned: boolean
  /** Entries go along with the announce (the own feed, served by the agent itself). */
  push: boolean
  /** Most entries pushed; a peer further behind is announced to, and pulls. */
  pushMaxEntries: number
  /** Attested peers, by PeerId. */
  peers: readonly string[]
  peerHeads: PeerHeadsView
  /** What is announced to a peer instead of size and note (an own feed served by someone else). */
  override?: (peerId: string) => { size: number; checkpoint: string } | undefined
}

export interface PlannedAnnounce {
  peerId: string
  size: number
  note: string
  /** Push the entries from here to `size` with the announce. */
  pushFrom?: number
}

/**
 * To whom a feed is announced, at what size, and with which entries pushed. A peer that said it
 * holds as much hears nothing (but a new cosignature). A peer that has not said yet where it
 * stands (it has just attested) gets a small own feed whole: it keeps what it lacks instead of
 * pulling on the announce.
 */
export function planAnnounce(input: AnnouncePlanInput): PlannedAnnounce[] {
  const planned: PlannedAnnounce[] = []
  for (const peerId of input.peers) {
    const override = input.override?.(peerId)
    const size = override?.size ?? input.size
    if (override === undefined && !input.cosigned && input.peerHeads.holds(peerId, input.feed, size)) continue
    const from = input.push
      ? (input.peerHeads.of(peerId, input.feed) ?? (size <= input.pushMaxEntries ? 0 : undefined))
      : undefined
    const note = override?.checkpoint ?? input.note
    if (from !== undefined && size > from && size - from <= input.pushMaxEntries)
      planned.push({ peerId, size, note, pushFrom: from })
    else planned.push({ peerId, size, note })
  }
  return planned
}

/** A received announce or push, as "the peer holds this much of this feed". */
export function announced(message: Announcement): Announce {
  if (message.t === 'announce') return message
  return {
    feed: message.batch.feed,
    size: message.batch.from + message.batch.entries.length,
    checkpoint: message.batch.checkpoint
  }
}

export type ReceiveDecision =
  /** Nothing is believed, learnt or pulled. */
  | { action: 'ignore' }
  /** An unattested peer's announce of the owner's feed: taken only with a newer owner-signed checkpoint. */
  | { action: 'owner-announce'; announce: Announce }
  /** An attested peer: learn its head, apply the pushed batch first when it brings more, then pull if still behind. */
  | { action: 'announce'; announce: Announce; applyPush?: SyncBatch }

/**
 * What a received announce or push calls for. Only an attested peer is heard; from any other (a
 * stranger, a device revoked or not yet judged) only an announce of the owner's feed, which the
 * owner hands over without attesting.
 */
export function receive(
  message: Announcement,
  from: { attested: boolean },
  ownerFeed: string,
  held: number
): ReceiveDecision {
  if (!from.attested) {
    return message.t === 'announce' && message.feed === ownerFeed
      ? { action: 'owner-announce', announce: message }
      : { action: 'ignore' }
  }
  const announce = announced(message)
  if (message.t === 'push' && announce.size > held) return { action: 'announce', announce, applyPush: message.batch }
  return { action: 'announce', announce }
}

/** After an announce (and any push applied): pull when the peer holds more than is held here. */
export function shouldPull(announce: Announce, held: number): boolean {
  return announce.size > held
}

/** One feed a puller is served: a replica (up to its cut) or the own feed. */
export interface ServedFeed {
  feed: string
  own: boolean
}

/**
 * The order a puller is served in: the owner's feed first (it says who the members are and who
 * is revoked), then the own feed, then every other replica by name.
 */
export function serveOrder(
  replicaFeeds: Iterable<string>,
  known: Pick<KnownFeeds, 'ownFeed' | 'ownerFeed'>
): ServedFeed[] {
  const feeds = [...replicaFeeds]
  const others = feeds
    .filter((feed) => feed !== known.ownerFeed && feed !== known.ownFeed)
    .sort((a, b) => a.localeCompare(b))
  const owner = feeds.includes(known.ownerFeed) ? [{ feed: known.ownerFeed, own: false }] : []
  return [...owner, { feed: known.ownFeed, own: true }, ...others.map((feed) => ({ feed, own: false }))]
}

/** Up to `count` of `items`, chosen with `random` (a fraction in [0, 1)); all of them, in random order, when there are no more. */
export function pickRandom<T>(items: readonly T[], count: number, random: () => number): T[] {
  const pool = [...items]
  const n = Math.min(count, pool.length)
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(random() * (pool.length - i))
    ;[pool[i], pool[j]] = [pool[j]!, pool[i]!]
  }
  return pool.slice(0, n)
}
