import assert from 'node:assert/strict'
import { createHash, createVerify, randomBytes } from 'node:crypto'
import path from 'node:path'
import {
  EsysTpm,
  type SwtpmDevice,
  parsePublic,
  publicKey,
  verifyQuote,
  verifyCertify,
  makeCredential,
  objectName,
  policyPcr,
  deviceIdFromEndorsementKey,
  signatureToDer,
  parseSignature
} from '../../../src/attest/index.js'
import type { PcrSelection } from '../../../src/attest/pcrs.js'
import { haveSwtpm, startDevice, stopAllDevices, tempDir } from '../../helpers/devices.js'
import { until } from '../../helpers/wait.js'

const zeroPolicy = new Uint8Array(32)

describe('attest/tpm/EsysTpm on swtpm', function () {
  this.timeout(60_000)
  let device: SwtpmDevice
  let other: SwtpmDevice
  let tpm: EsysTpm

  before(async function () {
    if (!haveSwtpm()) this.skip()
    device = await startDevice()
    other = await startDevice()
    tpm = await EsysTpm.open({ tcti: device.tcti })
  })

  after(async () => {
    await tpm?.close()
    await stopAllDevices()
  })

  it('reports manufacturer, banks and an EK with its certificate', async () => {
    const info = await tpm.info()
    assert.equal(info.manufacturer, 'IBM')
    assert.deepEqual(info.banks, ['sha256'])
    const ek = await tpm.endorsementKey('rsa')
    assert.ok(ek.certificate !== undefined && ek.certificate[0] === 0x30, 'EK certificate is DER')
    assert.equal(parsePublic(ek.public).type, 'rsa')
    assert.match(deviceIdFromEndorsementKey(ek.public), /^[a-z2-7]{52}$/)
  })

  it('two devices have different deviceIds', async () => {
    const second = await EsysTpm.open({ tcti: other.tcti })
    try {
      const a = deviceIdFromEndorsementKey((await tpm.endorsementKey('rsa')).public)
      const b = deviceIdFromEndorsementKey((await second.endorsementKey('rsa')).public)
      assert.notEqual(a, b)
    } finally {
      await second.close()
    }
  })

  it('reads all 24 PCRs (the TPM answers at most 8 per call) and extends one', async () => {
    const all: PcrSelection = [{ hash: 'sha256', pcrs: Array.from({ length: 24 }, (_, i) => i) }]
    const before = await tpm.readPcrs(all)
    assert.equal(before.sha256?.size, 24)
    const measurement = createHash('sha256').update('fleet test').digest()
    await tpm.extendPcr(16, { sha256: measurement })
    const after = await tpm.readPcrs([{ hash: 'sha256', pcrs: [16] }])
    const expected = createHash('sha256').update(before.sha256!.get(16)!).update(measurement).digest()
    assert.deepEqual(Buffer.from(after.sha256!.get(16)!), expected)
  })

  it('getRandom returns the requested length', async () => {
    const bytes = await tpm.getRandom(100)
    assert.equal(bytes.length, 100)
  })

  it('reads the clock, which moves forward', async () => {
    const a = await tpm.readClock()
    // The TPM's clock counts milliseconds: read it until it has moved.
    let b = a
    const moved = async (): Promise<boolean> => {
      b = await tpm.readClock()
      return b.clock !== a.clock
    }
    await until(moved, 'the TPM clock to move', 5_000, 1)
    assert.ok(b.clock > a.clock)
    assert.equal(b.resetCount, a.resetCount)
  })

  it('signs with a non-restricted key; node:crypto verifies the signature', async () => {
    const key = await tpm.createKey('signing')
    const message = Buffer.from('checkpoint bytes')
    const signature = parseSignature(await tpm.sign(key, createHash('sha256').update(message).digest()))
    const ok = createVerify('sha256')
      .update(message)
      .verify(publicKey(parsePublic(key.public)), Buffer.from(signatureToDer(signature)))
    assert.ok(ok)
  })

  it('quotes with an attestation key; the quote verifies and a wrong nonce is refused', async () => {
    const ak = await tpm.createKey('attestation')
    const nonce = randomBytes(32)
    const selection: PcrSelection = [{ hash: 'sha256', pcrs: [0, 1, 2, 3, 7, 16] }]
    const quote = await tpm.quote(ak, nonce, selection)
    const pcrs = await tpm.readPcrs(selection)
    const verified = verifyQuote({
      ak: parsePublic(ak.public),
      attest: quote.attest,
      signature: quote.signature,
      nonce,
      pcrs
    })
    assert.equal(verified.akRestrictionChecked, true)
    assert.throws(
      () =>
        verifyQuote({
          ak: parsePublic(ak.public),
          attest: quote.attest,
          signature: quote.signature,
          nonce: randomBytes(32),
          pcrs
        }),
      { name: 'QuoteNonceMismatchError' }
    )
  })

  it('refuses quotes from a non-restricted key, and quote-shaped bytes signed with TPM2_Sign (the forgery)', async () => {
    // The TPM itself quotes with any signing key; only a restricted key guarantees that every
    // TPM_GENERATED-prefixed message it signed was made by the TPM.
    const key = await tpm.createKey('signing')
    const nonce = randomBytes(16)
    const selection: PcrSelection = [{ hash: 'sha256', pcrs: [0] }]
    const quote = await tpm.quote(key, nonce, selection)
    const pcrs = await tpm.readPcrs(selection)
    assert.throws(
      () => verifyQuote({ ak: parsePublic(key.public), attest: quote.attest, signature: quote.signature, nonce, pcrs }),
      { name: 'NotRestrictedKeyError' }
    )
    const forged = await tpm.sign(key, createHash('sha256').update(quote.attest).digest())
    assert.throws(
      () => verifyQuote({ ak: parsePublic(key.public), attest: quote.attest, signature: forged, nonce, pcrs }),
      { name: 'NotRestrictedKeyError' }
    )
    // Given only as a bare public key, the signature checks out: the result says the AK's
    // restriction was not checked, which callers must treat as weaker evidence.
    const bare = verifyQuote({
      ak: publicKey(parsePublic(key.public)),
      attest: quote.attest,
      signature: forged,
      nonce,
      pcrs
    })
    assert.equal(bare.akRestrictionChecked, false)
  })

  it('certifies the signing key with the attestation key', async () => {
    const ak = await tpm.createKey('attestation')
    const dsk = await tpm.createKey('signing')
    const nonce = randomBytes(16)
    const certified = await tpm.certify(dsk, ak, nonce)
    verifyCertify({
      signer: parsePublic(ak.public),
      attest: certified.attest,
      signature: certified.signature,
      nonce,
      certifiedPublic: parsePublic(dsk.public)
    })
    const otherKey = await tpm.createKey('signing')
    assert.throws(
      () =>
        verifyCertify({
          signer: parsePublic(ak.public),
          attest: certified.attest,
          signature: certified.signature,
          nonce,
          certifiedPublic: parsePublic(otherKey.public)
        }),
      (err: Error) => /Certif/.test(err.name)
    )
  })

  it("activates a credential made for its EK and AK, and not for another TPM's AK", async () => {
    const ak = await tpm.createKey('attestation')
    const ek = parsePublic((await tpm.endorsementKey('rsa')).public)
    const secret = randomBytes(32)
    const made = makeCredential({
      ekPublic: ek,
      objectName: objectName(parsePublic(ak.public)),
      credential: secret,
      random: randomBytes
    })
    const recovered = await tpm.activateCredential(ak, 'rsa', made.credentialBlob, made.secret)
    assert.deepEqual(Buffer.from(recovered), secret)

    const second = await EsysTpm.open({ tcti: other.tcti })
    try {
      const foreignAk = await second.createKey('attestation')
      await assert.rejects(second.activateCredential(foreignAk, 'rsa', made.credentialBlob, made.secret), {
        name: 'TpmCommandError'
      })
    } finally {
      await second.close()
    }
  })

  it('creates the ECC P-256 EK from template L-2 and activates a credential made for it', async () => {
    const ek = await tpm.endorsementKey('ecc')
    const ekPublic = parsePublic(ek.public)
    assert.ok(ekPublic.type === 'ecc' && ekPublic.curve === 0x0003, 'P-256 EK')
    // Same seed, same template: the same EK every time.
    assert.deepEqual(Buffer.from((await tpm.endorsementKey('ecc')).public), Buffer.from(ek.public))
    const ak = await tpm.createKey('attestation')
    const secret = randomBytes(32)
    const made = makeCredential({
      ekPublic,
      objectName: objectName(parsePublic(ak.public)),
      credential: secret,
      random: randomBytes
    })
    assert.deepEqual(Buffer.from(await tpm.activateCredential(ak, 'ecc', made.credentialBlob, made.secret)), secret)
    // Made for another AK's name: the TPM refuses.
    const otherAk = await tpm.createKey('attestation')
    const wrong = makeCredential({
      ekPublic,
      objectName: objectName(parsePublic(otherAk.public)),
      credential: secret,
      random: randomBytes
    })
    await assert.rejects(tpm.activateCredential(ak, 'ecc', wrong.credentialBlob, wrong.secret), {
      name: 'TpmCommandError'
    })
  })

  it('seals to PCR values; unseals while they hold, refuses after a PCR changes', async () => {
    const selection: PcrSelection = [{ hash: 'sha256', pcrs: [0, 7, 23] }]
    const values = await tpm.readPcrs(selection)
    const policy = policyPcr(zeroPolicy, selection, values)
    const secret = randomBytes(32)
    const sealed = await tpm.seal(secret, policy)
    assert.deepEqual(Buffer.from(await tpm.unseal(sealed, { pcrs: selection })), secret)
    await tpm.extendPcr(23, { sha256: randomBytes(32) })
    await assert.rejects(tpm.unseal(sealed, { pcrs: selection }), { name: 'UnsealRefusedError' })
  })

  it('refuses key blobs made by another TPM (a copied state directory)', async () => {
    const key = await tpm.createKey('signing')
    const second = await EsysTpm.open({ tcti: other.tcti })
    try {
      await assert.rejects(second.sign(key, new Uint8Array(32)), { name: 'TpmKeyLoadError' })
    } finally {
      await second.close()
    }
  })

  it('leaves no transient objects behind after many operations', async () => {
    const second = await EsysTpm.open({ tcti: other.tcti })
    const keys = [
      await second.createKey('signing'),
      await second.createKey('signing'),
      await second.createKey('attestation')
    ]
    for (let i = 0; i < 12; i++) {
      const key = keys[i % 3]!
      if (i % 3 === 2) await second.quote(key, randomBytes(8), [{ hash: 'sha256', pcrs: [0] }])
      else await second.sign(key, randomBytes(32))
    }
    const sealed = await second.seal(
      randomBytes(16),
      policyPcr(zeroPolicy, [{ hash: 'sha256', pcrs: [0] }], await second.readPcrs([{ hash: 'sha256', pcrs: [0] }]))
    )
    await second.unseal(sealed, { pcrs: [{ hash: 'sha256', pcrs: [0] }] })
    await second.close()
    const { execFileSync } = await import('node:child_process')
    const out = execFileSync('tpm2_getcap', ['handles-transient'], {
      env: { ...process.env, TPM2TOOLS_TCTI: other.tcti }
    }).toString()
    assert.equal(out.trim(), '', `transient handles left: ${out}`)
  })

  it('names the TCTI when no TPM is there', async () => {
    const tcti = `swtpm:path=${path.join(await tempDir(), 'absent.sock')}`
    await assert.rejects(
      EsysTpm.open({ tcti }),
      (err: Error) => err.name === 'TpmUnavailableError' && err.message.includes('absent.sock')
    )
  })

  for (const stage of ['during TCTI initialisation', 'after initialisation'] as const) {
    it(`gives up with TpmTimeoutError when the TPM stops answering ${stage}, and the process can still exit`, async () => {
      const socket = path.join(await tempDir(), 'mute.sock')
      // The swtpm TCTI opens SOCKET and SOCKET.ctrl. The data socket never answers; the control
      // socket answers initialisation only in the second case.
      const answerControl = stage === 'after initialisation'
      const script = `
        import { createServer } from 'node:net'
        import { EsysTpm } from ${JSON.stringify(path.resolve('dist/src/attest/index.js'))}
        const data = createServer(() => {})
        const control = createServer((c) => { if (${answerControl}) c.on('data', () => c.write(Buffer.alloc(4))) })
        await new Promise((r) => data.listen(${JSON.stringify(socket)}, r))
        await new Promise((r) => control.listen(${JSON.stringify(`${socket}.ctrl`)}, r))
        try {
          await EsysTpm.open({ tcti: 'swtpm:path=${socket}', commandTimeoutMs: 300 })
        } catch (err) {
          console.log(err.name)
        }
        data.close(); control.close()
        process.exit(7)`
      const { spawnSync } = await import('node:child_process')
      const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        encoding: 'utf8',
        timeout: 15_000
      })
      assert.equal(
        child.status,
        7,
        `the process did not exit by itself (signal ${String(child.signal)}): ${child.stderr}`
      )
      // It gave up by itself: spawnSync's own timeout (the test's deadline) would have killed it otherwise.
      assert.equal(child.stdout.trim(), 'TpmTimeoutError')
    })
  }

  it('a TPM killed under an open context: the next call fails with TpmUnavailableError, onLost is told once, later calls fail at once with TpmClosedError; a new context on the restarted TPM works', async () => {
    const mortal = await startDevice()
    const opened = await EsysTpm.open({ tcti: mortal.tcti })
    const lost: Error[] = []
    opened.onLost = (err) => lost.push(err)
    assert.equal((await opened.getRandom(8)).length, 8)
    assert.equal(lost.length, 0)
    const pid = await mortal.pid()
    assert.ok(pid !== undefined)
    process.kill(pid, 'SIGKILL')
    await until(async () => (await mortal.pid()) === undefined, 'the swtpm gone', 5_000)
    await assert.rejects(opened.getRandom(8), { name: 'TpmUnavailableError', code: 'ERR_TPM_UNAVAILABLE' })
    assert.equal(lost.length, 1)
    assert.equal(lost[0]!.name, 'TpmUnavailableError')
    await mortal.start()
    // The old context stays unusable even with the TPM back (the TCTI does not reconnect).
    await assert.rejects(opened.getRandom(8), { name: 'TpmClosedError' })
    await assert.rejects(opened.readPcrs([{ hash: 'sha256', pcrs: [0] }]), { name: 'TpmClosedError' })
    assert.equal(lost.length, 1)
    await opened.close()
    const again = await EsysTpm.open({ tcti: mortal.tcti })
    assert.equal((await again.getRandom(8)).length, 8)
    await again.close()
  })

  it('refuses calls after close with TpmClosedError', async () => {
    const second = await EsysTpm.open({ tcti: other.tcti })
    await second.close()
    await second.close()
    await assert.rejects(second.getRandom(4), { name: 'TpmClosedError' })
  })
})
