import { createHash } from 'node:crypto'
import { bytesEqual } from '../common/bytes.js'
import { DOMAIN, verifyHybrid, type HybridPublicKey, type HybridSigner } from '../identity/index.js'
import { MLDSA65_SIGNATURE_SIZE } from '../identity/index.js'
import { MalformedInputError, FleetError } from '../common/errors.js'
import { CHECKPOINT_LIMITS } from './limits.js'

/**
 * Checkpoints as C2SP signed notes. The body:
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
 * keyId = SHA-256(keyName ‖ 0x0A ‖ algorithm ‖ public key)[0:4], algorithm 0x81 for P-256 and
 * 0x82 for ML-DSA-65 (C2SP reserves 0x01-0x80 for registered types). Frozen format.
 */
export interface CheckpointBody {
  origin: string
  size: number
  root: Uint8Array
  epoch: number
  tpm: { clock: bigint, resetCount: number, restartCount: number }
  peers: Array<{ feed: string, size: number, root: Uint8Array }>
}

const P256 = 0x81
const MLDSA = 0x82
const DASH = '\u2014 '
const NAME = /^[A-Za-z0-9._/+:-]{1,128}$/

/** Thrown when a note does not parse as a checkpoint. Exit code 2. */
export class MalformedCheckpointError extends MalformedInputError {
  constructor (reason: string) {
    super(`checkpoint: ${reason}`, { code: 'ERR_MALFORMED_CHECKPOINT' })
  }
}

/** Thrown when a checkpoint lacks a valid signature pair by the expected key. */
export class CheckpointSignatureError extends FleetError {
  readonly keyName: string
  constructor (keyName: string, reason: string) {
    super(`checkpoint signed by ${keyName}: ${reason}`, { code: 'ERR_CHECKPOINT_SIGNATURE' })
    this.keyName = keyName
  }
}

/** Key ids already computed, per public key (the same few keys verify every checkpoint). */
const keyIds = new WeakMap<Uint8Array, Map<string, { key: Uint8Array, id: Uint8Array }>>()

export function keyId (name: string, algorithm: number, publicKey: Uint8Array): Uint8Array {
  const memo = `${algorithm}\n${name}`
  let known = keyIds.get(publicKey)
  const hit = known?.get(memo)
  // The key's bytes are compared too, in case the array was written to since.
  if (hit !== undefined && Buffer.compare(hit.key, publicKey) === 0) return hit.id
  const id = new Uint8Array(createHash('sha256').update(name).update(Uint8Array.of(0x0a, algorithm)).update(publicKey).digest().subarray(0, 4))
  if (known === undefined) keyIds.set(publicKey, known = new Map())
  if (known.size < 64) known.set(memo, { key: Uint8Array.from(publicKey), id })
  return id
}

export function formatCheckpointBody (body: CheckpointBody): string {
  const lines = [body.origin, String(body.size), Buffer.from(body.root).toString('base64'), `epoch ${body.epoch}`,
    `tpm ${body.tpm.clock} ${body.tpm.resetCount} ${body.tpm.restartCount}`]
  for (const peer of body.peers) lines.push(`peer ${peer.feed} ${peer.size} ${Buffer.from(peer.root).toString('base64')}`)
  return lines.join('\n') + '\n'
}

function signatureLines (name: string, publicKey: HybridPublicKey, p256: Uint8Array, mldsa: Uint8Array): string {
  const line = (algorithm: number, key: Uint8Array, signature: Uint8Array): string =>
    `${DASH}${name} ${Buffer.concat([keyId(name, algorithm, key), signature]).toString('base64')}\n`
  return line(P256, publicKey.p256, p256) + line(MLDSA, publicKey.mldsa65, mldsa)
}

/** Signs a checkpoint body: the note text with its two signature lines. */
export async function signCheckpoint (body: CheckpointBody, signer: HybridSigner, keyName: string): Promise<string> {
  if (!NAME.test(keyName)) throw new MalformedCheckpointError(`bad key name "${keyName}"`)
  const text = formatCheckpointBody(body)
  const signature = await signer.sign(DOMAIN.checkpoint, Buffer.from(text))
  return `${text}\n${signatureLines(keyName, signer.publicKey, signature.p256, signature.mldsa65)}`
}

/** Adds a witness's cosignature (over DOMAIN.cosignature) to a checkpoint it verified. */
export async function cosignCheckpoint (note: string, witness: HybridSigner, witnessName: string): Promise<string> {
  const parsed = parseCheckpoint(note)
  const signature = await witness.sign(DOMAIN.cosignature, Buffer.from(parsed.text))
  return `${note}${signatureLines(witnessName, witness.publicKey, signature.p256, signature.mldsa65)}`
}

export interface SignatureLine { name: string, keyId: Uint8Array, signature: Uint8Array }

/**
 * A cheap look at a note, for telling whether it says anything new: its signed text, its size
 * line, and the names on its signature lines. Nothing is decoded or verified, so it only serves
 * to skip a note that equals (or is covered by) one already verified; undefined when the note
 * does not have the expected shape (then parse and verify it).
 */
export function peekCheckpoint (note: string): { text: string, size: number, names: Set<string> } | undefined {
  const split = note.indexOf('\n\n')
  if (split < 0 || note.length > CHECKPOINT_LIMITS.maxNoteBytes) return undefined
  const text = note.slice(0, split + 1)
  const first = text.indexOf('\n')
  const second = text.indexOf('\n', first + 1)
  if (first < 0 || second < 0) return undefined
  const sizeText = text.slice(first + 1, second)
  if (!/^(0|[1-9]\d{0,15})$/.test(sizeText)) return undefined
  const names = new Set<string>()
  for (let at = split + 2; at < note.length;) {
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

function uint (text: string, what: string): number {
  if (!/^(0|[1-9]\d{0,15})$/.test(text) || !Number.isSafeInteger(Number(text))) throw new MalformedCheckpointError(`${what} "${text.slice(0, 20)}" is not a decimal integer`)
  return Number(text)
}

function hash32 (text: string, what: string): Uint8Array {
  const bytes = Buffer.from(text, 'base64')
  if (bytes.length !== 32 || bytes.toString('base64') !== text) throw new MalformedCheckpointError(`${what} is not a base64 SHA-256 hash`)
  return new Uint8Array(bytes)
}

/** Strict parser with size caps. The result is unverified. */
export function parseCheckpoint (note: string): UnverifiedCheckpoint {
  if (typeof note !== 'string' || note.length > CHECKPOINT_LIMITS.maxNoteBytes) throw new MalformedCheckpointError('too large')
  const split = note.indexOf('\n\n')
  if (split < 0 || !note.endsWith('\n')) throw new MalformedCheckpointError('no blank line between body and signatures, or no final newline')
  const text = note.slice(0, split + 1)
  const lines = text.slice(0, -1).split('\n')
  for (const line of note.split('\n')) if (line.length > CHECKPOINT_LIMITS.maxLineLength) throw new MalformedCheckpointError('line too long')
  if (lines.length < 5) throw new MalformedCheckpointError('body is too short')
  const [origin, sizeText, rootText, epochLine, tpmLine, ...peerLines] = lines as [string, string, string, string, string, ...string[]]
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
    origin, size: uint(sizeText, 'size'), root: hash32(rootText, 'root'), epoch: uint(epoch[1]!, 'epoch'),
    tpm: { clock: BigInt(tpm[1]!), resetCount: uint(tpm[2]!, 'resetCount'), restartCount: uint(tpm[3]!, 'restartCount') },
    peers
  }
  if (formatCheckpointBody(body) !== text) throw new MalformedCheckpointError('body is not in canonical form')
  const signatureText = note.slice(split + 2, -1).split('\n')
  if (signatureText.length > CHECKPOINT_LIMITS.maxSignatureLines) throw new MalformedCheckpointError('too many signature lines')
  const signatures = signatureText.map((line) => {
    const match = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/.exec(line)
    if (match === null || !NAME.test(match[1]!)) throw new MalformedCheckpointError('bad signature line')
    const raw = Buffer.from(match[2]!, 'base64')
    if (raw.length < 5 || raw.toString('base64') !== match[2]) throw new MalformedCheckpointError('bad signature encoding')
    return { name: match[1]!, keyId: new Uint8Array(raw.subarray(0, 4)), signature: new Uint8Array(raw.subarray(4)) }
  })
  return { note, body, text, signatures } as unknown as UnverifiedCheckpoint
}

function findPair (checkpoint: UnverifiedCheckpoint, name: string, key: HybridPublicKey): { p256: Uint8Array, mldsa65: Uint8Array } | undefined {
  const byId = (algorithm: number, publicKey: Uint8Array): Uint8Array[] => {
    const id = keyId(name, algorithm, publicKey)
    return checkpoint.signatures.filter((s) => s.name === name && bytesEqual(s.keyId, id)).map((s) => s.signature)
  }
  const p256 = byId(P256, key.p256)
  const mldsa = byId(MLDSA, key.mldsa65)
  if (p256.length !== 1 || mldsa.length !== 1 || p256[0]!.length !== 64 || mldsa[0]!.length !== MLDSA65_SIGNATURE_SIZE) return undefined
  return { p256: p256[0]!, mldsa65: mldsa[0]! }
}

/**
 * Verifies the feed's own signature pair (both halves MUST verify) and counts the cosigners, among
 * `witnesses`, whose pairs verify. Only a VerifiedCheckpoint may be stored or relied on.
 */
export function verifyCheckpoint (checkpoint: UnverifiedCheckpoint, signer: { name: string, key: HybridPublicKey }, witnesses: ReadonlyMap<string, HybridPublicKey> = new Map()): VerifiedCheckpoint {
  const pair = findPair(checkpoint, signer.name, signer.key)
  if (pair === undefined) throw new CheckpointSignatureError(signer.name, 'needs exactly one P-256 and one ML-DSA-65 signature line by this key')
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
  return { body: checkpoint.body, text: checkpoint.text, note: checkpoint.note, cosigners } as unknown as VerifiedCheckpoint
}

export { CHECKPOINT_LIMITS }
