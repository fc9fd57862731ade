import { createHash } from 'node:crypto'
import { bytesEqual, MalformedInputError, FleetError } from '../common/index.js'
import {
  DOMAIN,
  verifyHybrid,
  type HybridPublicKey,
  type HybridSigner,
  MLDSA65_SIGNATURE_SIZE
} from '../identity/index.js'
import { CHECKPOINT_LIMITS } from './limits.js'

/**
 * Checkpoints as C2SP signed notes (c2sp.org/signed-note). The body:
 *
 *   fleet/<fleetId hex>/<feedId>        origin
 *   <size>                              tree size, decimal
 *   <base64 root>                       RFC 9162 root
 *   epoch <n>                           extension lines…
 *   tpm <clock> <resetCount> <restartCount>
 *   peer <feedId> <size> <base64 root>  (zero or more: peers' feeds this device has seen)
 *
 * then a blank line and signature lines `— <keyName> <base64(keyId ‖ signature)>`: exactly one
 * P-256 (TPM) and one ML-DSA-65 line by the feed's key, both over DOMAIN.checkpoint ‖ body, and
 * optionally pairs of cosignature lines by other devices over DOMAIN.cosignature ‖ body.
 *
 * Format version 2 (CHECKPOINT_FORMAT_VERSION). C2SP assigns no signature type byte to these
 * hybrid, domain-separated signatures, so they use its type 0xff followed by a longer identifier:
 *   type    = 0xFF ‖ SHA-256(identifier), identifiers in SIGNATURE_TYPES
 *   keyId   = SHA-256(keyName ‖ 0x0A ‖ type ‖ public key)[0:4]
 * Version 1 used the private bytes 0x81 (P-256) and 0x82 (ML-DSA-65) as the type; its notes are
 * refused with CheckpointVersionError. Frozen format: a change of type, identifier or key
 * encoding is a new version.
 *
 * Following the spec, a verifier ignores lines whose (name, key ID) is not a key it was given,
 * whatever their size up to CHECKPOINT_LIMITS; key names are non-empty, without Unicode
 * whitespace or '+'; the signatures are separated from the text by the note's last blank line.
 */
export interface CheckpointBody {
  origin: string
  size: number
  root: Uint8Array
  epoch: number
  tpm: { clock: bigint; resetCount: number; restartCount: number }
  peers: Array<{ feed: string; size: number; root: Uint8Array }>
}

/** The checkpoint format this code writes and reads. */
export const CHECKPOINT_FORMAT_VERSION = 2

/**
 * The C2SP "0xff + longer identifier" signature types of format version 2. Do NOT change: every
 * key ID, and so every stored checkpoint, depends on them.
 */
export const SIGNATURE_TYPES = {
  p256: 'fleet-agent/checkpoint/v2/hybrid-ecdsa-p256-sha256',
  mldsa65: 'fleet-agent/checkpoint/v2/hybrid-ml-dsa-65'
} as const

const typeBytes = (identifier: string): Uint8Array =>
  Uint8Array.from([0xff, ...createHash('sha256').update(identifier).digest()])
const P256 = typeBytes(SIGNATURE_TYPES.p256)
const MLDSA = typeBytes(SIGNATURE_TYPES.mldsa65)
/** Version 1's private type bytes, known only to name the version of an old note. */
const V1_P256 = Uint8Array.of(0x81)
const V1_MLDSA = Uint8Array.of(0x82)
const DASH = '\u2014 '
/** Names this code signs with: a conservative subset of what the spec allows (no '+', no space). */
const NAME = /^[A-Za-z0-9._/:-]{1,128}$/
/** The spec's rule for a key name on a line: non-empty, no Unicode White_Space, no '+'. */
const LINE_NAME = /^[^\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000+]+$/u
/** ASCII control characters other than newline (not allowed anywhere in a note), and lone surrogates (not UTF-8). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
const FORBIDDEN = /[\u0000-\u0009\u000b-\u001f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** Thrown when a note does not parse as a checkpoint. Exit code 2. */
export class MalformedCheckpointError extends MalformedInputError {
  constructor(reason: string) {
    super(`checkpoint: ${reason}`, { code: 'ERR_MALFORMED_CHECKPOINT' })
  }
}

/**
 * Thrown when a note is signed by the expected key in a checkpoint format version this code no
 * longer reads (version 1: private signature types 0x81/0x82). A ledger stored by such a version
 * has to be made again; nothing converts it, since its signatures cannot be re-made. Exit code 2.
 */
export class CheckpointVersionError extends MalformedInputError {
  readonly keyName: string
  readonly version: number
  readonly supported: number
  constructor(keyName: string, version: number) {
    super(
      `checkpoint signed by ${keyName} is in checkpoint format version ${version}, which is no longer read (this agent reads version ${CHECKPOINT_FORMAT_VERSION}, C2SP signature type 0xff)`,
      { code: 'ERR_CHECKPOINT_VERSION' }
    )
    this.keyName = keyName
    this.version = version
    this.supported = CHECKPOINT_FORMAT_VERSION
  }
}

/** Thrown when a checkpoint lacks a valid signature pair by the expected key. */
export class CheckpointSignatureError extends FleetError {
  readonly keyName: string
  constructor(keyName: string, reason: string) {
    super(`checkpoint signed by ${keyName}: ${reason}`, { code: 'ERR_CHECKPOINT_SIGNATURE' })
    this.keyName = keyName
  }
}

/** Key ids already computed, per public key (the same few keys verify every checkpoint). */
const keyIds = new WeakMap<Uint8Array, Map<string, { key: Uint8Array; id: Uint8Array }>>()

/** C2SP key ID: SHA-256(name ‖ 0x0A ‖ signature type ‖ public key)[0:4]. */
export function keyId(name: string, signatureType: Uint8Array, publicKey: Uint8Array): Uint8Array {
  const memo = `${Buffer.from(signatureType).toString('hex')}\n${name}`
  let known = keyIds.get(publicKey)
  const hit = known?.get(memo)
  // The key's bytes are compared too, in case the array was written to since.
  if (hit !== undefined && Buffer.compare(hit.key, publicKey) === 0) return hit.id
  const id = new Uint8Array(
    createHash('sha256')
      .update(name)
      .update(Uint8Array.of(0x0a))
      .update(signatureType)
      .update(publicKey)
      .digest()
      .subarray(0, 4)
  )
  if (known === undefined) {
    known = new Map()
    keyIds.set(publicKey, known)
  }
  if (known.size < 64) known.set(memo, { key: Uint8Array.from(publicKey), id })
  return id
}

/** The key IDs of a hybrid key's two lines under `name`, in format version 2. */
export function checkpointKeyIds(name: string, key: HybridPublicKey): { p256: Uint8Array; mldsa65: Uint8Array } {
  return { p256: keyId(name, P256, key.p256), mldsa65: keyId(name, MLDSA, key.mldsa65) }
}

export function formatCheckpointBody(body: CheckpointBody): string {
  const lines = [
    body.origin,
    String(body.size),
    Buffer.from(body.root).toString('base64'),
    `epoch ${body.epoch}`,
    `tpm ${body.tpm.clock} ${body.tpm.resetCount} ${body.tpm.restartCount}`
  ]
  for (const peer of body.peers)
    lines.push(`peer ${peer.feed} ${peer.size} ${Buffer.from(peer.root).toString('base64')}`)
  return `${lines.join('\n')}\n`
}

function signatureLines(name: string, publicKey: HybridPublicKey, p256: Uint8Array, mldsa: Uint8Array): string {
  const line = (type: Uint8Array, key: Uint8Array, signature: Uint8Array): string =>
    `${DASH}${name} ${Buffer.concat([keyId(name, type, key), signature]).toString('base64')}\n`
  return line(P256, publicKey.p256, p256) + line(MLDSA, publicKey.mldsa65, mldsa)
}

/** Signs a checkpoint body: the note text with its two signature lines. */
export async function signCheckpoint(body: CheckpointBody, signer: HybridSigner, keyName: string): Promise<string> {
  if (!NAME.test(keyName)) throw new MalformedCheckpointError(`bad key name "${keyName}"`)
  const text = formatCheckpointBody(body)
  const signature = await signer.sign(DOMAIN.checkpoint, Buffer.from(text))
  return `${text}\n${signatureLines(keyName, signer.publicKey, signature.p256, signature.mldsa65)}`
}

/** Adds a witness's cosignature (over DOMAIN.cosignature) to a checkpoint it verified. */
export async function cosignCheckpoint(note: string, witness: HybridSigner, witnessName: string): Promise<string> {
  if (!NAME.test(witnessName)) throw new MalformedCheckpointError(`bad key name "${witnessName}"`)
  const parsed = parseCheckpoint(note)
  const signature = await witness.sign(DOMAIN.cosignature, Buffer.from(parsed.text))
  return `${note}${signatureLines(witnessName, witness.publicKey, signature.p256, signature.mldsa65)}`
}

export interface SignatureLine {
  name: string
  keyId: Uint8Array
  signature: Uint8Array
}

/**
 * A cheap look at a note, for telling whether it says anything new: its signed text, its size
 * line, and the names on its signature lines. Nothing is decoded or verified, so it only serves
 * to skip a note that equals (or is covered by) one already verified; undefined when the note
 * does not have the expected shape (then parse and verify it).
 */
export function peekCheckpoint(note: string): { text: string; size: number; names: Set<string> } | undefined {
  const split = note.lastIndexOf('\n\n')
  if (split < 0 || note.length > CHECKPOINT_LIMITS.maxNoteBytes) return undefined
  const text = note.slice(0, split + 1)
  const first = text.indexOf('\n')
  const second = text.indexOf('\n', first + 1)
  if (first < 0 || second < 0) return undefined
  const sizeText = text.slice(first + 1, second)
  if (!/^(0|[1-9]\d{0,15})$/.test(sizeText)) return undefined
  const names = new Set<string>()
  for (let at = split + 2; at < note.length; ) {
    const end = note.indexOf('\n', at)
    if (end < 0 || !note.startsWith(DASH, at)) return undefined
    const space = note.indexOf(' ', at + DASH.length)
    if (space < 0 || space > end) return undefined
    names.add(note.slice(at + DASH.length, space))
    at = end + 1
  }
  return { text, size: Number(sizeText), names }
}

declare const unverified: unique symbol
export interface UnverifiedCheckpoint {
  readonly [unverified]: true
  readonly note: string
  readonly body: CheckpointBody
  /** The signed text (body lines, each ending in a newline). */
  readonly text: string
  readonly signatures: readonly SignatureLine[]
}

declare const verified: unique symbol
export interface VerifiedCheckpoint {
  readonly [verified]: true
  readonly body: CheckpointBody
  readonly text: string
  /** The whole signed note, as verified. */
  readonly note: string
  /** Names of cosigners whose signature pair verified. */
  readonly cosigners: readonly string[]
}

function uint(text: string, what: string): number {
  if (!/^(0|[1-9]\d{0,15})$/.test(text) || !Number.isSafeInteger(Number(text)))
    throw new MalformedCheckpointError(`${what} "${text.slice(0, 20)}" is not a decimal integer`)
  return Number(text)
}

function hash32(text: string, what: string): Uint8Array {
  const bytes = Buffer.from(text, 'base64')
  if (bytes.length !== 32 || bytes.toString('base64') !== text)
    throw new MalformedCheckpointError(`${what} is not a base64 SHA-256 hash`)
  return new Uint8Array(bytes)
}

function signatureLine(line: string): SignatureLine {
  if (!line.startsWith(DASH))
    throw new MalformedCheckpointError('a signature line does not start with an em dash and a space')
  const space = line.indexOf(' ', DASH.length)
  if (space < 0) throw new MalformedCheckpointError('a signature line has no signature')
  const name = line.slice(DASH.length, space)
  const encoded = line.slice(space + 1)
  if (!LINE_NAME.test(name)) throw new MalformedCheckpointError('a key name is empty, or holds whitespace or "+"')
  if (Buffer.byteLength(name, 'utf8') > CHECKPOINT_LIMITS.maxKeyNameBytes)
    throw new MalformedCheckpointError(`a key name is longer than ${CHECKPOINT_LIMITS.maxKeyNameBytes} bytes`)
  if (encoded.length > 4 * Math.ceil((4 + CHECKPOINT_LIMITS.maxSignatureBytes) / 3))
    throw new MalformedCheckpointError(`a signature is longer than ${CHECKPOINT_LIMITS.maxSignatureBytes} bytes`)
  if (!BASE64.test(encoded)) throw new MalformedCheckpointError('a signature is not base64')
  const raw = Buffer.from(encoded, 'base64')
  if (raw.length < 5) throw new MalformedCheckpointError('a signature is shorter than a key ID and one byte')
  return { name, keyId: new Uint8Array(raw.subarray(0, 4)), signature: new Uint8Array(raw.subarray(4)) }
}

/**
 * Strict parser with size caps. The result is unverified. Lines by any key are kept, up to
 * CHECKPOINT_LIMITS (at least 16 lines with post-quantum signatures of 5,000 bytes fit); which
 * of them count is up to verifyCheckpoint.
 */
export function parseCheckpoint(note: string): UnverifiedCheckpoint {
  if (
    typeof note !== 'string' ||
    note.length > CHECKPOINT_LIMITS.maxNoteBytes ||
    Buffer.byteLength(note, 'utf8') > CHECKPOINT_LIMITS.maxNoteBytes
  )
    throw new MalformedCheckpointError('too large')
  if (FORBIDDEN.test(note))
    throw new MalformedCheckpointError('holds a control character other than newline, or is not valid UTF-8')
  // The signatures follow the note's LAST blank line (C2SP signed-note).
  const split = note.lastIndexOf('\n\n')
  if (split < 0 || !note.endsWith('\n'))
    throw new MalformedCheckpointError('no blank line between body and signatures, or no final newline')
  const text = note.slice(0, split + 1)
  if (text.length > CHECKPOINT_LIMITS.maxBodyBytes) throw new MalformedCheckpointError('body is too large')
  const lines = text.slice(0, -1).split('\n')
  if (lines.length < 5) throw new MalformedCheckpointError('body is too short')
  const [origin, sizeText, rootText, epochLine, tpmLine, ...peerLines] = lines as [
    string,
    string,
    string,
    string,
    string,
    ...string[]
  ]
  const originMatch = /^fleet\/[0-9a-f]{64}\/[a-z2-7]{52}$/.exec(origin)
  if (originMatch === null) throw new MalformedCheckpointError('origin is not fleet/<fleetId>/<feedId>')
  const epoch = /^epoch (\S+)$/.exec(epochLine)
  const tpm = /^tpm (\S+) (\S+) (\S+)$/.exec(tpmLine)
  if (epoch === null || tpm === null) throw new MalformedCheckpointError('missing epoch or tpm line')
  if (peerLines.length > CHECKPOINT_LIMITS.maxPeers) throw new MalformedCheckpointError('too many peer lines')
  const peers = peerLines.map((line) => {
    const match = /^peer ([a-z2-7]{52}) (\S+) (\S+)$/.exec(line)
    if (match === null) throw new MalformedCheckpointError(`unknown extension line "${line.slice(0, 40)}"`)
    return { feed: match[1]!, size: uint(match[2]!, 'peer size'), root: hash32(match[3]!, 'peer root') }
  })
  if (!/^(0|[1-9]\d{0,19})$/.test(tpm[1]!)) throw new MalformedCheckpointError('tpm clock is not a decimal integer')
  const body: CheckpointBody = {
    origin,
    size: uint(sizeText, 'size'),
    root: hash32(rootText, 'root'),
    epoch: uint(epoch[1]!, 'epoch'),
    tpm: {
      clock: BigInt(tpm[1]!),
      resetCount: uint(tpm[2]!, 'resetCount'),
      restartCount: uint(tpm[3]!, 'restartCount')
    },
    peers
  }
  if (formatCheckpointBody(body) !== text) throw new MalformedCheckpointError('body is not in canonical form')
  const signatureText = note.slice(split + 2, -1).split('\n')
  if (signatureText.length > CHECKPOINT_LIMITS.maxSignatureLines)
    throw new MalformedCheckpointError(`more than ${CHECKPOINT_LIMITS.maxSignatureLines} signature lines`)
  const signatures = signatureText.map(signatureLine)
  return { note, body, text, signatures } as unknown as UnverifiedCheckpoint
}

function findPair(
  checkpoint: UnverifiedCheckpoint,
  name: string,
  key: HybridPublicKey
): { p256: Uint8Array; mldsa65: Uint8Array } | undefined {
  const byId = (type: Uint8Array, publicKey: Uint8Array): Uint8Array[] => {
    const id = keyId(name, type, publicKey)
    return checkpoint.signatures.filter((s) => s.name === name && bytesEqual(s.keyId, id)).map((s) => s.signature)
  }
  const p256 = byId(P256, key.p256)
  const mldsa = byId(MLDSA, key.mldsa65)
  if (p256.length !== 1 || mldsa.length !== 1 || p256[0]!.length !== 64 || mldsa[0]!.length !== MLDSA65_SIGNATURE_SIZE)
    return undefined
  return { p256: p256[0]!, mldsa65: mldsa[0]! }
}

/**
 * Verifies the feed's own signature pair (both halves MUST verify) and counts the cosigners, among
 * `witnesses`, whose pairs verify. Only a VerifiedCheckpoint may be stored or relied on.
 */
export function verifyCheckpoint(
  checkpoint: UnverifiedCheckpoint,
  signer: { name: string; key: HybridPublicKey },
  witnesses: ReadonlyMap<string, HybridPublicKey> = new Map()
): VerifiedCheckpoint {
  const pair = findPair(checkpoint, signer.name, signer.key)
  if (pair === undefined) {
    requireCurrentFormat(checkpoint, signer)
    throw new CheckpointSignatureError(
      signer.name,
      'needs exactly one P-256 and one ML-DSA-65 signature line by this key'
    )
  }
  try {
    verifyHybrid(signer.key, DOMAIN.checkpoint, Buffer.from(checkpoint.text), pair)
  } catch (err) {
    throw new CheckpointSignatureError(signer.name, (err as Error).message)
  }
  const cosigners: string[] = []
  // The names on the note's lines, not every witness known: a note carries a few pairs, a fleet many devices.
  for (const name of new Set(checkpoint.signatures.map((line) => line.name))) {
    const key = witnesses.get(name)
    if (name === signer.name || key === undefined) continue
    const cosignature = findPair(checkpoint, name, key)
    if (cosignature === undefined) continue
    try {
      verifyHybrid(key, DOMAIN.cosignature, Buffer.from(checkpoint.text), cosignature)
      cosigners.push(name)
    } catch {
      // An invalid cosignature is not counted; it does not invalidate the checkpoint.
    }
  }
  return {
    body: checkpoint.body,
    text: checkpoint.text,
    note: checkpoint.note,
    cosigners
  } as unknown as VerifiedCheckpoint
}

/**
 * Throws CheckpointVersionError when the note carries a line by `signer` under a key ID of an
 * older format version (version 1: type bytes 0x81/0x82). Cheap (no signature is checked): for
 * telling a store written by an older version from a damaged one.
 */
export function requireCurrentFormat(
  checkpoint: UnverifiedCheckpoint,
  signer: { name: string; key: HybridPublicKey }
): void {
  const old = [keyId(signer.name, V1_P256, signer.key.p256), keyId(signer.name, V1_MLDSA, signer.key.mldsa65)]
  if (checkpoint.signatures.some((line) => line.name === signer.name && old.some((id) => bytesEqual(line.keyId, id))))
    throw new CheckpointVersionError(signer.name, 1)
}

export { CHECKPOINT_LIMITS }
