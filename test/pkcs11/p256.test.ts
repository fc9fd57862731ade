/**
 * P-256 keys on a SoftHSM2 token: generated there, found again, signing r‖s that both verifyP256
 * and node:crypto accept. Keys the token did not make, or that were ever extractable or readable,
 * are refused although a naive check (CKA_EXTRACTABLE false, CKA_SENSITIVE true) passes some.
 */
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { verifyP256 } from '../../src/identity/index.js'
import { loadModule, type Pkcs11Module, type TokenSession } from '../../src/pkcs11/index.js'
import { rawKeyPair, skipWithoutSoftHsm, SOFTHSM_MODULE, SoftHsm, withRawSession } from '../helpers/softhsm.js'

const PIN = '1234'
function failingNames(err: unknown): string[] {
  return ((err as { failing?: Array<{ attribute: string }> }).failing ?? []).map((f) => f.attribute).sort()
}

describe('pkcs11: P-256 keys on SoftHSM2', function () {
  this.timeout(60_000)
  let hsm: SoftHsm
  let module: Pkcs11Module
  let session: TokenSession

  before(async function () {
    skipWithoutSoftHsm(this)
    hsm = await SoftHsm.create([{ label: 'keys', pin: PIN }])
    // Keys a careless or hostile operator could leave under a label, made before the module loads.
    hsm.importKey(
      'keys',
      PIN,
      'imported',
      crypto
        .generateKeyPairSync('ec', { namedCurve: 'P-256' })
        .privateKey.export({ format: 'pem', type: 'pkcs8' })
        .toString()
    )
    withRawSession(hsm, 'keys', PIN, (lib, raw) => {
      const c = lib.constants
      const find = (cls: number, label: string): Buffer => {
        lib.C_FindObjectsInit(raw, [
          { type: c.CKA_LABEL, value: label },
          { type: c.CKA_CLASS, value: cls }
        ])
        const found = lib.C_FindObjects(raw)!
        lib.C_FindObjectsFinal(raw)
        return found
      }
      rawKeyPair(lib, raw, 'extractable', true, true)
      rawKeyPair(lib, raw, 'insensitive', false, false)
      rawKeyPair(lib, raw, 'made-safe-later', true, true)
      // PKCS#11 lets CKA_EXTRACTABLE go from true to false; the token remembers in CKA_NEVER_EXTRACTABLE.
      const madeSafe = find(c.CKO_PRIVATE_KEY, 'made-safe-later')
      lib.C_SetAttributeValue(raw, madeSafe, [{ type: c.CKA_EXTRACTABLE, value: false }])
      rawKeyPair(lib, raw, 'twice', true, false)
      rawKeyPair(lib, raw, 'twice', true, false)
      // A private key whose public object under the same label belongs to another key pair.
      rawKeyPair(lib, raw, 'swapped', true, false)
      rawKeyPair(lib, raw, 'other', true, false)
      lib.C_DestroyObject(raw, find(c.CKO_PUBLIC_KEY, 'swapped'))
      lib.C_SetAttributeValue(raw, find(c.CKO_PUBLIC_KEY, 'other'), [{ type: c.CKA_LABEL, value: 'swapped' }])
    })
    hsm.use()
    module = loadModule(SOFTHSM_MODULE)
    session = await module.openToken({ token: 'keys', pin: PIN })
  })

  after(async () => {
    await module?.close()
  })

  it('generates a key on the token whose r‖s signatures verify with verifyP256 and node:crypto', async () => {
    const signer = await session.generateP256('owner')
    assert.equal(signer.label, 'owner')
    assert.equal(signer.publicKey.length, 65)
    assert.equal(signer.publicKey[0], 0x04)
    const message = Buffer.from('a checkpoint')
    const signature = await signer.sign(message)
    assert.equal(signature.length, 64)
    assert.ok(verifyP256(signer.publicKey, message, signature))
    const key = crypto.createPublicKey({
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: Buffer.from(signer.publicKey.subarray(1, 33)).toString('base64url'),
        y: Buffer.from(signer.publicKey.subarray(33)).toString('base64url')
      },
      format: 'jwk'
    })
    assert.ok(crypto.verify('sha256', message, { key, dsaEncoding: 'ieee-p1363' }, signature))
    assert.equal(verifyP256(signer.publicKey, Buffer.from('another checkpoint'), signature), false)
  })

  it('finds the generated key again after the token is closed and reopened', async () => {
    const before = await session.findP256('owner')
    await session.close()
    session = await module.openToken({ token: 'keys', pin: PIN })
    const after = await session.findP256('owner')
    assert.deepEqual(after.publicKey, before.publicKey)
    assert.ok(verifyP256(after.publicKey, Buffer.from('x'), await after.sign(Buffer.from('x'))))
  })

  it('serves concurrent signers one at a time; every signature verifies', async () => {
    const signer = await session.findP256('owner')
    const messages = Array.from({ length: 24 }, (_, i) => Buffer.from(`message ${i}`))
    const signatures = await Promise.all(messages.map(async (m) => await signer.sign(m)))
    for (const [i, m] of messages.entries()) assert.ok(verifyP256(signer.publicKey, m, signatures[i]!))
  })

  it('an aborted signature rejects with AbortedError and the session keeps working', async () => {
    const signer = await session.findP256('owner')
    const controller = new AbortController()
    const pending = signer.sign(Buffer.from('m'), { signal: controller.signal })
    controller.abort()
    await assert.rejects(pending, { name: 'AbortedError' })
    await assert.rejects(signer.sign(Buffer.from('m'), { signal: AbortSignal.abort() }), { name: 'AbortedError' })
    assert.ok(verifyP256(signer.publicKey, Buffer.from('m'), await signer.sign(Buffer.from('m'))))
  })

  it('refuses to generate under a label a key already has, and finds no key that is not there', async () => {
    await assert.rejects(session.generateP256('owner'), { name: 'Pkcs11KeyExistsError' })
    await assert.rejects(
      session.findP256('nobody'),
      (err: Error & { label?: string; kind?: string }) =>
        err.name === 'Pkcs11KeyNotFoundError' && err.label === 'nobody' && err.kind === 'p256'
    )
    await assert.rejects(session.findP256(''), RangeError)
    await assert.rejects(session.findP256('x'.repeat(65)), RangeError)
  })

  it('a software key imported with softhsm2-util (non-extractable, sensitive) is refused: not made there', async () => {
    const err = await session.findP256('imported').then(
      () => assert.fail('accepted'),
      (e: unknown) => e
    )
    assert.equal((err as Error).name, 'Pkcs11KeyNotHardwareBoundError')
    // CKA_EXTRACTABLE and CKA_SENSITIVE pass: the naive check would have accepted this key.
    assert.deepEqual(failingNames(err), ['CKA_ALWAYS_SENSITIVE', 'CKA_LOCAL', 'CKA_NEVER_EXTRACTABLE'])
  })

  it('a key generated extractable is refused, naming CKA_EXTRACTABLE and CKA_NEVER_EXTRACTABLE', async () => {
    const err = await session.findP256('extractable').then(
      () => assert.fail('accepted'),
      (e: unknown) => e
    )
    assert.equal((err as Error).name, 'Pkcs11KeyNotHardwareBoundError')
    assert.deepEqual(failingNames(err), ['CKA_EXTRACTABLE', 'CKA_NEVER_EXTRACTABLE'])
    assert.match((err as Error).message, /CKA_EXTRACTABLE is true/)
  })

  it('a key made extractable, then switched to non-extractable, is refused on CKA_NEVER_EXTRACTABLE', async () => {
    const err = await session.findP256('made-safe-later').then(
      () => assert.fail('accepted'),
      (e: unknown) => e
    )
    assert.deepEqual(failingNames(err), ['CKA_NEVER_EXTRACTABLE'])
  })

  it('a key generated not sensitive is refused, naming CKA_SENSITIVE and CKA_ALWAYS_SENSITIVE', async () => {
    const err = await session.findP256('insensitive').then(
      () => assert.fail('accepted'),
      (e: unknown) => e
    )
    assert.deepEqual(failingNames(err), ['CKA_ALWAYS_SENSITIVE', 'CKA_SENSITIVE'])
  })

  it('two keys under one label are refused as ambiguous', async () => {
    await assert.rejects(
      session.findP256('twice'),
      (err: Error & { count?: number }) => err.name === 'Pkcs11KeyAmbiguousError' && err.count === 2
    )
  })

  it('a public key object of another key pair under the label is refused: its signature does not verify', async () => {
    await assert.rejects(
      session.findP256('swapped'),
      (err: Error & { reason?: string }) =>
        err.name === 'Pkcs11KeyUnsuitableError' && /other half/.test(err.reason ?? '')
    )
  })
})
