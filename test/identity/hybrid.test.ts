import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import {
  nodeMlDsa65,
  nobleMlDsa65,
  defaultMlDsa65,
  HybridSigner,
  verifyHybrid,
  softwareP256Signer,
  DOMAIN
} from '../../src/identity/index.js'

describe('identity/mldsa', () => {
  const seed = randomBytes(32)
  const message = Buffer.from('the same bytes')

  it('uses node:crypto on Node 24', () => {
    assert.equal(defaultMlDsa65().name, 'node:crypto')
  })

  it('derives the same public key from a seed in both implementations', () => {
    assert.deepEqual(
      Buffer.from(nodeMlDsa65.fromSeed(seed).publicKey),
      Buffer.from(nobleMlDsa65.fromSeed(seed).publicKey)
    )
  })

  it("each implementation verifies the other's signatures", () => {
    const fromNode = nodeMlDsa65.fromSeed(seed).sign(message)
    const fromNoble = nobleMlDsa65.fromSeed(seed).sign(message)
    const pub = nodeMlDsa65.fromSeed(seed).publicKey
    assert.ok(nobleMlDsa65.verify(pub, message, fromNode))
    assert.ok(nodeMlDsa65.verify(pub, message, fromNoble))
  })

  it('both refuse a changed message, a changed signature and malformed sizes', () => {
    const key = nodeMlDsa65.fromSeed(seed)
    const signature = key.sign(message)
    const flipped = new Uint8Array(signature)
    flipped[100]! ^= 1
    for (const impl of [nodeMlDsa65, nobleMlDsa65]) {
      assert.equal(impl.verify(key.publicKey, Buffer.from('other bytes'), signature), false)
      assert.equal(impl.verify(key.publicKey, message, flipped), false)
      assert.equal(impl.verify(key.publicKey, message, signature.subarray(1)), false)
      assert.equal(impl.verify(key.publicKey.subarray(1), message, signature), false)
    }
  })
})

describe('identity/hybrid', () => {
  const signer = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32)))
  const message = Buffer.from('checkpoint body')

  it('verifies when both halves are valid', async () => {
    const signature = await signer.sign(DOMAIN.checkpoint, message)
    verifyHybrid(signer.publicKey, DOMAIN.checkpoint, message, signature)
    verifyHybrid(signer.publicKey, DOMAIN.checkpoint, message, signature, nobleMlDsa65)
  })

  it('refuses the signature for another domain (no cross-protocol reuse)', async () => {
    const signature = await signer.sign(DOMAIN.checkpoint, message)
    assert.throws(() => verifyHybrid(signer.publicKey, DOMAIN.enrolment, message, signature), {
      name: 'HybridSignatureError'
    })
  })

  it('refuses when only one half is valid, naming the bad half', async () => {
    const good = await signer.sign(DOMAIN.statement, message)
    const other = await new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32))).sign(
      DOMAIN.statement,
      message
    )
    assert.throws(
      () => verifyHybrid(signer.publicKey, DOMAIN.statement, message, { p256: good.p256, mldsa65: other.mldsa65 }),
      (err: Error & { half?: string }) => err.name === 'HybridSignatureError' && err.half === 'mldsa65'
    )
    assert.throws(
      () => verifyHybrid(signer.publicKey, DOMAIN.statement, message, { p256: other.p256, mldsa65: good.mldsa65 }),
      (err: Error & { half?: string }) => err.name === 'HybridSignatureError' && err.half === 'p256'
    )
    assert.throws(
      () =>
        verifyHybrid(signer.publicKey, DOMAIN.statement, message, { p256: new Uint8Array(64), mldsa65: good.mldsa65 }),
      { name: 'HybridSignatureError' }
    )
  })

  it('a signature that verified once still binds: the same one for another message, key or domain is refused', async () => {
    const signature = await signer.sign(DOMAIN.checkpoint, message)
    for (let i = 0; i < 3; i++) verifyHybrid(signer.publicKey, DOMAIN.checkpoint, message, signature)
    assert.throws(() => verifyHybrid(signer.publicKey, DOMAIN.checkpoint, Buffer.from('another body'), signature), {
      name: 'HybridSignatureError'
    })
    assert.throws(() => verifyHybrid(signer.publicKey, DOMAIN.cosignature, message, signature), {
      name: 'HybridSignatureError'
    })
    const stranger = new HybridSigner(softwareP256Signer(), nodeMlDsa65.fromSeed(randomBytes(32)))
    assert.throws(() => verifyHybrid(stranger.publicKey, DOMAIN.checkpoint, message, signature), {
      name: 'HybridSignatureError'
    })
    const flipped = new Uint8Array(signature.mldsa65)
    flipped[100] = flipped[100]! ^ 1
    assert.throws(
      () => verifyHybrid(signer.publicKey, DOMAIN.checkpoint, message, { p256: signature.p256, mldsa65: flipped }),
      { name: 'HybridSignatureError' }
    )
  })
})
