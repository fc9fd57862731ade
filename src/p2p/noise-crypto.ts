import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'

const CHACHA20_POLY1305 = 'chacha20-poly1305'
/** Below this many bytes Noise's default uses its WebAssembly ChaCha20-Poly1305, which is faster there. */
const NODE_CIPHER_FROM = 1200

/** A session key as a KeyObject, kept per key array (Noise passes the same array for every message of a session). */
const keyObjects = new WeakMap<Uint8Array, { bytes: Uint8Array, key: KeyObject }>()

function keyObject (k: Uint8Array): KeyObject {
  const known = keyObjects.get(k)
  // The bytes are compared too: a key array written to since (a rekey) gets a new KeyObject.
  if (known !== undefined && Buffer.compare(known.bytes, k) === 0) return known.key
  const key = createSecretKey(k)
  keyObjects.set(k, { bytes: Uint8Array.from(k), key })
  return key
}

/**
 * Noise's default crypto, with ChaCha20-Poly1305 of larger messages through node:crypto given the
 * session key as a KeyObject made once. The default hands node:crypto the raw key bytes for every
 * message, and turning them into a key costs more than encrypting a 16 KiB frame (about 30 µs a
 * message here). Same algorithm, same bytes on the wire: test/p2p/noise-crypto.test.ts compares
 * both ways.
 */
export const fleetNoiseCrypto: ICryptoInterface = {
  ...defaultCrypto,
  chaCha20Poly1305Encrypt (message, nonce, ad, k) {
    if (message.byteLength < NODE_CIPHER_FROM) return defaultCrypto.chaCha20Poly1305Encrypt(message, nonce, ad, k)
    // A list of chunks (what Noise mostly hands over) is joined first: one copy of at most 64 KiB.
    const plaintext = message.subarray()
    const cipher = createCipheriv(CHACHA20_POLY1305, keyObject(k), nonce, { authTagLength: 16 })
    cipher.setAAD(ad, { plaintextLength: plaintext.byteLength })
    const updated = cipher.update(plaintext)
    const final = cipher.final()
    const tag = cipher.getAuthTag()
    return Buffer.concat([updated, final, tag], updated.byteLength + final.byteLength + tag.byteLength)
  },
  chaCha20Poly1305Decrypt (message, nonce, ad, k, dst) {
    if (message.byteLength < NODE_CIPHER_FROM) return defaultCrypto.chaCha20Poly1305Decrypt(message, nonce, ad, k, dst)
    const ciphertext = message.subarray()
    const text = ciphertext.subarray(0, ciphertext.length - 16)
    const decipher = createDecipheriv(CHACHA20_POLY1305, keyObject(k), nonce, { authTagLength: 16 })
    decipher.setAAD(ad, { plaintextLength: text.byteLength })
    decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16))
    const output = decipher.update(text)
    const final = decipher.final()
    return final.byteLength > 0 ? Buffer.concat([output, final], output.byteLength + final.byteLength) : output
  }
}
