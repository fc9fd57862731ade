/**
 * Timestamped Ed25519 checkpoint cosignatures (c2sp.org/tlog-cosignature, `cosignature/v1`,
 * signed-note signature type 0x04), as a log checks the ones a witness returns.
 *
 *   key ID          = SHA-256(name ‖ 0x0A ‖ 0x04 ‖ 32-byte Ed25519 public key)[0:4]
 *   signature line  = — <name> base64(key ID ‖ u64 big-endian timestamp ‖ 64-byte Ed25519 signature)
 *   signed message  = "cosignature/v1\n" ‖ "time <timestamp>\n" ‖ the checkpoint's whole body
 *                     (every line, extension lines too, each ending in a newline; no signature lines)
 *   verifier key    = <name>+<hex key ID>+base64(0x04 ‖ public key)
 *
 * Frozen by the spec: do NOT change a byte of these encodings.
 */
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto'
import { bytesEqual } from '../../common/index.js'
import { CosignatureRejectedError, MalformedVerifierKeyError } from './errors.js'
import { TLOG_WITNESS_LIMITS } from './limits.js'

/** The signed-note signature type of a cosignature/v1 (timestamped Ed25519) key. */
export const COSIGNATURE_V1_TYPE = 0x04
const DASH = '\u2014 '
/** The spec's key name: non-empty, no Unicode White_Space, no '+'. */
const NAME = /^[^\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000+]+$/u
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
/** Key ID, timestamp, Ed25519 signature. */
const SIGNATURE_BYTES = 4 + 8 + 64

/** A witness's cosigning key, from its verifier key. */
export interface WitnessKey {
  readonly name: string
  readonly keyId: Uint8Array
  /** The 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array
}

/** A cosignature that verified over a checkpoint's text. */
export interface VerifiedCosignature {
  readonly name: string
  /** POSIX seconds, as the witness stated them. */
  readonly timestamp: bigint
  /** The note signature line, without its newline. */
  readonly line: string
}

export function cosignatureKeyId(name: string, publicKey: Uint8Array): Uint8Array {
  return new Uint8Array(
    createHash('sha256')
      .update(name)
      .update(Uint8Array.of(0x0a, COSIGNATURE_V1_TYPE))
      .update(publicKey)
      .digest()
      .subarray(0, 4)
  )
}

/** The message a cosignature/v1 signs: the two header lines, then the checkpoint's body text. */
export function cosignedMessage(text: string, timestamp: bigint): Uint8Array {
  return new Uint8Array(Buffer.from(`cosignature/v1\ntime ${timestamp}\n${text}`, 'utf8'))
}

/** Parses a verifier key of type 0x04 (Ed25519 cosignature/v1); its key ID MUST be the one its name and key give. */
export function parseWitnessKey(vkey: string): WitnessKey {
  if (typeof vkey !== 'string' || Buffer.byteLength(vkey) > TLOG_WITNESS_LIMITS.maxVerifierKeyBytes)
    throw new MalformedVerifierKeyError('too long')
  // The name and the hex key ID hold no '+'; base64 may.
  const first = vkey.indexOf('+')
  const second = vkey.indexOf('+', first + 1)
  if (first < 0 || second < 0) throw new MalformedVerifierKeyError('not name+keyid+key')
  const [name, idHex, keyText] = [vkey.slice(0, first), vkey.slice(first + 1, second), vkey.slice(second + 1)]
  if (!NAME.test(name)) throw new MalformedVerifierKeyError('the name is empty, or holds whitespace')
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw new MalformedVerifierKeyError('the key ID is not 8 lowercase hex digits')
  if (!BASE64.test(keyText)) throw new MalformedVerifierKeyError('the key is not base64')
  const key = Buffer.from(keyText, 'base64')
  if (key.length !== 33 || key[0] !== COSIGNATURE_V1_TYPE)
    throw new MalformedVerifierKeyError('not an Ed25519 cosignature/v1 key (type 0x04 and 32 bytes)')
  const publicKey = new Uint8Array(key.subarray(1))
  const keyId = cosignatureKeyId(name, publicKey)
  if (Buffer.from(keyId).toString('hex') !== idHex)
    throw new MalformedVerifierKeyError('the key ID does not match the name and key')
  return { name, keyId, publicKey }
}

export function formatWitnessKey(name: string, publicKey: Uint8Array): string {
  const id = Buffer.from(cosignatureKeyId(name, publicKey)).toString('hex')
  return `${name}+${id}+${Buffer.from([COSIGNATURE_V1_TYPE, ...publicKey]).toString('base64')}`
}

function ed25519Key(publicKey: Uint8Array): KeyObject {
  return createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') },
    format: 'jwk'
  })
}

/**
 * The cosignature by `witness` among note signature `lines` (each without its newline), checked
 * against the checkpoint's body `text`. Lines by other keys (another name, or another key ID
 * under the name) are ignored, as the spec says. The witness's line MUST verify, state a non-zero
 * timestamp not past `nowSeconds` + the allowed skew, and none before `notBeforeSeconds` - skew:
 * a cosignature older than the request it answers is a replay. Throws CosignatureRejectedError.
 */
export function verifyCosignature(
  lines: readonly string[],
  text: string,
  witness: WitnessKey,
  time: { nowSeconds: number; notBeforeSeconds: number }
): VerifiedCosignature {
  const prefix = `${DASH}${witness.name} `
  const mine = lines.filter((line) => {
    if (!line.startsWith(prefix)) return false
    const encoded = line.slice(prefix.length)
    return BASE64.test(encoded) && bytesEqual(Buffer.from(encoded, 'base64').subarray(0, 4), witness.keyId)
  })
  if (mine.length === 0) throw new CosignatureRejectedError(witness.name, 'no line by its key')
  if (mine.length > 1) throw new CosignatureRejectedError(witness.name, 'more than one line by its key')
  const line = mine[0]!
  const raw = Buffer.from(line.slice(prefix.length), 'base64')
  if (raw.length !== SIGNATURE_BYTES)
    throw new CosignatureRejectedError(witness.name, `${raw.length} bytes, not ${SIGNATURE_BYTES}`, line)
  const timestamp = raw.readBigUInt64BE(4)
  if (timestamp === 0n || timestamp > TLOG_WITNESS_LIMITS.maxTimestamp)
    throw new CosignatureRejectedError(witness.name, `timestamp ${timestamp} is out of range`, line)
  if (!verify(null, cosignedMessage(text, timestamp), ed25519Key(witness.publicKey), raw.subarray(12)))
    throw new CosignatureRejectedError(witness.name, 'the signature does not verify over this checkpoint', line)
  const skew = BigInt(TLOG_WITNESS_LIMITS.clockSkewSeconds)
  if (timestamp > BigInt(Math.floor(time.nowSeconds)) + skew)
    throw new CosignatureRejectedError(witness.name, `timestamp ${timestamp} is in the future`, line)
  if (timestamp < BigInt(Math.floor(time.notBeforeSeconds)) - skew)
    throw new CosignatureRejectedError(witness.name, `timestamp ${timestamp} is older than the request`, line)
  return { name: witness.name, timestamp, line }
}

/**
 * The witnesses (of `witnesses`) whose cosignature lines on a stored note verify over its body
 * `text`, whatever their time: what status counts. Lines of other keys are ignored.
 */
export function cosignersAmong(lines: readonly string[], text: string, witnesses: readonly WitnessKey[]): string[] {
  const out: string[] = []
  for (const witness of witnesses) {
    try {
      verifyCosignature(lines, text, witness, { nowSeconds: Number.MAX_SAFE_INTEGER, notBeforeSeconds: 0 })
      out.push(witness.name)
    } catch {
      // Not cosigned by it (or not validly): not counted.
    }
  }
  return out
}
