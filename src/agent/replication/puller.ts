/**
 * Pulls over /fleet/ledger-sync/1: from an attested peer everything it holds more of, one pull
 * per peer at a time, repeated while it has more; pulls take turns across peers; each is cut off
 * after pullDeadlineMs. The owner's feed, alone, may be pulled from a peer that is not attested.
 * What a pull brings is handed to `apply` (verify and store); this file only runs the pulls.
 */
import type { Connection } from '@libp2p/interface'
import type { SyncBatch } from '../../ledger/index.js'
import type { FramedStream, FleetNode } from '../../p2p/index.js'
import type { Logger } from '../ops/index.js'
import type { MemberRecords } from '../membership/index.js'
import { SyncProtocolError, pull } from './messages.js'
import { SYNC_PROTOCOL_LIMITS } from './limits.js'
import type { ReplicationEvent } from './events.js'

export interface PullerComponents {
  node: FleetNode
  /** Whether a peer holds a trusted verdict now. */
  attested: (peerId: string) => boolean
  members: MemberRecords
  logger?: Logger
}

export interface PullerInit {
  ownerFeed: string
  /** A new /fleet/ledger-sync/1 stream on the connection, framed. */
  open: (connection: Connection) => Promise<FramedStream>
  /** The sizes told to the server: every feed held. */
  heads: () => Promise<Map<string, number>>
  /** How much of one feed is held. */
  held: (feed: string) => Promise<number>
  /** Verifies and stores a batch a peer sent (throws when the pull must stop). */
  apply: (batch: SyncBatch, peerId: string) => Promise<void>
  onEvent?: (event: ReplicationEvent) => void
}

export class Puller {
  private readonly c: PullerComponents
  private readonly init: PullerInit
  private readonly pulling = new Map<string, { again: boolean }>()
  private pullTurn: Promise<void> = Promise.resolve()
  private stopped = false
  /** Since start: pulls asked for (on attestation, announce or anti-entropy; one already running counts too). */
  readonly counts = { pullsAsked: 0 }

  constructor(components: PullerComponents, init: PullerInit) {
    this.c = components
    this.init = init
  }

  /** No pull starts after this; those running end at their next step. */
  stop(): void {
    this.stopped = true
  }

  private openConnection(peerId: string): Connection | undefined {
    return this.c.node.getConnections().find((c) => c.remotePeer.toString() === peerId && c.status === 'open')
  }

  /** One pull over a new stream, cut off after pullDeadlineMs. Returns whether the peer has more. */
  private async pullOnce(
    connection: Connection,
    heads: Map<string, number>,
    onBatch: (batch: SyncBatch) => Promise<void>,
    onMembers: (records: Uint8Array[]) => Promise<void>,
    known: Parameters<typeof pull>[4]
  ): Promise<boolean> {
    const framed = await this.init.open(connection)
    const limit = SYNC_PROTOCOL_LIMITS.pullDeadlineMs
    const deadline = setTimeout(() => {
      framed.abort(new SyncProtocolError(`the pull took longer than ${limit} ms`, { limit }))
    }, limit)
    let ok = false
    try {
      const { more } = await pull(framed, heads, onBatch, onMembers, known)
      ok = true
      return more
    } catch (err) {
      framed.abort(err as Error)
      throw err
    } finally {
      clearTimeout(deadline)
      this.init.onEvent?.({ type: 'pull-ended', peerId: connection.remotePeer.toString(), ok })
    }
  }

  /** Pulls the owner's feed, and nothing else, from a peer that need not be attested. */
  async pullOwnerFeed(peerId: string): Promise<void> {
    const key = `owner-feed/${peerId}`
    if (this.pulling.has(key) || this.stopped) return
    this.pulling.set(key, { again: false })
    const owner = this.init.ownerFeed
    try {
      for (let round = 0; round < SYNC_PROTOCOL_LIMITS.maxOwnerFeedPulls; round++) {
        const connection = this.openConnection(peerId)
        if (connection === undefined || this.stopped) return
        const onBatch = async (batch: SyncBatch): Promise<void> => {
          if (batch.feed !== owner) {
            const reason = `an unattested peer sent feed ${batch.feed}, not the owner's`
            throw new SyncProtocolError(reason, { feed: batch.feed })
          }
          await this.init.apply(batch, peerId)
        }
        const onMembers = async (): Promise<void> => {
          throw new SyncProtocolError('an unattested peer sent enrolment records')
        }
        const heads = new Map([[owner, await this.init.held(owner)]])
        const more = await this.pullOnce(connection, heads, onBatch, onMembers, { digest: new Uint8Array(32), ids: [] })
        if (!more) return
      }
    } catch (err) {
      this.c.logger?.debug({ peerId, err: (err as Error).message }, "pull of the owner's feed failed")
    } finally {
      this.pulling.delete(key)
    }
  }

  /**
   * Pulls everything a peer holds more of; one pull per peer at a time, repeated while it has
   * more. Only from an attested peer: a pull tells the other side every feed's size and the
   * members known here.
   */
  async pullFrom(peerId: string): Promise<void> {
    this.counts.pullsAsked++
    if (!this.c.attested(peerId)) return
    const running = this.pulling.get(peerId)
    if (running !== undefined) {
      running.again = true
      return
    }
    const state = { again: true }
    this.pulling.set(peerId, state)
    try {
      while (state.again && !this.stopped) {
        state.again = false
        const connection = this.openConnection(peerId)
        if (connection === undefined || !this.c.attested(peerId)) return
        // One pull at a time across all peers: when several announce the same entries, the first
        // pull fetches them and the next ones find nothing left to send. A pull holds the turn for
        // at most pullTurnMs (a slow or hostile server must not stall replication from the others),
        // and a whole pull is cut off after pullDeadlineMs.
        const turn = this.pullTurn.then(
          async () =>
            await this.pullOnce(
              connection,
              await this.init.heads(),
              async (batch) => {
                await this.init.apply(batch, peerId)
              },
              async (records) => {
                await this.c.members.take(records)
              },
              this.c.members.held()
            )
        )
        const settled = turn.then(
          () => undefined,
          () => undefined
        )
        const turnOver = new Promise<void>((resolve) => {
          setTimeout(resolve, SYNC_PROTOCOL_LIMITS.pullTurnMs).unref()
        })
        this.pullTurn = Promise.race([settled, turnOver])
        try {
          if (await turn) state.again = true
        } catch (err) {
          this.c.logger?.warn({ peerId, err: (err as Error).message }, 'replication from a peer failed')
          return
        }
      }
    } catch (err) {
      this.c.logger?.debug({ peerId, err: (err as Error).message }, 'pull failed')
    } finally {
      this.pulling.delete(peerId)
    }
  }
}
