/**
 * The ML-DSA-65 half through a token: the seed exists only sealed by the token's AES-256 key,
 * is unsealed on the token for each signature and wiped after. Without that token the sealed
 * bytes give nothing: changed bytes, or another token's key of the same label, are refused.
 */
import assert from 'node:assert/strict'
import {
  DOMAIN,
  domainSeparated,
  nobleMlDsa65,
  nodeMlDsa65,
  verifyHybrid,
  verifyP256,
  type MlDsa65
} from '../../src/identity/index.js'
import {
  createSealedMlDsaSeed,
  decodeSealedSeed,
  loadModule,
  SEALED_SEED_BYTES,
  sealSeed,
  tokenHybridSigner,
  tokenMlDsaKey,
  type Pkcs11Module,
  type TokenSession,
  type TokenWrapKey
} from '../../src/pkcs11/index.js'
import { encodeSealedSeed } from '../../src/pkcs11/sealed-seed.js'
import { skipWithoutSoftHsm, SOFTHSM_MODULE, SoftHsm, withRawSession } from '../helpers/softhsm.js'

const message = Buffer.from('an owner statement')

/** node:crypto's ML-DSA-65, remembering every seed buffer it was given. */
function spyMlDsa(): MlDsa65 & { seeds: Uint8Array[] } {
  const seeds: Uint8Array[] = []
  return {
    name: nodeMlDsa65.name,
    seeds,
    fromSeed: (seed) => {
      seeds.push(seed)
      return nodeMlDsa65.fromSeed(seed)
    },
    verify: nodeMlDsa65.verify
  }
}

describe('pkcs11: ML-DSA-65 seed sealed by a SoftHSM2 token', function () {
  this.timeout(60_000)
  let hsm: SoftHsm
  let module: Pkcs11Module
  let alpha: TokenSession
  let beta: TokenSession
  let wrapKey: TokenWrapKey
  let sealed: Uint8Array
  let publicKey: Uint8Array

  before(async function () {
    skipWithoutSoftHsm(this)
    hsm = await SoftHsm.create([
      { label: 'alpha', pin: '1111' },
      { label: 'beta', pin: '2222' }
    ])
    // An AES key imported from software: sensitive and non-extractable, but the token did not make it.
    withRawSession(hsm, 'alpha', '1111', (lib, raw) => {
      const c = lib.constants
      lib.C_CreateObject(raw, [
        { type: c.CKA_CLASS, value: c.CKO_SECRET_KEY },
        { type: c.CKA_KEY_TYPE, value: c.CKK_AES },
        { type: c.CKA_TOKEN, value: true },
        { type: c.CKA_PRIVATE, value: true },
        { type: c.CKA_LABEL, value: 'imported-aes' },
        { type: c.CKA_VALUE, value: Buffer.alloc(32, 7) },
        { type: c.CKA_SENSITIVE, value: true },
        { type: c.CKA_EXTRACTABLE, value: false },
        { type: c.CKA_ENCRYPT, value: true },
        { type: c.CKA_DECRYPT, value: true }
      ])
    })
    hsm.use()
    module = loadModule(SOFTHSM_MODULE)
    alpha = await module.openToken({ token: 'alpha', pin: '1111' })
    beta = await module.openToken({ token: 'beta', pin: '2222' })
    wrapKey = await alpha.generateWrapKey('seal')
    await beta.generateWrapKey('seal')
    const created = await createSealedMlDsaSeed(wrapKey)
    sealed = created.sealed
    publicKey = created.publicKey
  })

  after(async () => {
    await module?.close()
  })

  it('seals a new seed into 61 bytes (version 1, fresh IV each time) and records its public key', async () => {
    assert.equal(sealed.length, SEALED_SEED_BYTES)
    assert.equal(sealed[0], 1)
    assert.equal(publicKey.length, 1952)
    const again = await sealSeed(wrapKey, new Uint8Array(32))
    const twice = await sealSeed(wrapKey, new Uint8Array(32))
    assert.notDeepEqual(decodeSealedSeed(again).iv, decodeSealedSeed(twice).iv)
    assert.notDeepEqual(again, twice)
  })

  it('signs through the token-sealed seed; the signatures verify in both ML-DSA implementations', async () => {
    const key = await tokenMlDsaKey(alpha, 'seal', sealed, publicKey)
    assert.deepEqual(key.publicKey, publicKey)
    const fromAsync = await key.signAsync!(message)
    const fromSync = key.sign(message)
    for (const signature of [fromAsync, fromSync]) {
      assert.ok(nodeMlDsa65.verify(publicKey, message, signature))
      assert.ok(nobleMlDsa65.verify(publicKey, message, signature))
    }
    assert.equal(nodeMlDsa65.verify(publicKey, Buffer.from('other'), fromAsync), false)
  })

  it('unseals for each signature and wipes every seed buffer after use', async () => {
    const spy = spyMlDsa()
    const key = await tokenMlDsaKey(alpha, 'seal', sealed, publicKey, { mldsa: spy })
    await key.signAsync!(message)
    key.sign(message)
    // Once when the key was made (the public key check), once per signature.
    assert.equal(spy.seeds.length, 3)
    for (const seed of spy.seeds) {
      assert.equal(seed.length, 32)
      assert.ok(
        seed.every((byte) => byte === 0),
        'a seed buffer was left unwiped'
      )
    }
  })

  it('a hybrid signer from the token P-256 key and the sealed seed verifies with verifyHybrid', async () => {
    const p256 = await alpha.generateP256('hybrid-p256')
    const signer = await tokenHybridSigner(alpha, {
      p256Label: 'hybrid-p256',
      wrapKeyLabel: 'seal',
      sealedSeed: sealed,
      mldsaPublicKey: publicKey
    })
    assert.deepEqual(signer.publicKey, { p256: p256.publicKey, mldsa65: publicKey })
    const signature = await signer.sign(DOMAIN.checkpoint, message)
    verifyHybrid(signer.publicKey, DOMAIN.checkpoint, message, signature)
    // The P-256 half is the token key's signature over the domain-separated bytes.
    assert.ok(verifyP256(p256.publicKey, domainSeparated(DOMAIN.checkpoint, message), signature.p256))
    assert.throws(() => verifyHybrid(signer.publicKey, DOMAIN.checkpoint, Buffer.from('changed'), signature), {
      name: 'HybridSignatureError'
    })
  })

  it('a changed ciphertext, tag or IV is refused by the token with Pkcs11UnsealRefusedError', async () => {
    for (const offset of [1, 13, SEALED_SEED_BYTES - 1]) {
      const changed = Uint8Array.from(sealed)
      changed[offset]! ^= 0x01
      await assert.rejects(
        tokenMlDsaKey(alpha, 'seal', changed, publicKey),
        (err: Error & { wrapKeyLabel?: string; token?: string }) =>
          err.name === 'Pkcs11UnsealRefusedError' && err.wrapKeyLabel === 'seal' && err.token === 'alpha'
      )
    }
  })

  it('a wrong version, a truncated or an extended blob is refused before the token sees it', async () => {
    const wrongVersion = Uint8Array.from(sealed)
    wrongVersion[0] = 2
    const malformed = [wrongVersion, sealed.subarray(0, 60), Buffer.concat([sealed, Buffer.of(0)]), new Uint8Array(0)]
    for (const bytes of malformed) {
      await assert.rejects(tokenMlDsaKey(alpha, 'seal', bytes, publicKey), { name: 'Pkcs11SealedSeedMalformedError' })
    }
  })

  it("another token's wrap key of the same label does not unseal it", async () => {
    await assert.rejects(
      tokenMlDsaKey(beta, 'seal', sealed, publicKey),
      (err: Error & { token?: string }) => err.name === 'Pkcs11UnsealRefusedError' && err.token === 'beta'
    )
  })

  it('a seed that derives another public key than the recorded one is refused', async () => {
    const other = await createSealedMlDsaSeed(wrapKey)
    await assert.rejects(tokenMlDsaKey(alpha, 'seal', other.sealed, publicKey), { name: 'Pkcs11SeedMismatchError' })
  })

  it('bytes sealed under the key for another purpose (other AAD) are refused', async () => {
    // Same key, same IV and length, but the AAD of a seed is bound in: a blob re-labelled as a seed fails its tag.
    const parsed = decodeSealedSeed(sealed)
    const out = await wrapKey.encrypt({ iv: parsed.iv, aad: Buffer.from('another purpose') }, new Uint8Array(32))
    await assert.rejects(tokenMlDsaKey(alpha, 'seal', encodeSealedSeed({ iv: parsed.iv, sealed: out }), publicKey), {
      name: 'Pkcs11UnsealRefusedError'
    })
  })

  it('a wrap key not made on the token is refused before it unseals anything', async () => {
    await assert.rejects(
      alpha.findWrapKey('imported-aes'),
      (err: Error & { failing?: Array<{ attribute: string }> }) =>
        err.name === 'Pkcs11KeyNotHardwareBoundError' &&
        err.failing
          ?.map((f) => f.attribute)
          .sort()
          .join() === 'CKA_ALWAYS_SENSITIVE,CKA_LOCAL,CKA_NEVER_EXTRACTABLE'
    )
    await assert.rejects(tokenMlDsaKey(alpha, 'missing', sealed, publicKey), { name: 'Pkcs11KeyNotFoundError' })
    await assert.rejects(alpha.generateWrapKey('seal'), { name: 'Pkcs11KeyExistsError' })
  })
})
