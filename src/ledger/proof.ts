import { bytesEqual, toHex, MalformedInputError } from '../common/index.js'
import type { HybridPublicKey } from '../identity/index.js'
import { decodeEntry, type Entry } from './entry.js'
import { ProofError, UnauthorisedEpochError } from './errors.js'
import type { EpochAuthorisation } from './epochs.js'
import { LEDGER_LIMITS, PROOF_BUNDLE_LIMITS } from './limits.js'
import { inclusionProof, leafHash, subtreeRoot, verifyInclusion } from './merkle.js'
import { parseCheckpoint, verifyCheckpoint } from './checkpoint.js'
import { withoutCosignatures } from './equivocation.js'
import { EntryRuns, seqKey } from './entry-runs.js'
import { checkEntryAgainstOntology, type Ontology } from './ontology.js'
import { feedSublevels, type LedgerSpace } from './store/index.js'

/**
 * A self-contained inclusion proof: one entry's exact bytes, the signed checkpoint that seals it,
 * and the RFC 9162 audit path from the entry's leaf to that checkpoint's root. Anyone holding the
 * feed's public key can check it offline with verifyProofBundle. JSON-serialisable. Frozen format.
 */
export interface ProofBundle {
  format: 'fleet-proof/1'
  /** The feed (deviceId) the entry belongs to. */
  feed: string
  /** The entry's position in the feed. */
  seq: number
  /** The entry's exact stored bytes, base64. */
  entry: string
  /** The signed-note text of the smallest checkpoint covering `seq`. */
  checkpoint: string
  /** The inclusion path of leaf `seq` in the tree of the checkpoint's size, base64 hashes. */
  proof: string[]
}

export interface VerifiedProof {
  feed: string
  seq: number
  /** The decoded entry, now known to be in the feed's signed tree. */
  entry: Entry
  checkpointSize: number
  /** The checkpoint's tree root, hex. */
  root: string
}

const FORMAT = 'fleet-proof/1'
const FIELDS = ['format', 'feed', 'seq', 'entry', 'checkpoint', 'proof'] as const
const DEVICE_ID = /^[a-z2-7]{52}$/
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** Thrown when a proof bundle is not the exact structure verifyProofBundle accepts. Exit code 2. */
export class MalformedProofBundleError extends MalformedInputError {
  constructor(reason: string) {
    super(`proof bundle: ${reason}`, { code: 'ERR_MALFORMED_PROOF_BUNDLE' })
  }
}

/** Strict base64: canonical padding, no whitespace, at most `maxBytes` decoded bytes. */
function base64Bytes(text: string, what: string, maxBytes: number): Uint8Array {
  if (text.length > 4 * Math.ceil(maxBytes / 3)) throw new MalformedProofBundleError(`${what} is too large`)
  if (!BASE64.test(text)) throw new MalformedProofBundleError(`${what} is not base64`)
  const bytes = Buffer.from(text, 'base64')
  if (bytes.toString('base64') !== text) throw new MalformedProofBundleError(`${what} is not canonical base64`)
  if (bytes.length > maxBytes) throw new MalformedProofBundleError(`${what} is too large`)
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length)
}

/**
 * Builds the inclusion-proof bundle of entry `seq` from a feed as stored at `space` (a store's
 * root for its own feed, replicaSpace for a replica: the layout FeedLedger writes). The bundle
 * names the smallest stored checkpoint covering `seq`; the path is computed from the stored
 * entries and checked against that checkpoint's root before it is returned.
 * Throws ProofError when `seq` is not stored or not yet sealed, or the store does not add up.
 */
export async function makeProofBundle(
  space: LedgerSpace,
  options: { feedId: string; seq: number }
): Promise<ProofBundle> {
  const { feedId, seq } = options
  if (!Number.isSafeInteger(seq) || seq < 0)
    throw new ProofError('inclusion', `seq ${String(seq)} is not a non-negative integer`)
  const sublevels = feedSublevels(space)
  const entries = new EntryRuns(sublevels.entries)
  const checkpoints = sublevels.checkpoints
  const entryBytes = await entries.get(seq)
  if (entryBytes === undefined) throw new ProofError('inclusion', `entry ${seq} is not stored`)
  const { entry } = decodeEntry(entryBytes)
  if (entry.feed !== feedId || entry.seq !== seq)
    throw new ProofError('inclusion', `the entry stored at ${seq} is not entry ${seq} of feed ${feedId}`)

  let note: string | undefined
  let noteKey: string | undefined
  for await (const [key, value] of checkpoints.iterator({ gt: seqKey(seq), limit: 1 })) {
    noteKey = key
    note = Buffer.from(value).toString('utf8')
  }
  if (note === undefined || noteKey === undefined)
    throw new ProofError('inclusion', `entry ${seq} is not sealed by a checkpoint yet`)
  const checkpoint = parseCheckpoint(note)
  const size = checkpoint.body.size
  if (noteKey !== seqKey(size))
    throw new ProofError('inclusion', `the checkpoint stored under ${noteKey} is of ${size} entries`)
  // The feed's own signatures prove inclusion; witnesses' cosignatures (up to ~55 KB) stay out.
  note = withoutCosignatures(note, feedId)
  if (Buffer.byteLength(note, 'utf8') > PROOF_BUNDLE_LIMITS.maxCheckpointBytes)
    throw new ProofError('inclusion', 'the sealing checkpoint is too large for a bundle')

  const leaves: Uint8Array[] = []
  for await (const { seq: at, bytes } of entries.entries()) {
    if (at >= size) break
    if (at !== leaves.length) throw new ProofError('inclusion', `entry ${leaves.length} is missing from the store`)
    leaves.push(leafHash(bytes))
  }
  if (leaves.length !== size)
    throw new ProofError('inclusion', `the checkpoint covers ${size} entries, the store holds ${leaves.length}`)
  if (!bytesEqual(subtreeRoot(leaves), checkpoint.body.root))
    throw new ProofError('inclusion', `the stored entries do not give the root of the checkpoint of ${size}`)
  const path = inclusionProof(leaves, seq, size)
  return {
    format: FORMAT,
    feed: feedId,
    seq,
    entry: Buffer.from(entryBytes).toString('base64'),
    checkpoint: note,
    proof: path.map((hash) => Buffer.from(hash).toString('base64'))
  }
}

/**
 * Verifies a proof bundle offline (e.g. parsed from untrusted JSON): the exact structure and
 * caps, the entry's strict encoding and position, the checkpoint's hybrid signature by the feed
 * key, and the entry's inclusion in the checkpoint's tree. Throws MalformedProofBundleError,
 * MalformedEntryError, MalformedCheckpointError, CheckpointSignatureError or ProofError (and the
 * ontology's errors when `trust.ontology` is given). A checkpoint of an epoch other than 1 stands
 * only when the owner authorised that epoch for the feed (`trust.epochs`): UnauthorisedEpochError.
 */
export function verifyProofBundle(
  value: unknown,
  trust: {
    feedKey: HybridPublicKey
    ontology?: Ontology
    fleetId?: Uint8Array
    epochs?: ReadonlyMap<number, EpochAuthorisation>
  }
): VerifiedProof {
  if (
    typeof value !== 'object' ||
    value === null ||
    Array.isArray(value) ||
    Object.getPrototypeOf(value) !== Object.prototype
  )
    throw new MalformedProofBundleError('not an object')
  const record = value as Record<string, unknown>
  const keys = Object.keys(record)
  for (const key of keys)
    if (!(FIELDS as readonly string[]).includes(key))
      throw new MalformedProofBundleError(`unknown field "${key.slice(0, 40)}"`)
  for (const key of FIELDS)
    if (!Object.hasOwn(record, key)) throw new MalformedProofBundleError(`missing field "${key}"`)
  if (record.format !== FORMAT) throw new MalformedProofBundleError(`format is not "${FORMAT}"`)
  const { feed, seq, checkpoint: note, proof } = record
  if (typeof feed !== 'string' || !DEVICE_ID.test(feed)) throw new MalformedProofBundleError('feed is not a deviceId')
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0)
    throw new MalformedProofBundleError('seq is not a non-negative integer')
  if (typeof record.entry !== 'string') throw new MalformedProofBundleError('entry is not a string')
  if (typeof note !== 'string') throw new MalformedProofBundleError('checkpoint is not a string')
  if (
    note.length > PROOF_BUNDLE_LIMITS.maxCheckpointBytes ||
    Buffer.byteLength(note, 'utf8') > PROOF_BUNDLE_LIMITS.maxCheckpointBytes
  )
    throw new MalformedProofBundleError('checkpoint is too large')
  if (!Array.isArray(proof)) throw new MalformedProofBundleError('proof is not an array')
  if (proof.length > PROOF_BUNDLE_LIMITS.maxProofHashes)
    throw new MalformedProofBundleError(`proof has more than ${PROOF_BUNDLE_LIMITS.maxProofHashes} hashes`)
  const path = proof.map((item: unknown, i) => {
    if (typeof item !== 'string') throw new MalformedProofBundleError(`proof[${i}] is not a string`)
    const hash = base64Bytes(item, `proof[${i}]`, 32)
    if (hash.length !== 32) throw new MalformedProofBundleError(`proof[${i}] is not a 32-byte hash`)
    return hash
  })
  const entryBytes = base64Bytes(record.entry, 'entry', LEDGER_LIMITS.maxEntryBytes)

  const { entry } = decodeEntry(entryBytes)
  if (entry.feed !== feed) throw new ProofError('inclusion', 'the entry belongs to another feed')
  if (entry.seq !== seq) throw new ProofError('inclusion', `the entry is entry ${entry.seq}, not ${seq}`)
  if (trust.fleetId !== undefined && !bytesEqual(entry.fleet, trust.fleetId))
    throw new ProofError('inclusion', 'the entry belongs to another fleet')
  if (trust.ontology !== undefined) checkEntryAgainstOntology(entry, trust.ontology)

  const checkpoint = verifyCheckpoint(parseCheckpoint(note), { name: feed, key: trust.feedKey })
  const { size, root, origin } = checkpoint.body
  if (origin !== `fleet/${toHex(entry.fleet)}/${feed}`)
    throw new ProofError('inclusion', 'the checkpoint is not of this fleet and feed')
  if (seq >= size) throw new ProofError('inclusion', `the checkpoint of ${size} entries does not cover entry ${seq}`)
  const epoch = checkpoint.body.epoch
  if (epoch !== 1 && trust.epochs?.has(epoch) !== true)
    throw new UnauthorisedEpochError(feed, epoch, size, 'is of an epoch the owner never authorised for this feed')
  verifyInclusion(leafHash(entryBytes), seq, size, path, root)
  return { feed, seq, entry, checkpointSize: size, root: toHex(root) }
}

export { PROOF_BUNDLE_LIMITS }
