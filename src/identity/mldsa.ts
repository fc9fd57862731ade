import crypto from 'node:crypto'
import { ml_dsa65 as noble } from '@noble/post-quantum/ml-dsa.js'

/** FIPS 204 ML-DSA-65 sizes. */
export const MLDSA65_SEED_SIZE = 32
export const MLDSA65_PUBLIC_KEY_SIZE = 1952
export const MLDSA65_SIGNATURE_SIZE = 3309

/** A private ML-DSA-65 key made from its 32-byte seed (the only secret kept, sealed in the TPM). */
export interface MlDsaKey {
  readonly publicKey: Uint8Array
  sign(message: Uint8Array): Uint8Array
  /**
   * The same signature made off the event loop (node:crypto's thread pool), where the
   * implementation can: a signature takes milliseconds, and the ledger signs a checkpoint
   * several times a second while it appends.
   */
  signAsync?(message: Uint8Array): Promise<Uint8Array>
}

/**
 * ML-DSA-65 with one contract and two implementations: node:crypto (Node 24+ with OpenSSL 3.5;
 * about 7× faster) and @noble/post-quantum (portable pure JS). Each verifies the other's
 * signatures; tests hold them to that.
 */
export interface MlDsa65 {
  readonly name: 'node:crypto' | '@noble/post-quantum'
  fromSeed(seed: Uint8Array): MlDsaKey
  /** False for any malformed key or signature; never throws. */
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean
}

function checkSeed(seed: Uint8Array): void {
  if (seed.length !== MLDSA65_SEED_SIZE) throw new RangeError(`an ML-DSA-65 seed is ${MLDSA65_SEED_SIZE} bytes`)
}

function wellSized(publicKey: Uint8Array, signature: Uint8Array): boolean {
  return publicKey.length === MLDSA65_PUBLIC_KEY_SIZE && signature.length === MLDSA65_SIGNATURE_SIZE
}

export const nobleMlDsa65: MlDsa65 = {
  name: '@noble/post-quantum',
  fromSeed(seed) {
    checkSeed(seed)
    const keys = noble.keygen(seed)
    return { publicKey: keys.publicKey, sign: (message) => noble.sign(message, keys.secretKey) }
  },
  verify(publicKey, message, signature) {
    if (!wellSized(publicKey, signature)) return false
    try {
      return noble.verify(signature, message, publicKey)
    } catch {
      return false
    }
  }
}

/** Verifiers see the same few public keys over and over: keep their KeyObjects. */
const publicKeyCache = new Map<string, crypto.KeyObject>()
const PUBLIC_KEY_CACHE_SIZE = 256

function nodePublicKey(publicKey: Uint8Array): crypto.KeyObject {
  const id = Buffer.from(publicKey).toString('base64url')
  let key = publicKeyCache.get(id)
  if (key === undefined) {
    key = crypto.createPublicKey({ key: { kty: 'AKP', alg: 'ML-DSA-65', pub: id }, format: 'jwk' })
    if (publicKeyCache.size >= PUBLIC_KEY_CACHE_SIZE)
      publicKeyCache.delete(publicKeyCache.keys().next().value as string)
    publicKeyCache.set(id, key)
  }
  return key
}

export const nodeMlDsa65: MlDsa65 = {
  name: 'node:crypto',
  fromSeed(seed) {
    checkSeed(seed)
    // JWK import needs the public key beside the seed; derive it once.
    const publicKey = noble.keygen(seed).publicKey
    const privateKey = crypto.createPrivateKey({
      key: {
        kty: 'AKP',
        alg: 'ML-DSA-65',
        pub: Buffer.from(publicKey).toString('base64url'),
        priv: Buffer.from(seed).toString('base64url')
      },
      format: 'jwk'
    })
    return {
      publicKey,
      sign: (message) => new Uint8Array(crypto.sign(null, message, privateKey)),
      signAsync: async (message) =>
        await new Promise((resolve, reject) => {
          crypto.sign(null, message, privateKey, (err, signature) => {
            if (err !== null) reject(err)
            else resolve(new Uint8Array(signature))
          })
        })
    }
  },
  verify(publicKey, message, signature) {
    if (!wellSized(publicKey, signature)) return false
    try {
      return crypto.verify(null, message, nodePublicKey(publicKey), signature)
    } catch {
      return false
    }
  }
}

/** node:crypto when this Node has ML-DSA-65, else the portable implementation. */
export function defaultMlDsa65(): MlDsa65 {
  return crypto.getHashes !== undefined && supportsNodeMlDsa() ? nodeMlDsa65 : nobleMlDsa65
}

let nodeSupport: boolean | undefined
function supportsNodeMlDsa(): boolean {
  if (nodeSupport === undefined) {
    try {
      crypto.generateKeyPairSync('ml-dsa-65' as Parameters<typeof crypto.generateKeyPairSync>[0] as 'ed25519')
      nodeSupport = true
    } catch {
      nodeSupport = false
    }
  }
  return nodeSupport
}
