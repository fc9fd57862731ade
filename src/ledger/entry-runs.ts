import { FleetError } from '../common/index.js'
import { LEDGER_LIMITS } from './limits.js'
import type { LedgerSublevel } from './store/index.js'

/**
 * How a feed's entries lie in LevelDB: in runs of consecutive entries, one value per run, under
 * the key of the run's last seq (16 hex digits). One LevelDB key per batch instead of per entry
 * is what makes group commit cheap: LevelDB's cost is mostly per key (memtable insert, index,
 * compaction), and the append path no longer builds a key string per entry.
 *
 * A run of one entry is the entry's own bytes (an entry is a CBOR map, so its first byte is never
 * 0x01). A longer run is
 *
 *     0x01 ‖ count (u32 BE) ‖ count × length (u32 BE) ‖ the entries, concatenated
 *
 * Keying by the last seq lets one forward seek find the run holding any seq, and a forward
 * iterator from there read any range. Runs are written once and never rewritten.
 */

/** First byte of a run of more than one entry (CBOR's unsigned 1: never the start of an entry). */
const RUN_MARKER = 0x01

export const RUN_LIMITS = {
  /** Entries in one run (a group-commit chunk or a sync batch fits). */
  maxEntries: 4096,
  /** Bytes of one run value. */
  maxBytes: 32 * 1024 * 1024
} as const

/** Thrown when a stored run does not parse: the store was altered or damaged. */
export class MalformedRunError extends FleetError {
  readonly key: string
  constructor(key: string, reason: string) {
    super(`stored entries under ${key}: ${reason}`, { code: 'ERR_MALFORMED_RUN' })
    this.key = key
  }
}

export const seqKey = (seq: number): string => seq.toString(16).padStart(16, '0')

const SEQ_KEY = /^[0-9a-f]{16}$/

/** The last seq of a run from its key. */
export function runLast(key: string): number {
  const last = SEQ_KEY.test(key) ? Number.parseInt(key, 16) : Number.NaN
  if (!Number.isSafeInteger(last)) throw new MalformedRunError(key, 'the key is not a seq')
  return last
}

/** The value of a run holding `entries` (at least one); see encodeRunFromSpans for the hot paths. */
export function encodeRun(entries: readonly Uint8Array[]): Uint8Array {
  if (entries.length === 1) return entries[0]!
  const buf = new Uint8Array(entries.reduce((n, entry) => n + entry.length, 0))
  const spans = new Uint32Array(2 * entries.length)
  let at = 0
  entries.forEach((entry, i) => {
    buf.set(entry, at)
    spans[2 * i] = at
    at += entry.length
    spans[2 * i + 1] = at
  })
  return encodeRunFromSpans(buf, spans, entries.length, 2, 0)
}

/**
 * The value of a run of `count` entries lying in `buf` at [spans[stride·i] + skip, spans[stride·i + 1])
 * (the layout BatchEncoder hashes: each entry after its 0x00 leaf prefix). Written into `scratch`
 * when it is large enough (the result is then a view of it), else into a new buffer.
 */
export function encodeRunFromSpans(
  buf: Uint8Array,
  spans: Uint32Array,
  count: number,
  stride: number,
  skip: number,
  scratch?: Uint8Array
): Uint8Array {
  if (count === 1) return buf.subarray(spans[0]! + skip, spans[1]!)
  let total = 5 + 4 * count
  for (let i = 0; i < count; i++) total += spans[stride * i + 1]! - spans[stride * i]! - skip
  const out = scratch !== undefined && scratch.length >= total ? scratch.subarray(0, total) : new Uint8Array(total)
  const view = new DataView(out.buffer, out.byteOffset, total)
  out[0] = RUN_MARKER
  view.setUint32(1, count)
  // Buffer#copy copies without making a view of each entry.
  const source = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)
  let at = 5 + 4 * count
  for (let i = 0; i < count; i++) {
    const start = spans[stride * i]! + skip
    const end = spans[stride * i + 1]!
    view.setUint32(5 + 4 * i, end - start)
    source.copy(out, at, start, end)
    at += end - start
  }
  return out
}

/** The entries of a stored run (views into `value`), checked against the run format and caps. */
export function decodeRun(key: string, value: Uint8Array): Uint8Array[] {
  if (value.length === 0) throw new MalformedRunError(key, 'empty')
  if (value.length > RUN_LIMITS.maxBytes)
    throw new MalformedRunError(key, `${value.length} bytes, over ${RUN_LIMITS.maxBytes}`)
  if (value[0] !== RUN_MARKER) {
    // One entry; the entry decoder judges its bytes.
    if (value.length > LEDGER_LIMITS.maxEntryBytes)
      throw new MalformedRunError(key, `an entry of ${value.length} bytes, over ${LEDGER_LIMITS.maxEntryBytes}`)
    return [value]
  }
  if (value.length < 5) throw new MalformedRunError(key, 'truncated header')
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength)
  const count = view.getUint32(1)
  if (count < 2 || count > RUN_LIMITS.maxEntries)
    throw new MalformedRunError(key, `a run of ${count} entries (2 to ${RUN_LIMITS.maxEntries})`)
  let at = 5 + 4 * count
  if (at > value.length) throw new MalformedRunError(key, 'truncated header')
  const out: Uint8Array[] = new Array(count)
  for (let i = 0; i < count; i++) {
    const length = view.getUint32(5 + 4 * i)
    if (length === 0 || length > LEDGER_LIMITS.maxEntryBytes)
      throw new MalformedRunError(key, `entry ${i} of the run is ${length} bytes (1 to ${LEDGER_LIMITS.maxEntryBytes})`)
    if (at + length > value.length) throw new MalformedRunError(key, `entry ${i} of the run runs past its end`)
    out[i] = value.subarray(at, at + length)
    at += length
  }
  if (at !== value.length) throw new MalformedRunError(key, `${value.length - at} bytes after the last entry`)
  return out
}

/** One stored run: entries [first, last]. */
export interface Run {
  key: string
  first: number
  last: number
  entries: Uint8Array[]
}

function runOf(key: string, value: Uint8Array): Run {
  const last = runLast(key)
  const entries = decodeRun(key, value)
  const first = last - entries.length + 1
  if (first < 0) throw new MalformedRunError(key, `a run of ${entries.length} entries cannot end at ${last}`)
  return { key, first, last, entries }
}

/**
 * Reads a feed's entries from its 'entries' sublevel. The last run read is kept, so reading a
 * feed entry by entry decodes each run once.
 */
export class EntryRuns {
  private readonly store: LedgerSublevel
  private recent: Run | undefined

  /** `store`: a feed's 'entries' sublevel (feedSublevels). */
  constructor(store: LedgerSublevel) {
    this.store = store
  }

  /** Entry `seq`, or undefined when it is not stored. */
  async get(seq: number): Promise<Uint8Array | undefined> {
    const recent = this.recent
    if (recent !== undefined && seq >= recent.first && seq <= recent.last) return recent.entries[seq - recent.first]
    for await (const [key, value] of this.store.iterator({ gte: seqKey(seq), limit: 1 })) {
      const run = runOf(key, value)
      this.recent = run
      return seq >= run.first ? run.entries[seq - run.first] : undefined
    }
    return undefined
  }

  /**
   * Consecutive entries from `from`, below `to`, at most `limit`: fewer when the store has a gap
   * or ends. Runs are fetched a few at a time, as many as the runs seen so far suggest are needed.
   */
  async read(from: number, to: number, limit: number): Promise<Uint8Array[]> {
    const out: Uint8Array[] = []
    const want = Math.min(to - from, limit)
    if (want <= 0) return out
    const iterator = this.store.iterator({ gte: seqKey(from) })
    try {
      let next = from
      let runs = 0
      while (out.length < want) {
        const perRun = runs === 0 ? Number.POSITIVE_INFINITY : (out.length + runs) / runs
        const fetch = Math.max(1, Math.min(1000, Math.ceil((want - out.length) / perRun)))
        const chunk = await iterator.nextv(fetch)
        if (chunk.length === 0) break
        for (const [key, value] of chunk) {
          const run = runOf(key, value)
          runs++
          if (run.first > next) return out
          for (let seq = next; seq <= run.last && out.length < want; seq++) out.push(run.entries[seq - run.first]!)
          next = run.last + 1
          if (out.length >= want) break
        }
      }
    } finally {
      await iterator.close()
    }
    return out
  }

  /** Stored runs in order, from the one holding `from` (decoded; a malformed one throws). */
  async *runs(from = 0): AsyncGenerator<Run> {
    for await (const [key, value] of this.store.iterator({ gte: seqKey(from) })) yield runOf(key, value)
  }

  /** Entries in order from `from`, with their seqs, as stored (the caller checks for gaps). */
  async *entries(from = 0): AsyncGenerator<{ seq: number; bytes: Uint8Array }> {
    for await (const run of this.runs(from)) {
      for (let seq = Math.max(from, run.first); seq <= run.last; seq++)
        yield { seq, bytes: run.entries[seq - run.first]! }
    }
  }

  /** The newest `count` stored entries, oldest first. */
  async tail(count: number): Promise<Uint8Array[]> {
    const out: Uint8Array[] = []
    if (count <= 0) return out
    for await (const [key, value] of this.store.iterator({ reverse: true })) {
      const entries = runOf(key, value).entries
      out.unshift(...entries.slice(Math.max(0, entries.length - (count - out.length))))
      if (out.length >= count) break
    }
    return out
  }
}
