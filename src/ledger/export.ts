import { bytesEqual, toHex } from '../common/index.js'
import type { HybridPublicKey } from '../identity/index.js'
import { decodeEntry } from './entry.js'
import { ExportViewMismatchError, FeedVerificationError } from './errors.js'
import { LEDGER_LIMITS, EXPORT_LIMITS } from './limits.js'
import { leafHash, MerkleFrontier } from './merkle.js'
import { CHECKPOINT_LIMITS, parseCheckpoint, verifyCheckpoint } from './checkpoint.js'
import { checkEntryAgainstOntology, type Ontology } from './ontology.js'
import { ActorProofRun, type ActorDirectory } from './actor-proof.js'
import { CosignatureTally, EntrySpan, type FeedReport } from './verify.js'
import { EntryRuns } from './entry-runs.js'
import { EpochSequence, type EpochAuthorisation } from './epochs.js'
import { checkEntryView, entryView, type EntryView } from './export-view.js'
import { feedSublevels, type LedgerSpace } from './store/index.js'

/**
 * The formats of an export, named by its header line's `format` (the CLI writes the header).
 * Frozen: do NOT change a version's lines; a new line field means a new version.
 *   fleet-export/1: the lines below without `derived`;
 *   fleet-export/2: every entry line has `derived`, the entry's derived view (export-view.ts), so
 *     that jq answers questions; a line without one is refused, as a query would pass it over.
 * Version 2 is written; both verify.
 */
export const EXPORT_FORMATS = ['fleet-export/1', 'fleet-export/2'] as const
export type ExportFormat = (typeof EXPORT_FORMATS)[number]
/** The format exportFeed writes. */
export const EXPORT_FORMAT: ExportFormat = 'fleet-export/2'

/** Whether `value` names a format this version verifies. */
export function isExportFormat(value: unknown): value is ExportFormat {
  return (EXPORT_FORMATS as readonly unknown[]).includes(value)
}

/**
 * A feed as JSON Lines, for auditors: every entry in order (its exact bytes, base64, with its hash,
 * type and time, and its derived view, for reading), then every checkpoint in order of size (the
 * signed-note text, with the cosignature lines of the fleet devices that witnessed it), then
 * one end line with the counts, so a truncated or shortened file is noticed. Frozen format.
 *
 *   {"kind":"entry","seq":0,"hash":"<hex>","entry":"<base64>","type":"device.enrol","time":1795000000000,
 *    "derived":{"seq":0,"type":"device.enrol","actor":{"id":"owner/clinic","role":"owner"},"device":"<deviceId>",
 *               "time":"2026-11-18T11:06:40.000Z","timeMs":1795000000000,"body":{"ekPubHash":{"hex":"…"},…}}}
 *   {"kind":"checkpoint","size":40,"note":"fleet/…\n40\n…"}
 *   {"kind":"end","feed":"<feedId>","entries":60,"checkpoints":2}
 *
 * The end line is not signed: against deliberate removal of the newest checkpoints, compare the
 * report with a checkpoint known from elsewhere (e.g. gossip).
 */
export interface ExportEntryLine {
  kind: 'entry'
  seq: number
  hash: string
  entry: string
  type: string
  time: number
  /** fleet-export/2: what `entry` decodes to, derived from it and checked against it, never trusted on its own. */
  derived: EntryView
}
export interface ExportCheckpointLine {
  kind: 'checkpoint'
  size: number
  note: string
}
export interface ExportEndLine {
  kind: 'end'
  feed: string
  entries: number
  checkpoints: number
}
export type ExportLine = ExportEntryLine | ExportCheckpointLine | ExportEndLine

const ENTRY_FIELDS_V1 = ['kind', 'seq', 'hash', 'entry', 'type', 'time'] as const
const ENTRY_FIELDS_V2 = [...ENTRY_FIELDS_V1, 'derived'] as const
const HEX32 = /^[0-9a-f]{64}$/
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** Exports a feed as stored at `space` (the layout FeedLedger writes) as JSONL-ready objects, in order. */
export async function* exportFeed(
  space: LedgerSpace,
  options: { feedId: string }
): AsyncGenerator<ExportLine, void, undefined> {
  const { entries, checkpoints } = feedSublevels(space)
  let count = 0
  for await (const { seq, bytes } of new EntryRuns(entries).entries()) {
    const decoded = decodeEntry(bytes)
    if (decoded.entry.feed !== options.feedId)
      throw new FeedVerificationError(`entry ${seq} belongs to another feed`, { seq })
    yield {
      kind: 'entry',
      seq,
      hash: toHex(decoded.hash),
      entry: Buffer.from(bytes).toString('base64'),
      type: decoded.entry.type,
      time: decoded.entry.time,
      derived: entryView(decoded.entry)
    }
    count++
  }
  let notes = 0
  for await (const [key, note] of checkpoints.iterator()) {
    yield { kind: 'checkpoint', size: Number.parseInt(key, 16), note: Buffer.from(note).toString('utf8') }
    notes++
  }
  yield { kind: 'end', feed: options.feedId, entries: count, checkpoints: notes }
}

/** The tree root after every entry, 32 bytes each, in chunks. */
class RootLog {
  private readonly chunks: Uint8Array[] = []
  private count = 0
  private static readonly PER_CHUNK = 4096

  push(root: Uint8Array): void {
    const at = this.count % RootLog.PER_CHUNK
    if (at === 0) this.chunks.push(new Uint8Array(32 * RootLog.PER_CHUNK))
    this.chunks[this.chunks.length - 1]!.set(root, at * 32)
    this.count++
  }

  /** The root of the tree of `size` entries (1 ≤ size ≤ count), or undefined. */
  at(size: number): Uint8Array | undefined {
    if (!Number.isSafeInteger(size) || size < 1 || size > this.count) return undefined
    const i = size - 1
    const chunk = this.chunks[Math.floor(i / RootLog.PER_CHUNK)]!
    const at = (i % RootLog.PER_CHUNK) * 32
    return chunk.subarray(at, at + 32)
  }
}

function record(value: unknown, fields: readonly string[], where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new FeedVerificationError(`${where}: not an object`)
  const rec = value as Record<string, unknown>
  const keys = Object.keys(rec)
  if (keys.length !== fields.length || !fields.every((f) => Object.hasOwn(rec, f)))
    throw new FeedVerificationError(`${where}: fields must be exactly ${fields.join(', ')}`)
  return rec
}

function isUint(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

/**
 * Re-verifies a feed from its export alone, as verifyStoredFeed does from the store: every entry
 * decodes strictly, belongs to this fleet and feed, has the right seq and prev, passes the
 * ontology, carries its actor's proof when an operator or auditor acted (checked by `actors`),
 * and matches the hash, type and time on its line; every checkpoint has a valid hybrid
 * signature by the feed key, names this fleet and feed, and matches the tree at its size, and
 * states epoch 1 or an epoch the owner authorised for the feed (`epochs`, from owner statements
 * proved in the export's trust chain), forking where the owner said, never going back; lines
 * come in order and the end line's counts match. In `options.format` fleet-export/2 (the default),
 * every entry line's derived view MUST be what its bytes decode to; it is read for that check
 * only, whose failure is told once everything else verified (ExportViewMismatchError as the
 * cause). In fleet-export/1 a line has none. Any changed, dropped, added or reordered line makes
 * it throw FeedVerificationError (with the typed check's error as `cause` where there is one).
 */
export async function verifyExport(
  lines: AsyncIterable<string> | Iterable<string>,
  trust: {
    feedKey: HybridPublicKey
    fleetId: Uint8Array
    feedId: string
    ontology: Ontology
    witnesses?: ReadonlyMap<string, HybridPublicKey>
    epochs?: ReadonlyMap<number, EpochAuthorisation>
    /** The fleet's enrolled actors: operators' and auditors' proofs are checked against them (refused without). */
    actors?: ActorDirectory
  },
  options: {
    maxLines?: number
    maxLineLength?: number
    format?: ExportFormat
    /** Told the entries verified so far, after each one. */
    onProgress?: (entries: number) => void
  } = {}
): Promise<FeedReport> {
  const signed = new ActorProofRun(trust.actors)
  const maxLines = options.maxLines ?? EXPORT_LIMITS.maxLines
  const maxLineLength = options.maxLineLength ?? EXPORT_LIMITS.maxLineLength
  const withViews = (options.format ?? EXPORT_FORMAT) === 'fleet-export/2'
  const origin = `fleet/${toHex(trust.fleetId)}/${trust.feedId}`
  const roots = new RootLog()
  let tree = new MerkleFrontier()
  let prev: Uint8Array = new Uint8Array(32)
  let phase: 'entries' | 'checkpoints' | 'done' = 'entries'
  let lineNo = 0
  let count = 0
  let checkpoints = 0
  let sealed = 0
  const tally = new CosignatureTally()
  const span = new EntrySpan()
  // The first view that is not what its bytes say: told once the bytes verified, so that a forged
  // entry is refused for what is wrong with its bytes, not for the view it kept.
  let misleading: ExportViewMismatchError | undefined
  const epochs = new EpochSequence(trust.feedId, trust.epochs)
  for await (const line of lines) {
    lineNo++
    const where = `line ${lineNo}`
    if (typeof line !== 'string') throw new FeedVerificationError(`${where}: not text`)
    if (phase === 'done') {
      if (line === '') continue
      throw new FeedVerificationError(`${where}: content after the end line`)
    }
    if (lineNo > maxLines) throw new FeedVerificationError(`more than ${maxLines} lines`)
    if (line.length > maxLineLength)
      throw new FeedVerificationError(`${where}: longer than ${maxLineLength} characters`)
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch {
      throw new FeedVerificationError(`${where}: not JSON`)
    }
    const kind = typeof value === 'object' && value !== null ? (value as Record<string, unknown>).kind : undefined

    if (kind === 'entry') {
      const seq = tree.size
      if (phase !== 'entries') throw new FeedVerificationError(`${where}: entry after the checkpoints`, { seq })
      const rec = record(value, withViews ? ENTRY_FIELDS_V2 : ENTRY_FIELDS_V1, where)
      if (rec.seq !== seq)
        throw new FeedVerificationError(`${where}: entry ${String(rec.seq)} out of sequence, expected ${seq}`, { seq })
      const text = rec.entry
      if (
        typeof text !== 'string' ||
        text.length > 4 * Math.ceil(LEDGER_LIMITS.maxEntryBytes / 3) ||
        !BASE64.test(text)
      )
        throw new FeedVerificationError(`entry ${seq}: not base64 within the size cap`, { seq })
      const bytes = new Uint8Array(Buffer.from(text, 'base64'))
      if (Buffer.from(bytes).toString('base64') !== text || bytes.length > LEDGER_LIMITS.maxEntryBytes)
        throw new FeedVerificationError(`entry ${seq}: not canonical base64 within the size cap`, { seq })
      let decoded: ReturnType<typeof decodeEntry>
      try {
        decoded = decodeEntry(bytes)
        checkEntryAgainstOntology(decoded.entry, trust.ontology)
      } catch (err) {
        throw new FeedVerificationError(`entry ${seq}: ${(err as Error).message}`, { seq, cause: err })
      }
      const entry = decoded.entry
      if (entry.seq !== seq || entry.feed !== trust.feedId || !bytesEqual(entry.fleet, trust.fleetId))
        throw new FeedVerificationError(`entry ${seq} is not entry ${seq} of this feed`, { seq })
      if (!bytesEqual(entry.prev, prev))
        throw new FeedVerificationError(`entry ${seq} does not chain to entry ${seq - 1}`, { seq })
      if (typeof rec.hash !== 'string' || !HEX32.test(rec.hash) || rec.hash !== toHex(decoded.hash))
        throw new FeedVerificationError(`entry ${seq}: the hash on its line is not the entry's`, { seq })
      if (rec.type !== entry.type || rec.time !== entry.time)
        throw new FeedVerificationError(`entry ${seq}: the type or time on its line is not the entry's`, { seq })
      if (withViews && misleading === undefined) {
        try {
          checkEntryView(rec.derived, entry)
        } catch (err) {
          if (!(err instanceof ExportViewMismatchError)) throw err
          misleading = err
        }
      }
      prev = decoded.hash
      tree = tree.append(leafHash(bytes))
      roots.push(tree.root())
      count++
      span.add(entry)
      await signed.add(entry)
      options.onProgress?.(count)
    } else if (kind === 'checkpoint') {
      if (phase === 'entries') await signed.flush()
      phase = 'checkpoints'
      const rec = record(value, ['kind', 'size', 'note'], where)
      const size = rec.size
      if (!isUint(size)) throw new FeedVerificationError(`${where}: checkpoint size is not an integer`)
      if (size <= sealed)
        throw new FeedVerificationError(`${where}: checkpoint of ${size} entries out of order`, {
          checkpointSize: size
        })
      const note = rec.note
      if (typeof note !== 'string' || note.length > CHECKPOINT_LIMITS.maxNoteBytes)
        throw new FeedVerificationError(`checkpoint ${size}: note is not text within the size cap`, {
          checkpointSize: size
        })
      let verified: ReturnType<typeof verifyCheckpoint>
      try {
        verified = verifyCheckpoint(parseCheckpoint(note), { name: trust.feedId, key: trust.feedKey }, trust.witnesses)
      } catch (err) {
        throw new FeedVerificationError(`checkpoint ${size}: ${(err as Error).message}`, { checkpointSize: size })
      }
      if (verified.body.size !== size)
        throw new FeedVerificationError(`checkpoint listed as ${size} entries signs ${verified.body.size}`, {
          checkpointSize: size
        })
      if (verified.body.origin !== origin)
        throw new FeedVerificationError(`checkpoint of ${size} entries is not of this fleet and feed`, {
          checkpointSize: size
        })
      const root = roots.at(size)
      if (root === undefined)
        throw new FeedVerificationError(`checkpoint of ${size} entries, but the feed holds ${tree.size}`, {
          checkpointSize: size
        })
      if (!bytesEqual(root, verified.body.root))
        throw new FeedVerificationError(
          `checkpoint of ${size} entries signs root ${toHex(verified.body.root)}, the entries give ${toHex(root)}`,
          { checkpointSize: size }
        )
      try {
        epochs.check(verified.body.epoch, size, (at) => roots.at(at))
      } catch (err) {
        throw new FeedVerificationError((err as Error).message, { checkpointSize: size, cause: err })
      }
      sealed = size
      checkpoints++
      tally.add(size, verified.cosigners)
    } else if (kind === 'end') {
      if (phase === 'entries') await signed.flush()
      const rec = record(value, ['kind', 'feed', 'entries', 'checkpoints'], where)
      if (rec.feed !== trust.feedId) throw new FeedVerificationError(`${where}: the export is of another feed`)
      if (rec.entries !== count || rec.checkpoints !== checkpoints)
        throw new FeedVerificationError(
          `${where}: the export lists ${String(rec.entries)} entries and ${String(rec.checkpoints)} checkpoints, it holds ${count} and ${checkpoints}`
        )
      phase = 'done'
    } else {
      throw new FeedVerificationError(`${where}: unknown line kind`)
    }
  }
  if (phase !== 'done')
    throw new FeedVerificationError(`the export ends after ${lineNo} lines without its end line: it is truncated`)
  if (misleading !== undefined)
    throw new FeedVerificationError(misleading.message, { seq: misleading.seq, cause: misleading })
  return { entries: tree.size, checkpoints, sealed, root: toHex(tree.root()), ...tally.report, ...span.report }
}

export { EXPORT_LIMITS }
