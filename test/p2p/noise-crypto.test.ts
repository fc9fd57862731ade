import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { fleetNoiseCrypto } from '../../src/p2p/noise-crypto.js'

const bytes = (value: Uint8Array | { subarray: () => Uint8Array }): Buffer =>
  Buffer.from(value instanceof Uint8Array ? value : value.subarray())

describe("p2p/noise-crypto: Noise's crypto through node:crypto, with a KeyObject per session key", () => {
  it("encrypts to the same bytes as Noise's default, and each decrypts the other, for small and large messages", () => {
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
        assert.deepEqual(
          bytes(fleetNoiseCrypto.chaCha20Poly1305Decrypt(new Uint8Array(theirs), nonce, ad, k)),
          Buffer.from(plaintext)
        )
        assert.deepEqual(
          bytes(defaultCrypto.chaCha20Poly1305Decrypt(new Uint8Array(ours), nonce, ad, k)),
          Buffer.from(plaintext)
        )
      }
    }
  })

  it('takes messages as lists of chunks too (as Noise hands them over), with the same bytes as the default', () => {
    const k = new Uint8Array(randomBytes(32))
    const nonce = new Uint8Array(12)
    const chunks = [randomBytes(700), randomBytes(3000), randomBytes(9)].map((b) => new Uint8Array(b))
    const joined = Buffer.concat(chunks)
    // The parts of a uint8arraylist that Noise and these functions use.
    const list = (parts: Uint8Array[]): never =>
      ({
        byteLength: parts.reduce((n, p) => n + p.byteLength, 0),
        length: parts.reduce((n, p) => n + p.byteLength, 0),
        subarray: (start = 0, end?: number) => Buffer.concat(parts).subarray(start, end),
        sublist: (start = 0, end?: number) => list([Buffer.concat(parts).subarray(start, end)]),
        [Symbol.iterator]: () => parts[Symbol.iterator]()
      }) as never
    const ours = bytes(fleetNoiseCrypto.chaCha20Poly1305Encrypt(list(chunks), nonce, new Uint8Array(0), k))
    assert.deepEqual(ours, bytes(defaultCrypto.chaCha20Poly1305Encrypt(joined, nonce, new Uint8Array(0), k)))
    assert.deepEqual(
      bytes(
        fleetNoiseCrypto.chaCha20Poly1305Decrypt(
          list([ours.subarray(0, 1000), ours.subarray(1000)]),
          nonce,
          new Uint8Array(0),
          k
        )
      ),
      joined
    )
  })

  it('refuses a tampered message, another key, and a key array rewritten in place (no stale key)', () => {
    const k = new Uint8Array(randomBytes(32))
    const nonce = new Uint8Array(12)
    const plaintext = new Uint8Array(randomBytes(5000))
    const sealed = new Uint8Array(
      bytes(fleetNoiseCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, new Uint8Array(0), k))
    )
    const tampered = Uint8Array.from(sealed)
    tampered[100]! ^= 1
    assert.throws(() => fleetNoiseCrypto.chaCha20Poly1305Decrypt(tampered, nonce, new Uint8Array(0), k))
    assert.throws(() =>
      fleetNoiseCrypto.chaCha20Poly1305Decrypt(sealed, nonce, new Uint8Array(0), new Uint8Array(randomBytes(32)))
    )
    const old = Uint8Array.from(k)
    k.set(randomBytes(32))
    assert.throws(() => fleetNoiseCrypto.chaCha20Poly1305Decrypt(sealed, nonce, new Uint8Array(0), k))
    assert.deepEqual(
      bytes(fleetNoiseCrypto.chaCha20Poly1305Decrypt(sealed, nonce, new Uint8Array(0), old)),
      Buffer.from(plaintext)
    )
  })

  it("hashes, derives keys (HKDF) and agrees X25519 keys as Noise's default does", () => {
    for (const size of [0, 1, 63, 64, 1000]) {
      const data = new Uint8Array(randomBytes(size))
      assert.deepEqual(
        bytes(fleetNoiseCrypto.hashSHA256(data)),
        bytes(defaultCrypto.hashSHA256(data)),
        `sha256 of ${size} bytes`
      )
    }
    const parts = [randomBytes(10), randomBytes(100)].map((b) => new Uint8Array(b))
    const list = { subarray: () => Buffer.concat(parts), [Symbol.iterator]: () => parts[Symbol.iterator]() } as never
    assert.deepEqual(bytes(fleetNoiseCrypto.hashSHA256(list)), bytes(defaultCrypto.hashSHA256(Buffer.concat(parts))))
    // Noise derives from an empty input key when it splits the session (Split(): HKDF(ck, zerolen)).
    for (const ikmBytes of [0, 32, 64]) {
      const ck = new Uint8Array(randomBytes(32))
      const ikm = new Uint8Array(randomBytes(ikmBytes))
      assert.deepEqual(
        fleetNoiseCrypto.getHKDF(ck, ikm).map(bytes),
        defaultCrypto.getHKDF(ck, ikm).map(bytes),
        `HKDF with ${ikmBytes} bytes of input key`
      )
    }
    const ours = fleetNoiseCrypto.generateX25519KeyPair()
    const theirs = defaultCrypto.generateX25519KeyPair()
    assert.equal(ours.publicKey.byteLength, 32)
    assert.equal(ours.privateKey.byteLength, 32)
    const shared = bytes(fleetNoiseCrypto.generateX25519SharedKey(ours.privateKey, theirs.publicKey))
    assert.equal(shared.byteLength, 32)
    assert.deepEqual(bytes(defaultCrypto.generateX25519SharedKey(theirs.privateKey, ours.publicKey)), shared)
    assert.notDeepEqual(
      bytes(
        fleetNoiseCrypto.generateX25519SharedKey(ours.privateKey, fleetNoiseCrypto.generateX25519KeyPair().publicKey)
      ),
      shared
    )
    const seed = new Uint8Array(randomBytes(32))
    assert.deepEqual(
      bytes(fleetNoiseCrypto.generateX25519KeyPairFromSeed(seed).publicKey),
      bytes(defaultCrypto.generateX25519KeyPairFromSeed(seed).publicKey)
    )
  })

  it('refuses a message shorter than its tag', () => {
    assert.throws(
      () =>
        fleetNoiseCrypto.chaCha20Poly1305Decrypt(
          new Uint8Array(15),
          new Uint8Array(12),
          new Uint8Array(0),
          new Uint8Array(32)
        ),
      /shorter than its tag/
    )
  })

  it("leaves no WebAssembly in the fleet command's bundle (Noise's default crypto replaced by this one)", async () => {
    const bundle = await readFile(path.resolve(import.meta.dirname, '../../../dist/src/cli/fleet.mjs'), 'utf8')
    assert.ok(bundle.length > 100_000, 'the bundle is built (scripts/bootstrap.sh)')
    assert.ok(!bundle.includes('WebAssembly'), 'the bundle refers to WebAssembly')
  })
})
