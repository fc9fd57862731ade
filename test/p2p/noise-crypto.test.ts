import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { fleetNoiseCrypto } from '../../src/p2p/noise-crypto.js'

const bytes = (value: Uint8Array | { subarray: () => Uint8Array }): Buffer => Buffer.from(value instanceof Uint8Array ? value : value.subarray())

describe('p2p/noise-crypto: ChaCha20-Poly1305 with a KeyObject per session key', () => {
  it('encrypts to the same bytes as Noise\'s default, and each decrypts the other, for small and large messages', () => {
    const k = new Uint8Array(randomBytes(32))
    for (const size of [0, 1, 1199, 1200, 4096, 65519]) {
      for (let n = 0; n < 3; n++) {
        const nonce = new Uint8Array(12)
        nonce[4] = n
        const ad = new Uint8Array(randomBytes(n * 7))
        const plaintext = new Uint8Array(randomBytes(size))
        const ours = bytes(fleetNoiseCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k))
        const theirs = bytes(defaultCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k))
        assert.deepEqual(ours, theirs, `size ${size}`)
        assert.deepEqual(bytes(fleetNoiseCrypto.chaCha20Poly1305Decrypt(new Uint8Array(theirs), nonce, ad, k)), Buffer.from(plaintext))
        assert.deepEqual(bytes(defaultCrypto.chaCha20Poly1305Decrypt(new Uint8Array(ours), nonce, ad, k)), Buffer.from(plaintext))
      }
    }
  })

  it('takes messages as lists of chunks too (as Noise hands them over), with the same bytes as the default', () => {
    const k = new Uint8Array(randomBytes(32))
    const nonce = new Uint8Array(12)
    const chunks = [randomBytes(700), randomBytes(3000), randomBytes(9)].map((b) => new Uint8Array(b))
    const joined = Buffer.concat(chunks)
    // The parts of a uint8arraylist that Noise and these functions use.
    const list = (parts: Uint8Array[]): never => ({
      byteLength: parts.reduce((n, p) => n + p.byteLength, 0),
      length: parts.reduce((n, p) => n + p.byteLength, 0),
      subarray: (start = 0, end?: number) => Buffer.concat(parts).subarray(start, end),
      sublist: (start = 0, end?: number) => list([Buffer.concat(parts).subarray(start, end)]),
      [Symbol.iterator]: () => parts[Symbol.iterator]()
    }) as never
    const ours = bytes(fleetNoiseCrypto.chaCha20Poly1305Encrypt(list(chunks), nonce, new Uint8Array(0), k))
    assert.deepEqual(ours, bytes(defaultCrypto.chaCha20Poly1305Encrypt(joined, nonce, new Uint8Array(0), k)))
    assert.deepEqual(bytes(fleetNoiseCrypto.chaCha20Poly1305Decrypt(list([ours.subarray(0, 1000), ours.subarray(1000)]), nonce, new Uint8Array(0), k)), joined)
  })

  it('refuses a tampered message, another key, and a key array rewritten in place (no stale key)', () => {
    const k = new Uint8Array(randomBytes(32))
    const nonce = new Uint8Array(12)
    const plaintext = new Uint8Array(randomBytes(5000))
    const sealed = new Uint8Array(bytes(fleetNoiseCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, new Uint8Array(0), k)))
    const tampered = Uint8Array.from(sealed)
    tampered[100]! ^= 1
    assert.throws(() => fleetNoiseCrypto.chaCha20Poly1305Decrypt(tampered, nonce, new Uint8Array(0), k))
    assert.throws(() => fleetNoiseCrypto.chaCha20Poly1305Decrypt(sealed, nonce, new Uint8Array(0), new Uint8Array(randomBytes(32))))
    const old = Uint8Array.from(k)
    k.set(randomBytes(32))
    assert.throws(() => fleetNoiseCrypto.chaCha20Poly1305Decrypt(sealed, nonce, new Uint8Array(0), k))
    assert.deepEqual(bytes(fleetNoiseCrypto.chaCha20Poly1305Decrypt(sealed, nonce, new Uint8Array(0), old)), Buffer.from(plaintext))
  })
})
