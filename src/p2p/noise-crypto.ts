import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject
} from 'node:crypto'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'

const CHACHA20_POLY1305 = 'chacha20-poly1305'
const TAG_BYTES = 16
/** DER wrappers of a raw X25519 key (RFC 8410): PKCS#8 for a private key, SPKI for a public one. */
const PKCS8_X25519 = Buffer.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20
])
const SPKI_X25519 = Buffer.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00])

/** A session key as a KeyObject, kept per key array (Noise passes the same array for every message of a session). */
const keyObjects = new WeakMap<Uint8Array, { bytes: Uint8Array; key: KeyObject }>()

function keyObject(k: Uint8Array): KeyObject {
  const known = keyObjects.get(k)
  // The bytes are compared too: a key array written to since (a rekey) gets a new KeyObject.
  if (known !== undefined && Buffer.compare(known.bytes, k) === 0) return known.key
  const key = createSecretKey(k)
  keyObjects.set(k, { bytes: Uint8Array.from(k), key })
  return key
}

const privateX25519 = (raw: Uint8Array): KeyObject =>
  createPrivateKey({ key: Buffer.concat([PKCS8_X25519, raw]), format: 'der', type: 'pkcs8' })

/**
 * Noise's crypto, all of it through node:crypto (OpenSSL). Same algorithms and same bytes on the
 * wire as Noise's default: test/p2p/noise-crypto.test.ts checks each function against it.
 *   - ChaCha20-Poly1305 is given the session key as a KeyObject made once per session. Noise's
 *     default hands node:crypto the raw key bytes for every message, and turning them into a key
 *     costs more than encrypting a 16 KiB frame (about 30 µs a message here).
 *   - No WebAssembly. Noise's default module compiles a WebAssembly ChaCha20-Poly1305 (which it
 *     uses for messages under 1200 bytes) and a WebAssembly SHA-256 (which it does not use) when
 *     it loads. Loading both costs a bare Node process 13 MB resident (5 MB its own, 8 MB of
 *     Node's compiler code mapped in); the agent, which maps most of that code anyway, idled
 *     3.1 MB lower without them (npm run bench -- memory). Here a small message costs about 5 µs more (a round trip of 16 bytes: 7.7 µs
 *     against 2.3 µs); from about 500 bytes node:crypto is as fast or faster. The fleet command's
 *     bundle gives Noise this module as its default (scripts/bundle.mjs), so the WebAssembly is
 *     never loaded.
 */
export const fleetNoiseCrypto: ICryptoInterface = {
  hashSHA256(data) {
    const hash = createHash('sha256')
    if (data instanceof Uint8Array) return hash.update(data).digest()
    for (const chunk of data) hash.update(chunk)
    return hash.digest()
  },
  getHKDF(ck, ikm) {
    // Noise's HKDF(ck, ikm, 3) is RFC 5869 HKDF-SHA-256 with ck as salt, no info, 96 bytes out.
    const okm = new Uint8Array(hkdfSync('sha256', ikm, ck, new Uint8Array(0), 96))
    return [okm.subarray(0, 32), okm.subarray(32, 64), okm.subarray(64, 96)]
  },
  generateX25519KeyPair() {
    const { publicKey, privateKey } = generateKeyPairSync('x25519', {
      publicKeyEncoding: { type: 'spki', format: 'der' },
      privateKeyEncoding: { type: 'pkcs8', format: 'der' }
    })
    return { publicKey: publicKey.subarray(SPKI_X25519.length), privateKey: privateKey.subarray(PKCS8_X25519.length) }
  },
  generateX25519KeyPairFromSeed(seed) {
    const publicKey = createPublicKey(privateX25519(seed))
      .export({ type: 'spki', format: 'der' })
      .subarray(SPKI_X25519.length)
    return { publicKey, privateKey: seed }
  },
  generateX25519SharedKey(privateKey, publicKey) {
    return diffieHellman({
      privateKey: privateX25519(privateKey.subarray()),
      publicKey: createPublicKey({
        key: Buffer.concat([SPKI_X25519, publicKey.subarray()]),
        format: 'der',
        type: 'spki'
      })
    })
  },
  chaCha20Poly1305Encrypt(message, nonce, ad, k) {
    // A list of chunks (what Noise mostly hands over) is joined first (subarray() of a
    // Uint8ArrayList): one copy of at most 64 KiB.
    const plaintext = message.subarray()
    const cipher = createCipheriv(CHACHA20_POLY1305, keyObject(k), nonce, { authTagLength: TAG_BYTES })
    cipher.setAAD(ad, { plaintextLength: plaintext.byteLength })
    const updated = cipher.update(plaintext)
    const final = cipher.final()
    const tag = cipher.getAuthTag()
    return Buffer.concat([updated, final, tag], updated.byteLength + final.byteLength + tag.byteLength)
  },
  chaCha20Poly1305Decrypt(message, nonce, ad, k) {
    const ciphertext = message.subarray()
    if (ciphertext.byteLength < TAG_BYTES) throw new Error('Invalid chacha20poly1305 decryption: shorter than its tag')
    const text = ciphertext.subarray(0, ciphertext.byteLength - TAG_BYTES)
    const decipher = createDecipheriv(CHACHA20_POLY1305, keyObject(k), nonce, { authTagLength: TAG_BYTES })
    decipher.setAAD(ad, { plaintextLength: text.byteLength })
    decipher.setAuthTag(ciphertext.subarray(ciphertext.byteLength - TAG_BYTES))
    const output = decipher.update(text)
    const final = decipher.final()
    return final.byteLength > 0 ? Buffer.concat([output, final], output.byteLength + final.byteLength) : output
  }
}
