/**
 * What every P256BatchVerifier (src/identity/p256-batch.ts) must do, as one suite to run on each:
 * accept the RFC 6979 signatures and fresh node:crypto ones, give false item by item for bytes
 * that are not a valid signature under the key (a flipped bit anywhere, a point off the curve,
 * scalars out of range, wrong lengths), and refuse batches over the bounds with typed errors.
 * test/identity/p256-batch.test.ts runs it on node:crypto's and on the native binding's.
 */
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { projectRoot } from '../../src/common/index.js'
import { P256_BATCH_LIMITS, verifyP256, type P256BatchItem, type P256BatchVerifier } from '../../src/identity/index.js'

/** The field prime p and the group order n of P-256. */
export const P256_P = BigInt('0xffffffff00000001000000000000000000000000ffffffffffffffffffffffff')
export const P256_N = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551')

export function scalarBytes(value: bigint): Uint8Array {
  return Uint8Array.from(Buffer.from(value.toString(16).padStart(64, '0'), 'hex'))
}

function bigintOf(bytes: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(bytes).toString('hex')}`)
}

/** A P-256 key pair: the private KeyObject and the public key as a SEC1 uncompressed point. */
export interface TestP256Key {
  privateKey: crypto.KeyObject
  point: Uint8Array
}

export function testP256Key(): TestP256Key {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const jwk = publicKey.export({ format: 'jwk' }) as { x: string; y: string }
  const point = Uint8Array.from(
    Buffer.concat([Buffer.of(4), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')])
  )
  return { privateKey, point }
}

export function signedItem(key: TestP256Key, message: Uint8Array): P256BatchItem {
  const signature = crypto.sign('sha256', message, { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
  return { publicKey: key.point, message, signature: Uint8Array.from(signature) }
}

function flipped(bytes: Uint8Array, bit: number): Uint8Array {
  const copy = Uint8Array.from(bytes)
  copy[bit >> 3]! ^= 1 << (bit & 7)
  return copy
}

/**
 * `count` items by `keys`, every `badEvery`-th one spoiled in turn in its message, its signature
 * or its key; with whether each is valid.
 */
export function mixedBatch(
  keys: TestP256Key[],
  count: number,
  badEvery = 5
): { items: P256BatchItem[]; valid: boolean[] } {
  const items: P256BatchItem[] = []
  const valid: boolean[] = []
  for (let i = 0; i < count; i++) {
    const item = signedItem(keys[i % keys.length]!, crypto.randomBytes(300 + (i % 200)))
    if (i % badEvery !== badEvery - 1) {
      items.push(item)
      valid.push(true)
      continue
    }
    const spoil = Math.floor(i / badEvery) % 3
    items.push({
      publicKey: spoil === 2 ? flipped(item.publicKey, 8 + (i % 512)) : item.publicKey,
      message: spoil === 0 ? flipped(item.message, i % (8 * item.message.length)) : item.message,
      signature: spoil === 1 ? flipped(item.signature, i % 512) : item.signature
    })
    valid.push(false)
  }
  return { items, valid }
}

const rfc6979 = JSON.parse(
  readFileSync(path.join(projectRoot(import.meta.url), 'test/vectors/p256/rfc6979.json'), 'utf8')
) as { publicKey: { x: string; y: string }; signatures: { message: string; r: string; s: string }[] }

/** The conformance suite for the verifier `make` gives (a fresh one per test), inside the caller's describe. */
export function p256Conformance(make: () => P256BatchVerifier): void {
  const key = testP256Key()
  const other = testP256Key()

  it('accepts the RFC 6979 signatures (appendix A.2.5, SHA-256)', async () => {
    const publicKey = Uint8Array.from(
      Buffer.concat([Buffer.of(4), Buffer.from(rfc6979.publicKey.x, 'hex'), Buffer.from(rfc6979.publicKey.y, 'hex')])
    )
    const items = rfc6979.signatures.map(({ message, r, s }) => ({
      publicKey,
      message: Uint8Array.from(Buffer.from(message, 'utf8')),
      signature: Uint8Array.from(Buffer.from(r + s, 'hex'))
    }))
    assert.deepEqual(await make().verifyAll(items), [true, true])
    // Each signature is of its own message only.
    const swapped = items.map((item, i) => ({ ...item, message: items[1 - i]!.message }))
    assert.deepEqual(await make().verifyAll(swapped), [false, false])
  })

  it('accepts valid signatures of any message length, under several keys, in order', async () => {
    const items = [0, 1, 55, 64, 400, 5000].flatMap((length) => [
      signedItem(key, crypto.randomBytes(length)),
      signedItem(other, crypto.randomBytes(length))
    ])
    assert.deepEqual(await make().verifyAll(items), Array(items.length).fill(true))
  })

  it('gives false for exactly the items with a flipped bit in the message, the signature or the key', async () => {
    const { items, valid } = mixedBatch([key, other, testP256Key()], 300)
    assert.deepEqual(await make().verifyAll(items), valid)
    // The reference agrees, item by item.
    assert.deepEqual(
      items.map((item) => verifyP256(item.publicKey, item.message, item.signature)),
      valid
    )
  })

  it('gives the same answers when the same batch is checked again (keys kept between batches)', async () => {
    const verifier = make()
    const { items, valid } = mixedBatch([key], 200, 7)
    for (let round = 0; round < 3; round++) assert.deepEqual(await verifier.verifyAll(items), valid)
  })

  it('gives false for a key that is not a point of the curve, and does not hold it against valid items', async () => {
    const good = signedItem(key, Uint8Array.from(Buffer.from('statement')))
    const x = bigintOf(key.point.subarray(1, 33))
    const offCurve = Uint8Array.from(key.point)
    offCurve[64]! ^= 1
    const xTooLarge = Uint8Array.from([4, ...scalarBytes(x + P256_P).subarray(-32), ...key.point.subarray(33)])
    const xIsP = Uint8Array.from([4, ...scalarBytes(P256_P), ...key.point.subarray(33)])
    const compressed = Uint8Array.from(key.point)
    compressed[0] = 2 + (key.point[64]! & 1)
    // The hybrid form (0x06 | y parity ‖ x ‖ y) is 65 bytes too, and OpenSSL decodes it: refused here.
    const hybrid = Uint8Array.from(key.point)
    hybrid[0] = 6 + (key.point[64]! & 1)
    const bad = [offCurve, xIsP, compressed, hybrid, new Uint8Array(65), new Uint8Array(65).fill(0xff)]
    if (x + P256_P < 2n ** 256n) bad.push(xTooLarge)
    const items = [good, ...bad.map((publicKey) => ({ ...good, publicKey })), good]
    assert.deepEqual(await make().verifyAll(items), [true, ...bad.map(() => false), true])
  })

  it('gives false for r or s out of [1, n - 1], and true for the other valid s (n - s)', async () => {
    const good = signedItem(key, Uint8Array.from(Buffer.from('statement')))
    const r = bigintOf(good.signature.subarray(0, 32))
    const s = bigintOf(good.signature.subarray(32))
    const signature = (rr: bigint, ss: bigint): Uint8Array => Uint8Array.from([...scalarBytes(rr), ...scalarBytes(ss)])
    const cases: [Uint8Array, boolean][] = [
      [signature(r, s), true],
      [signature(r, P256_N - s), true],
      [signature(0n, s), false],
      [signature(r, 0n), false],
      [signature(P256_N, s), false],
      [signature(r, P256_N), false],
      [signature(P256_N + 1n, s), false],
      [signature(r, P256_N + 1n), false],
      [new Uint8Array(64).fill(0xff), false],
      [new Uint8Array(64), false]
    ]
    const items = cases.map(([sig]) => ({ ...good, signature: sig }))
    assert.deepEqual(
      await make().verifyAll(items),
      cases.map(([, expected]) => expected)
    )
  })

  it('gives false for keys and signatures of the wrong length, the rest of the batch unaffected', async () => {
    const good = signedItem(key, Uint8Array.from(Buffer.from('statement')))
    const items: P256BatchItem[] = [
      good,
      { ...good, publicKey: good.publicKey.subarray(0, 64) },
      { ...good, publicKey: Uint8Array.from([...good.publicKey, 0]) },
      { ...good, publicKey: new Uint8Array(0) },
      { ...good, signature: good.signature.subarray(0, 63) },
      { ...good, signature: Uint8Array.from([...good.signature, 0]) },
      { ...good, signature: new Uint8Array(0) },
      good
    ]
    assert.deepEqual(await make().verifyAll(items), [true, false, false, false, false, false, false, true])
  })

  it('gives an empty answer for an empty batch', async () => {
    assert.deepEqual(await make().verifyAll([]), [])
  })

  it('refuses a batch over P256_BATCH_LIMITS with P256BatchTooLargeError, naming the bound', async () => {
    const item = signedItem(key, new Uint8Array(10))
    await assert.rejects(make().verifyAll(Array(P256_BATCH_LIMITS.maxItems + 1).fill(item)), {
      name: 'P256BatchTooLargeError',
      bound: 'items',
      size: P256_BATCH_LIMITS.maxItems + 1,
      limit: P256_BATCH_LIMITS.maxItems
    })
    // At the bound, it is checked.
    const atBound = await make().verifyAll(Array(P256_BATCH_LIMITS.maxItems).fill(item))
    assert.equal(atBound.length, P256_BATCH_LIMITS.maxItems)
    assert.ok(atBound.every((valid) => valid))
    const half = new Uint8Array(P256_BATCH_LIMITS.maxMessageBytes / 2)
    await assert.rejects(make().verifyAll([item, { ...item, message: half }, { ...item, message: half }]), {
      name: 'P256BatchTooLargeError',
      bound: 'messageBytes',
      size: P256_BATCH_LIMITS.maxMessageBytes + 10
    })
  })

  it('refuses an item that is not three Uint8Arrays with MalformedP256BatchError, naming it', async () => {
    const item = signedItem(key, new Uint8Array(10))
    await assert.rejects(make().verifyAll([item, { ...item, message: 'statement' as unknown as Uint8Array }]), {
      name: 'MalformedP256BatchError',
      index: 1,
      field: 'message'
    })
    await assert.rejects(make().verifyAll([null as unknown as P256BatchItem]), {
      name: 'MalformedP256BatchError',
      index: 0,
      field: 'item'
    })
    await assert.rejects(
      make().verifyAll([{ ...item, publicKey: Array.from(item.publicKey) as unknown as Uint8Array }]),
      { name: 'MalformedP256BatchError', index: 0, field: 'publicKey' }
    )
  })

  it('refuses to start when its signal is already aborted', async () => {
    const controller = new AbortController()
    controller.abort()
    await assert.rejects(make().verifyAll([signedItem(key, new Uint8Array(1))], { signal: controller.signal }), {
      name: 'AbortError'
    })
  })
}
