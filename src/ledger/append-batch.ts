import type { Entry } from './entry.js'
import { CborWriter } from '../codec/index.js'
import { EntryWriter } from './entry-encoder.js'
import { LEDGER_LIMITS } from './limits.js'
import { MalformedEntryError } from './errors.js'
import { popCount, ROOTS_CAPACITY } from './batch-hash.js'
import type { Hasher } from './hasher.js'
import { encodeRunFromSpans, RUN_LIMITS, seqKey } from './entry-runs.js'
import type { LedgerBatch } from './store/index.js'

/** One queued append. */
export interface PendingAppend {
  entry: Entry
  /** Sealed within the ledger's routineBatchMs, not its batchMs (see FeedLedger.append). */
  routine: boolean
  resolve: (r: { seq: number; hash: Uint8Array }) => void
  reject: (e: Error) => void
}

/** Where the feed stands: after the last committed batch, or after one still being written. */
export interface FeedTip {
  size: number
  head: Uint8Array
  roots: Uint8Array[]
}

/** A batch encoded, hashed and staged in a store's batch, not yet written. */
export interface PreparedBatch extends FeedTip {
  readonly accepted: PendingAppend[]
  /** Entry hashes, 32 bytes each, in order. */
  readonly hashes: Uint8Array
  readonly first: number
  readonly write: LedgerBatch
}

const ZERO_HASH = new Uint8Array(32)

/** Above this many bytes the encoder's buffer is not kept for the next batch. */
const KEEP_WRITER_BYTES = 4 << 20

/**
 * Turns queued appends into a staged store batch: every entry CBOR-encoded into one buffer,
 * chained and hashed in one call (the injected Hasher), and put as one run (entry-runs.ts) with the
 * feed's new state record. The buffers are kept across batches: a LedgerBatch copies each key and
 * value when it is put, so they are free again as soon as prepare() returns.
 */
export class BatchEncoder {
  private writer = new EntryWriter(64 * 1024)
  private spans = new Uint32Array(3 * 1024)
  private readonly rootBytes = new Uint8Array(ROOTS_CAPACITY * 32)
  private readonly hasher: Hasher
  private readonly stateWriter = new CborWriter(4096)
  /** Where runs are put together; a batch copies a value when it is put, so it is reused. */
  private runBuf = new Uint8Array(0)

  constructor(hasher: Hasher) {
    this.hasher = hasher
  }

  /**
   * Encodes `batch` on top of `tip` at `time`, rejecting the appends that do not encode (over
   * the size cap); returns undefined when none does. Puts onto a chained batch from `open`; if
   * that throws (a closed database), rejects the encoded appends with what `failed` makes of it.
   */
  prepare(
    batch: PendingAppend[],
    tip: FeedTip,
    time: number,
    stage: {
      open: () => PreparedBatch['write']
      put: (write: PreparedBatch['write'], key: string, value: Uint8Array) => void
      /** The feed's state record, canonical CBOR of {size, head, frontier} (a view: put copies it). */
      putState: (write: PreparedBatch['write'], state: Uint8Array) => void
      failed: (err: unknown) => Error
    }
  ): PreparedBatch | undefined {
    const accepted: PendingAppend[] = []
    const first = tip.size
    if (this.spans.length < 3 * batch.length) this.spans = new Uint32Array(3 * batch.length)
    const spans = this.spans
    // All entries go into one buffer, each after a 0x00 byte so that the leaf hash input
    // (0x00 ‖ entry) is contiguous too; `prev` is left zero here and chained by hashEntries.
    // Spans are offsets, which stay valid when the buffer grows.
    const writer = this.writer
    writer.pos = 0
    for (const item of batch) {
      const start = writer.pos
      try {
        writer.byte(0)
        const entry = item.entry
        entry.seq = first + accepted.length
        entry.prev = ZERO_HASH
        entry.time = time
        writer.entry(entry)
        if (writer.pos - start - 1 > LEDGER_LIMITS.maxEntryBytes)
          throw new MalformedEntryError(
            `encodes to ${writer.pos - start - 1} bytes, over ${LEDGER_LIMITS.maxEntryBytes}`
          )
      } catch (err) {
        writer.pos = start
        item.reject(err as Error)
        continue
      }
      const at = 3 * accepted.length
      spans[at] = start
      spans[at + 1] = writer.pos
      spans[at + 2] = writer.prevAt
      accepted.push(item)
    }
    const count = accepted.length
    if (count === 0) return undefined
    const buf = writer.buf
    if (buf.length > KEEP_WRITER_BYTES) this.writer = new EntryWriter(64 * 1024)
    const hashes = new Uint8Array(32 * count)
    const rootBytes = this.rootBytes
    for (let i = 0; i < tip.roots.length; i++) rootBytes.set(tip.roots[i]!, 32 * i)
    this.hasher.hashEntries(buf, spans, count, tip.head, first, rootBytes, hashes)
    const size = first + count
    const roots: Uint8Array[] = []
    for (let i = 0, n = popCount(size); i < n; i++) roots.push(rootBytes.slice(32 * i, 32 * i + 32))
    const head = hashes.subarray(32 * (count - 1))
    let write: PreparedBatch['write'] | undefined
    try {
      write = stage.open()
      // The small state record first: a LevelDB batch is one growing buffer, so a small put after
      // a large one would copy the large one again.
      const state = this.stateWriter
      state.pos = 0
      state.map({ size, head, frontier: roots })
      stage.putState(write, state.subarray(0, state.pos))
      for (let at = 0; at < count; at += RUN_LIMITS.maxEntries) {
        const n = Math.min(RUN_LIMITS.maxEntries, count - at)
        const need = spans[3 * (at + n - 1) + 1]! - spans[3 * at]! + 5 + 3 * n
        if (this.runBuf.length < need && need <= KEEP_WRITER_BYTES)
          this.runBuf = new Uint8Array(Math.max(need, 2 * this.runBuf.length))
        stage.put(
          write,
          seqKey(first + at + n - 1),
          encodeRunFromSpans(buf, spans.subarray(3 * at), n, 3, 1, this.runBuf)
        )
      }
    } catch (err) {
      void write?.close().catch(() => undefined)
      const error = stage.failed(err)
      for (const item of accepted) item.reject(error)
      return undefined
    }
    return { accepted, hashes, first, size, head, roots, write }
  }
}
