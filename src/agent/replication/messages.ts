/**
 * Ledger replication, /fleet/ledger-sync/1. The stream opener says what it wants first:
 *
 *   pull      {heads, members, the opener's size of every feed it holds, and a digest and the
 *              memberIds}      ids (8 bytes of SHA-256 each) of the enrolment records it holds;
 *                              the other side answers with the owner-signed enrolment records
 *                              it knows and the opener lacks (only when the digests differ:
 *                              they are ~6 KB each and rarely change), then
 *                              batches (entries + signed checkpoint + consistency proof) for
 *                              every feed it holds more of (the owner's feed first), then end {more}
 *   announce  {feed, size,     "I have this much of this feed", with the newest checkpoint held
 *              checkpoint}     (its witnesses' cosignatures included, or empty): the other side
 *                              pulls if behind, checks the checkpoint against its own copy
 *                              (equivocation), and keeps cosignatures it lacks
 *   batch     (a push)         on the announce stream, a writer's own feed from what the other
 *                              side said it holds: an announce that carries its entries (as a
 *                              pulled batch: entries + signed checkpoint + consistency proof).
 *                              Verified and stored like a pulled batch; one that does not start
 *                              where the receiver stands is a plain announce (it pulls)
 *
 * An announce stream carries announces and pushes, in any order, until its sender closes it.
 * Only attested peers are heard, pulled from and served: a pull names every feed's size and the
 * members held, so it goes only to an attested peer; the one exception is the owner's feed,
 * pulled alone from a peer that announced a newer checkpoint signed by the owner's key.
 * This module only turns messages into calls and back; storage and trust live elsewhere.
 */
import { FleetError } from '../../common/index.js'
import {
  type FramedStream,
  FrameTimeoutError,
  StreamEndedError,
  decodeMessage,
  encodeMessage,
  checkFields,
  type WireSchema,
  type WireMessage
} from '../../p2p/index.js'
import { SYNC_LIMITS, LEDGER_LIMITS, CHECKPOINT_LIMITS, type SyncBatch } from '../../ledger/index.js'
import { SYNC_PROTOCOL_LIMITS } from './limits.js'
import { MEMBER_ID_BYTES, type KnownMembers } from '../membership/index.js'

export const LEDGER_SYNC_PROTOCOL = '/fleet/ledger-sync/1'

/** What a sync failure is about, as far as the message that caused it says. */
export interface SyncEvidence {
  /** The feed concerned. */
  feed?: string
  /** The reason the peer gave when it stopped the exchange (an abort message), cut to 200 characters. */
  peerReason?: string
  /** The cap that was exceeded, and how much the peer sent or named. */
  limit?: number
  got?: number
}

/** Thrown when a peer breaks /fleet/ledger-sync/1 (or stops it); the stream is then aborted. */
export class SyncProtocolError extends FleetError {
  readonly evidence: SyncEvidence
  constructor(reason: string, evidence: SyncEvidence = {}) {
    super(`ledger sync: ${reason}`, { code: 'ERR_SYNC_PROTOCOL' })
    this.evidence = evidence
  }
}

/** The reason in a peer's abort message, bounded. */
function peerReason(message: unknown): string {
  return String((message as { reason?: unknown }).reason).slice(0, 200)
}

const FEED = /^[a-z2-7]{52}$/
export const PULL = {
  heads: { kind: 'list', maxItems: SYNC_LIMITS.maxFeeds, item: { kind: 'bytes', max: 60 } },
  members: { kind: 'bytes', size: 32, max: 32 },
  memberIds: { kind: 'list', maxItems: SYNC_LIMITS.maxFeeds, item: { kind: 'bytes', max: MEMBER_ID_BYTES } }
} as const satisfies WireSchema
export const ANNOUNCE = {
  feed: { kind: 'string', max: 52, pattern: FEED.source },
  size: { kind: 'uint' },
  checkpoint: { kind: 'bytes', max: CHECKPOINT_LIMITS.maxNoteBytes }
} as const satisfies WireSchema
export const BATCH = {
  feed: { kind: 'string', max: 52, pattern: FEED.source },
  from: { kind: 'uint' },
  entries: {
    kind: 'list',
    maxItems: SYNC_LIMITS.maxBatchEntries,
    item: { kind: 'bytes', max: LEDGER_LIMITS.maxEntryBytes }
  },
  checkpoint: { kind: 'bytes', max: CHECKPOINT_LIMITS.maxNoteBytes },
  proof: { kind: 'list', maxItems: LEDGER_LIMITS.maxProofHashes, item: { kind: 'bytes', max: 32 } }
} as const satisfies WireSchema
export const END = { more: { kind: 'bool' } } as const satisfies WireSchema
export const MEMBERS = {
  records: { kind: 'list', maxItems: SYNC_LIMITS.maxFeeds, item: { kind: 'bytes', max: 16 * 1024 } }
} as const satisfies WireSchema

function encodeHead(feed: string, size: number): Uint8Array {
  const out = Buffer.alloc(60)
  out.write(feed, 0, 'ascii')
  out.writeBigUInt64BE(BigInt(size), 52)
  return new Uint8Array(out)
}

function decodeHead(bytes: Uint8Array): [string, number] {
  if (bytes.length !== 60) throw new SyncProtocolError('a head is not 60 bytes')
  const feed = Buffer.from(bytes.subarray(0, 52)).toString('ascii')
  const size = Buffer.from(bytes).readBigUInt64BE(52)
  if (!FEED.test(feed) || size > BigInt(Number.MAX_SAFE_INTEGER)) throw new SyncProtocolError('a head is malformed')
  return [feed, Number(size)]
}

export type OpeningMessage =
  | { t: 'pull'; heads: Map<string, number>; members: Uint8Array; memberIds: Set<string> }
  | Announcement

/** The records to send a puller: none when the digests agree, else those whose ids it did not list. */
export function membersToSend(
  opening: { members: Uint8Array; memberIds: Set<string> },
  held: KnownMembers & { records: Uint8Array[] }
): Uint8Array[] {
  if (Buffer.from(opening.members).equals(held.digest)) return []
  return held.records.filter((_, i) => !opening.memberIds.has(Buffer.from(held.ids[i]!).toString('hex')))
}

/** Reads the opener's first message. */
export async function readOpening(stream: FramedStream): Promise<OpeningMessage> {
  const bytes = await stream.read()
  const probe = decodeMessage(LEDGER_SYNC_PROTOCOL, bytes, 'pull', PULL, SYNC_PROTOCOL_LIMITS.maxFrameBytes, {
    acceptTypes: ['announce', 'batch']
  })
  if (probe.t === 'announce') return announceOf(checkFields(LEDGER_SYNC_PROTOCOL, probe, 'announce', ANNOUNCE))
  if (probe.t === 'batch') return pushOf(probe)
  if (probe.t === 'abort')
    throw new SyncProtocolError(`the peer stopped: ${peerReason(probe)}`, { peerReason: peerReason(probe) })
  const heads = new Map<string, number>()
  const pullMessage = probe as { heads: Uint8Array[]; members: Uint8Array; memberIds: Uint8Array[] }
  for (const head of pullMessage.heads) {
    const [feed, size] = decodeHead(head)
    if (heads.has(feed)) throw new SyncProtocolError(`feed ${feed} named twice`, { feed })
    heads.set(feed, size)
  }
  if (pullMessage.memberIds.some((id) => id.length !== MEMBER_ID_BYTES))
    throw new SyncProtocolError(`a member id is not ${MEMBER_ID_BYTES} bytes`)
  return {
    t: 'pull',
    heads,
    members: pullMessage.members,
    memberIds: new Set(pullMessage.memberIds.map((id) => Buffer.from(id).toString('hex')))
  }
}

export function encodeAnnounce(feed: string, size: number, checkpoint = ''): Uint8Array {
  return encodeMessage('announce', { feed, size, checkpoint: Buffer.from(checkpoint) })
}

/** A batch frame: an answer to a pull, or a push on an announce stream. */
export function encodeBatch(batch: SyncBatch): Uint8Array {
  return encodeMessage('batch', {
    feed: batch.feed,
    from: batch.from,
    entries: batch.entries,
    checkpoint: Buffer.from(batch.checkpoint),
    proof: batch.proof
  })
}

/** One announce on a stream of its own, then the stream is closed. */
export async function sendAnnounce(stream: FramedStream, feed: string, size: number, checkpoint = ''): Promise<void> {
  await stream.write(encodeAnnounce(feed, size, checkpoint))
  await stream.close()
}

/**
 * The next announce or push on a stream that opened with one (peers keep one such stream open and
 * send each on it); undefined when the sender closed it or stayed quiet for `idleMs`. Anything
 * else is a protocol error.
 */
export async function readNextAnnounce(stream: FramedStream, idleMs: number): Promise<Announcement | undefined> {
  let bytes: Uint8Array
  try {
    bytes = await stream.read({ timeoutMs: idleMs })
  } catch (err) {
    if (err instanceof StreamEndedError || err instanceof FrameTimeoutError) return undefined
    throw err
  }
  return decodeAnnouncement(bytes)
}

export interface Announce {
  feed: string
  size: number
  checkpoint: string
}
/** What an announce stream carries: an announce, or a push of the sender's own feed. */
export type Announcement = ({ t: 'announce' } & Announce) | { t: 'push'; batch: SyncBatch }

/** An announce or push frame (decoded once; byte fields are views of it); anything else (an abort included) is a protocol error. */
function decodeAnnouncement(bytes: Uint8Array): Announcement {
  const m = decodeMessage(LEDGER_SYNC_PROTOCOL, bytes, 'announce', ANNOUNCE, SYNC_PROTOCOL_LIMITS.maxFrameBytes, {
    acceptTypes: ['batch'],
    byteViews: true
  })
  if (m.t === 'batch') return pushOf(m)
  if (m.t !== 'announce') throw new SyncProtocolError(`expected an announce, got "${String(m.t).slice(0, 20)}"`)
  return announceOf(m)
}

function announceOf(a: WireMessage<typeof ANNOUNCE>): Announcement {
  return { t: 'announce', feed: a.feed, size: a.size, checkpoint: Buffer.from(a.checkpoint).toString('utf8') }
}

/** A push: a batch frame decoded but not yet checked against its schema. */
function pushOf(record: Record<string, unknown>): Announcement {
  return { t: 'push', batch: syncBatchOf(checkFields(LEDGER_SYNC_PROTOCOL, record, 'batch', BATCH)) }
}

function syncBatchOf(b: WireMessage<typeof BATCH>): SyncBatch {
  return {
    feed: b.feed,
    from: b.from,
    entries: b.entries,
    checkpoint: Buffer.from(b.checkpoint).toString('utf8'),
    proof: b.proof
  }
}

/** Serves a pull: batches for every feed the puller is behind on, owner's feed first. */
export async function servePull(
  stream: FramedStream,
  heads: Map<string, number>,
  held: Array<{ feed: string; batch: (from: number) => Promise<SyncBatch | undefined> }>,
  members: Uint8Array[] = []
): Promise<number> {
  // The members first, so the puller knows the keys of the feeds that follow.
  if (members.length > 0)
    await stream.write(encodeMessage('members', { records: members.slice(0, SYNC_LIMITS.maxFeeds) }))
  let sent = 0
  let more = false
  for (const { feed, batch: next } of held) {
    let from = heads.get(feed) ?? 0
    for (;;) {
      if (sent >= SYNC_PROTOCOL_LIMITS.maxBatchesPerPull) {
        more = true
        break
      }
      const batch = await next(from)
      if (batch === undefined) break
      await stream.write(encodeBatch(batch))
      sent++
      from = batch.from + batch.entries.length
    }
    if (more) break
  }
  await stream.write(encodeMessage('end', { more }))
  await stream.close()
  return sent
}

/** Pulls from a peer: `apply` verifies and stores each batch (and throws to cut the peer off). Returns whether the peer has more. */
export async function pull(
  stream: FramedStream,
  heads: Map<string, number>,
  apply: (batch: SyncBatch) => Promise<void>,
  onMembers: (records: Uint8Array[]) => Promise<void> = async () => {},
  known: KnownMembers = { digest: new Uint8Array(32), ids: [] }
): Promise<{ batches: number; more: boolean }> {
  if (heads.size > SYNC_LIMITS.maxFeeds)
    throw new SyncProtocolError('too many feeds', { limit: SYNC_LIMITS.maxFeeds, got: heads.size })
  await stream.write(
    encodeMessage('pull', {
      heads: [...heads].map(([feed, size]) => encodeHead(feed, size)),
      members: known.digest,
      memberIds: known.ids.slice(0, SYNC_LIMITS.maxFeeds)
    })
  )
  let batches = 0
  for (;;) {
    const bytes = await stream.read()
    // Byte views: a batch's entries are verified and copied into the store's own buffers, then dropped.
    const m = decodeMessage(LEDGER_SYNC_PROTOCOL, bytes, 'batch', BATCH, SYNC_PROTOCOL_LIMITS.maxFrameBytes, {
      acceptTypes: ['end', 'members'],
      byteViews: true
    })
    if (m.t === 'abort')
      throw new SyncProtocolError(`the peer stopped: ${peerReason(m)}`, { peerReason: peerReason(m) })
    if (m.t === 'members') {
      if (batches > 0) throw new SyncProtocolError('members after batches')
      // Copies: the records are kept, and must not hold on to the frame.
      await onMembers(checkFields(LEDGER_SYNC_PROTOCOL, m, 'members', MEMBERS).records.map((record) => record.slice()))
      continue
    }
    if (m.t === 'end') {
      const end = checkFields(LEDGER_SYNC_PROTOCOL, m, 'end', END)
      await stream.close()
      return { batches, more: end.more }
    }
    if (++batches > SYNC_PROTOCOL_LIMITS.maxBatchesPerPull)
      throw new SyncProtocolError('the peer sent more batches than allowed', {
        limit: SYNC_PROTOCOL_LIMITS.maxBatchesPerPull,
        got: batches
      })
    await apply(syncBatchOf(m as WireMessage<typeof BATCH>))
  }
}

export { SYNC_PROTOCOL_LIMITS }
