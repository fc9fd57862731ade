/**
 * A transparency-log witness for tests, written from c2sp.org/tlog-witness (add-checkpoint) and
 * c2sp.org/tlog-cosignature (cosignature/v1, Ed25519), served over HTTP on 127.0.0.1. It shares no
 * code with src's cosignature or proof checks: its consistency check and its signing are its own
 * (node:crypto). Only the log's checkpoint signature — the key it is configured with for an
 * origin — is checked with src's verifyCheckpoint, as the spec leaves that to the log's key type.
 *
 * `mode` turns it hostile for one test: it then answers as the mode says instead of (or after)
 * doing what the spec says.
 */
import { createHash, createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { HybridPublicKey } from '../../src/identity/index.js'
import { parseCheckpoint, verifyCheckpoint } from '../../src/ledger/index.js'

export type WitnessMode =
  | 'honest'
  /** Signs with the right key, then flips a bit of the signature. */
  | 'forged'
  /** Signs with another key under the same name. */
  | 'unlisted-key'
  /** Signs another checkpoint body (the same origin and size, another root). */
  | 'other-checkpoint'
  /** Answers with the cosignature it gave for the previous checkpoint. */
  | 'replay-previous'
  /** Signs with a timestamp an hour old. */
  | 'stale-time'
  /** Signs with a timestamp a day ahead. */
  | 'future-time'
  /** Answers 200 with more bytes than any answer can be. */
  | 'huge'
  /** Answers 200 in chunks, without a length, past any answer's size. */
  | 'huge-chunked'
  /** Sends headers, then nothing. */
  | 'slow'
  /** Redirects to itself. */
  | 'redirect'

export interface WitnessRequest {
  oldSize: number
  proofLines: number
  size: number
  status: number
}

const EMPTY_ROOT = createHash('sha256').digest()
const DASH = '\u2014 '

const nodeHash = (left: Buffer, right: Buffer): Buffer =>
  createHash('sha256').update(Buffer.of(1)).update(left).update(right).digest()

/** RFC 9162 §2.1.4.2, as the RFC words it. */
function consistent(first: number, second: number, firstHash: Buffer, secondHash: Buffer, proof: Buffer[]): boolean {
  if (first === second) return proof.length === 0 && firstHash.equals(secondHash)
  const path = (first & (first - 1)) === 0 ? [firstHash, ...proof] : [...proof]
  if (path.length === 0) return false
  let fn = first - 1
  let sn = second - 1
  while ((fn & 1) === 1) {
    fn >>= 1
    sn >>= 1
  }
  let fr = path[0]!
  let sr = path[0]!
  for (const c of path.slice(1)) {
    if (sn === 0) return false
    if ((fn & 1) === 1 || fn === sn) {
      fr = nodeHash(c, fr)
      sr = nodeHash(c, sr)
      while ((fn & 1) === 0 && fn !== 0) {
        fn >>= 1
        sn >>= 1
      }
    } else sr = nodeHash(sr, c)
    fn >>= 1
    sn >>= 1
  }
  return sn === 0 && fr.equals(firstHash) && sr.equals(secondHash)
}

function ed25519FromSeed(seed: Uint8Array): { privateKey: KeyObject; publicKey: Uint8Array } {
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed])
  const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' })
  return { privateKey, publicKey: new Uint8Array(Buffer.from(jwk.x!, 'base64url')) }
}

export class TestWitness {
  readonly name: string
  readonly publicKey: Uint8Array
  private readonly privateKey: KeyObject
  private readonly other = ed25519FromSeed(new Uint8Array(32).fill(0x55))
  private readonly server: http.Server
  /** Per origin: the log's key, and the latest checkpoint cosigned (its size and root). */
  private readonly logs = new Map<string, { name: string; key: HybridPublicKey }>()
  readonly latest = new Map<string, { size: number; root: Buffer }>()
  readonly requests: WitnessRequest[] = []
  private lastLine: string | undefined
  mode: WitnessMode = 'honest'
  /** POSIX seconds the witness signs with (default: the system clock). */
  now: () => number = () => Math.floor(Date.now() / 1000)
  url = ''

  private constructor(name: string, seed: Uint8Array) {
    this.name = name
    const key = ed25519FromSeed(seed)
    this.privateKey = key.privateKey
    this.publicKey = key.publicKey
    this.server = http.createServer((request, response) => void this.handle(request, response))
  }

  static async start(name = 'witness.test/w1', seed: Uint8Array = new Uint8Array(32).fill(0x33)): Promise<TestWitness> {
    const witness = new TestWitness(name, seed)
    await new Promise<void>((resolve) => witness.server.listen(0, '127.0.0.1', resolve))
    witness.url = `http://127.0.0.1:${(witness.server.address() as AddressInfo).port}`
    return witness
  }

  /** The witness's verifier key, computed here: name+hex(SHA-256(name ‖ \n ‖ 0x04 ‖ key)[:4])+base64(0x04 ‖ key). */
  get vkey(): string {
    const material = Buffer.concat([Buffer.of(0x04), this.publicKey])
    const id = createHash('sha256').update(`${this.name}\n`).update(material).digest().subarray(0, 4)
    return `${this.name}+${id.toString('hex')}+${material.toString('base64')}`
  }

  /** Configures a log: the key it signs the origin's checkpoints with, under `name`. */
  trust(origin: string, name: string, key: HybridPublicKey): void {
    this.logs.set(origin, { name, key })
  }

  async close(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private cosign(
    text: string,
    timestamp: number,
    key: KeyObject = this.privateKey,
    publicKey = this.publicKey
  ): string {
    const id = createHash('sha256')
      .update(`${this.name}\n`)
      .update(Buffer.of(0x04))
      .update(publicKey)
      .digest()
      .subarray(0, 4)
    const time = Buffer.alloc(8)
    time.writeBigUInt64BE(BigInt(timestamp))
    const signature = sign(null, Buffer.from(`cosignature/v1\ntime ${timestamp}\n${text}`), key)
    return `${DASH}${this.name} ${Buffer.concat([id, time, signature]).toString('base64')}`
  }

  private async handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    if (this.mode === 'redirect') {
      response.writeHead(307, { location: `${this.url}/add-checkpoint` }).end()
      return
    }
    if (this.mode === 'huge-chunked') {
      response.writeHead(200, { 'content-type': 'text/plain' })
      const chunk = '\u2014 '.padEnd(1024, 'A')
      const more = (): void => {
        while (!response.destroyed && response.write(chunk));
        if (!response.destroyed) response.once('drain', more)
      }
      more()
      return
    }
    if (this.mode === 'slow') {
      response.writeHead(200, { 'content-type': 'text/plain' })
      response.write('\u2014 ')
      return // Never ends; close() cuts it.
    }
    if (request.method !== 'POST' || request.url !== '/add-checkpoint') {
      response.writeHead(404).end()
      return
    }
    const chunks: Buffer[] = []
    for await (const chunk of request) chunks.push(chunk as Buffer)
    const body = Buffer.concat(chunks).toString('utf8')
    const answer = (status: number, text = '', type = 'text/plain', size = 0, oldSize = 0, proofLines = 0): void => {
      this.requests.push({ oldSize, proofLines, size, status })
      response.writeHead(status, { 'content-type': type }).end(text)
    }
    // old line, proof lines, an empty line, the checkpoint.
    const blank = body.indexOf('\n\n')
    const head = blank < 0 ? [] : body.slice(0, blank).split('\n')
    const oldMatch = /^old (0|[1-9][0-9]*)$/.exec(head[0] ?? '')
    if (oldMatch === null || head.length - 1 > 63) return answer(400, 'bad request\n')
    const oldSize = Number(oldMatch[1])
    const proof = head.slice(1).map((line) => Buffer.from(line, 'base64'))
    if (proof.some((hash, i) => hash.length !== 32 || hash.toString('base64') !== head[i + 1]))
      return answer(400, 'bad proof line\n')
    const note = body.slice(blank + 2)
    const origin = note.slice(0, note.indexOf('\n'))
    const log = this.logs.get(origin)
    if (log === undefined) return answer(404, 'unknown origin\n')
    let text: string
    let size: number
    let root: Buffer
    try {
      const checkpoint = verifyCheckpoint(parseCheckpoint(note), { name: log.name, key: log.key })
      text = checkpoint.text
      size = checkpoint.body.size
      root = Buffer.from(checkpoint.body.root)
    } catch {
      return answer(403, 'no valid signature by a trusted key\n')
    }
    if (oldSize > size) return answer(400, 'old size above the checkpoint size\n')
    const latest = this.latest.get(origin)
    if (oldSize !== (latest?.size ?? 0))
      return answer(409, `${latest?.size ?? 0}\n`, 'text/x.tlog.size', size, oldSize, proof.length)
    const unprocessable = (): void => answer(422, 'inconsistent\n', 'text/plain', size, oldSize, proof.length)
    if (size === 0 && !root.equals(EMPTY_ROOT)) return unprocessable()
    if (oldSize === 0) {
      if (proof.length !== 0) return unprocessable()
    } else if (!consistent(oldSize, size, latest!.root, root, proof)) return unprocessable()
    this.latest.set(origin, { size, root })
    const now = this.now()
    let line: string
    switch (this.mode) {
      case 'forged': {
        const raw = Buffer.from(this.cosign(text, now).slice(DASH.length + this.name.length + 1), 'base64')
        raw[raw.length - 1]! ^= 1
        line = `${DASH}${this.name} ${raw.toString('base64')}`
        break
      }
      case 'unlisted-key':
        line = this.cosign(text, now, this.other.privateKey, this.other.publicKey)
        break
      case 'other-checkpoint': {
        const lines = text.split('\n')
        lines[2] = Buffer.alloc(32, 9).toString('base64')
        line = this.cosign(lines.join('\n'), now)
        break
      }
      case 'replay-previous':
        line = this.lastLine ?? this.cosign(text, now)
        break
      case 'stale-time':
        line = this.cosign(text, now - 3600)
        break
      case 'future-time':
        line = this.cosign(text, now + 86_400)
        break
      case 'huge':
        line = `${DASH}${this.name} ${'A'.repeat(64 * 1024)}`
        break
      default:
        line = this.cosign(text, now)
    }
    this.lastLine = this.cosign(text, now)
    answer(200, `${line}\n`, 'text/plain', size, oldSize, proof.length)
  }
}
