/**
 * Announces to peers over one long-lived stream per peer: opening a libp2p stream (protocol
 * negotiation, peer-store update, its own frames to open and close) costs more than the
 * announce it carries, and a fleet sends many. Announces to one peer go out in order, one at a
 * time; while one is being written, a newer announce of a feed replaces one still waiting.
 * A stream that fails is dropped and the next announce opens another.
 *
 * An announce may be a push (the entries themselves, from what the peer holds): a newer push
 * replaces a waiting one only when it starts no later, so the peer is never handed a gap;
 * otherwise the newer one goes as a plain announce (the peer pulls).
 */
import type { Connection } from '@libp2p/interface'
import type { FramedStream } from '../../p2p/index.js'
import { encodeAnnounce } from './messages.js'
import { steadyClock, type Clock } from '../../common/index.js'

/** A push: the batch frame, and the size the peer holds that it starts from. */
export interface Push {
  from: number
  frame: Uint8Array
}
interface Waiting {
  size: number
  note: string
  push?: Push
}
interface Channel {
  connection: Connection
  stream?: Promise<FramedStream>
  waiting: Map<string, Waiting>
  flushing: boolean
  usedAt: number
}

export class Announcer {
  private readonly channels = new Map<string, Channel>()
  private readonly open: (connection: Connection) => Promise<FramedStream>
  private readonly idleMs: number
  private readonly allowed: (peerId: string) => boolean

  /**
   * `idleMs`: a stream quiet this long is closed here and a new one opened for the next announce
   * (well before the receiver gives up on a quiet stream, so announces do not race its close).
   * `allowed`: asked again just before each announce is written (a peer may have lost its
   * attestation since it was queued); a peer no longer allowed is forgotten.
   */
  private readonly clock: Clock

  constructor(
    open: (connection: Connection) => Promise<FramedStream>,
    options: { idleMs: number; allowed?: (peerId: string) => boolean; clock?: Clock }
  ) {
    this.clock = options.clock ?? steadyClock
    this.open = open
    this.idleMs = options.idleMs
    this.allowed = options.allowed ?? (() => true)
  }

  /** Queues an announce of `feed` (or, with `push`, its entries) to the peer at the other end of `connection`. */
  send(connection: Connection, feed: string, size: number, note: string, push?: Push): void {
    const peerId = connection.remotePeer.toString()
    let channel = this.channels.get(peerId)
    if (!this.allowed(peerId)) {
      this.forget(peerId)
      return
    }
    if (channel?.connection !== connection) {
      if (channel !== undefined) this.forget(peerId)
      channel = { connection, waiting: new Map(), flushing: false, usedAt: this.clock.now() }
      this.channels.set(peerId, channel)
    }
    const waiting = channel.waiting.get(feed)
    // A newer size wins; at the same size, the note with more signatures (an own cosignature) does.
    if (waiting === undefined || size > waiting.size || (size === waiting.size && note.length >= waiting.note.length)) {
      // A push that would leave out the entries of the one it replaces goes as a plain announce.
      const covers = push !== undefined && (waiting?.push === undefined || push.from <= waiting.push.from)
      channel.waiting.set(feed, covers ? { size, note, push } : { size, note })
    }
    if (!channel.flushing) void this.flush(peerId, channel)
  }

  /** Forgets a peer (it disconnected): its stream is closed and what waited for it dropped. */
  forget(peerId: string): void {
    const channel = this.channels.get(peerId)
    if (channel === undefined) return
    this.channels.delete(peerId)
    channel.waiting.clear()
    this.close(channel)
  }

  /** Peers with a channel (for tests and status). */
  get size(): number {
    return this.channels.size
  }

  private close(channel: Channel): void {
    void channel.stream
      ?.then(async (stream) => {
        await stream.close()
      })
      .catch(() => undefined)
    channel.stream = undefined
  }

  private async flush(peerId: string, channel: Channel): Promise<void> {
    channel.flushing = true
    try {
      for (let next = channel.waiting.entries().next(); !next.done; next = channel.waiting.entries().next()) {
        const [feed, { size, note, push }] = next.value
        channel.waiting.delete(feed)
        if (channel.connection.status !== 'open' || !this.allowed(peerId)) {
          if (this.channels.get(peerId) === channel) this.forget(peerId)
          return
        }
        const frame = push?.frame ?? encodeAnnounce(feed, size, note)
        if (channel.stream !== undefined && this.clock.now() - channel.usedAt > this.idleMs) this.close(channel)
        // A stream the peer closed fails the write: one more try on a new stream; after that the
        // announce is dropped (anti-entropy catches up).
        for (let attempt = 0; attempt < 2; attempt++) {
          channel.stream ??= this.open(channel.connection)
          const stream = channel.stream
          try {
            const framed = await stream
            // The peer stops reading a stream by closing its end: then this one is done too.
            const raw = framed.stream
            if (raw.status !== 'open' || raw.writeStatus !== 'writable' || raw.remoteWriteStatus !== 'writable')
              throw new Error('the announce stream is closed')
            await framed.write(frame)
            channel.usedAt = this.clock.now()
            break
          } catch {
            if (channel.stream === stream) channel.stream = undefined
            void stream.then(
              (s) => {
                s.abort(new Error('announce stream failed'))
              },
              () => undefined
            )
          }
        }
      }
    } finally {
      channel.flushing = false
    }
  }
}
