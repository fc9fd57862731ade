/**
 * Who hears of a feed that grew here. Announces go out over one stream per peer (Announcer); a
 * peer that said it holds as much hears nothing (PeerHeads). The own feed and the owner's are
 * announced to every attested peer. A peer's feed that grew here is passed on (relayed) only
 * when its writer is not attested here (otherwise the writer told its peers itself: agents find
 * each other by mDNS and mostly form a full mesh), to a few peers, at most once a second: it then
 * spreads in O(log N) rounds with O(N) announces, not O(N²). An own cosignature goes to the
 * feed's writer (its checkpoints then carry it to every puller) and a few others. Anti-entropy
 * pulls catch up whoever a round missed.
 */
import type { Connection } from '@libp2p/interface'
import type { FramedStream } from '../../p2p/index.js'
import type { Clock } from '../../common/index.js'
import { Announcer, type Push } from './announcer.js'
import { PeerHeads } from './peer-heads.js'
import { pickRandom } from './planner.js'
import { SYNC_PROTOCOL_LIMITS } from './limits.js'

/** How many peers a relay or a cosignature goes to (besides the writer, for a cosignature). */
export const RELAY_FANOUT = 3
/** A peer's feed is passed on at most this often (with its newest size then). */
export const RELAY_INTERVAL_MS = 1_000
/** Most entries of the own feed pushed to a peer (from what it said it holds); a larger gap is announced and pulled. */
export const PUSH_MAX_ENTRIES = 64
/** How many attested peers each anti-entropy round pulls from. */
export const ANTI_ENTROPY_PEERS = 2

/** all: the own feed or the owner's; cosignature: a peer's feed this agent just cosigned; relay: a peer's feed that grew here. */
export type AnnounceKind = 'all' | 'cosignature' | 'relay'
export interface AnnounceTarget {
  connection: Connection
  size: number
  note: string
  push?: Push
}

export class Gossip {
  readonly peerHeads = new PeerHeads()
  private readonly announcer: Announcer
  private readonly relayedAt = new Map<string, number>()
  /** When a peer was last shown this agent's checkpoint of a feed (showHeld), by 'peerId feed'. */
  private readonly shownHeld = new Map<string, number>()

  private readonly random: () => number

  /**
   * `allowed`: the peers announces may go to (attested ones), asked again as each is written.
   * `random`: a fraction in [0, 1), for choosing whom a relay goes to.
   */
  constructor(
    open: (connection: Connection) => Promise<FramedStream>,
    options: { idleMs: number; allowed?: (peerId: string) => boolean; random: () => number; clock?: Clock }
  ) {
    this.announcer = new Announcer(open, options)
    this.random = options.random
  }

  /** Whether a relay of `feed` may go out at `now` (and if so, that it does). */
  relayDue(feed: string, now: number): boolean {
    if (now - (this.relayedAt.get(feed) ?? 0) < RELAY_INTERVAL_MS) return false
    this.relayedAt.set(feed, now)
    return true
  }

  /**
   * Announces `feed` to the chosen ones of `targets` (attested peers not known to hold it, or
   * every attested peer for a cosignature). `writer`: the feed's device, as a peer, when known.
   */
  announce(
    feed: string,
    kind: AnnounceKind,
    targets: readonly AnnounceTarget[],
    writer?: { peerId: string; attested: boolean }
  ): void {
    let chosen: readonly AnnounceTarget[] = targets
    if (kind === 'cosignature') {
      const own = targets.filter((t) => t.connection.remotePeer.toString() === writer?.peerId)
      chosen = [
        ...own,
        ...pickRandom(
          targets.filter((t) => !own.includes(t)),
          RELAY_FANOUT,
          this.random
        )
      ]
    } else if (kind === 'relay') {
      chosen = writer?.attested === true ? [] : pickRandom(targets, RELAY_FANOUT, this.random)
    }
    for (const { connection, size, note, push } of chosen) this.announcer.send(connection, feed, size, note, push)
  }

  /**
   * Shows one peer this agent's checkpoint of `feed` (`held`), whatever the peer is known to hold,
   * at most every SYNC_PROTOCOL_LIMITS.showHeldIntervalMs per peer and feed: after the peer served
   * a batch that does not extend the history held here. The feed's device may have shown this
   * agent another history, from a point the peer is past; announces go only to peers not known to
   * hold as much, so the peer would never see it. Holding more, the peer checks it against its
   * own history and, if the device signed both, quarantines it and tells the fleet (evidence this
   * agent, holding less, cannot build).
   */
  async showHeld(
    connection: Connection,
    feed: string,
    now: number,
    held: () => Promise<{ size: number; note: string } | undefined>
  ): Promise<void> {
    const key = `${connection.remotePeer.toString()} ${feed}`
    if (now - (this.shownHeld.get(key) ?? Number.NEGATIVE_INFINITY) < SYNC_PROTOCOL_LIMITS.showHeldIntervalMs) return
    // Not being able to show it changes nothing about the refusal.
    const sealed = await held().catch(() => undefined)
    if (sealed === undefined) return
    if (this.shownHeld.size >= SYNC_PROTOCOL_LIMITS.maxShownHeld)
      this.shownHeld.delete(this.shownHeld.keys().next().value!)
    this.shownHeld.set(key, now)
    this.announcer.send(connection, feed, sealed.size, sealed.note)
  }

  /** A peer disconnected. */
  forget(peerId: string): void {
    this.peerHeads.forget(peerId)
    this.announcer.forget(peerId)
  }
}
