/**
 * Keys made outside the TPM, brought in with tpm2_import as `restricted|sign`, against keys the
 * TPM made (tpm2_createak, tpm2_create), on swtpm: the imported key really sits in the TPM beside
 * the EK (ActivateCredential works for it, tpm2_quote signs with it), but its holder also signs
 * anything in software with the private key it imported. Only its attributes tell.
 */
import assert from 'node:assert/strict'
import { createHash, createPrivateKey, randomBytes, sign } from 'node:crypto'
import type { PcrValues } from '../../../src/attest/pcrs.js'
import {
  verifyQuote,
  verifyCertify,
  parsePublic,
  publicKey,
  objectName,
  parseSerializedPcrs,
  parseAttest,
  p1363ToSignature,
  marshalSignature,
  checkAttestationKey,
  checkDeviceSigningKey,
  checkEndorsementKey,
  makeCredential,
  encodeTpm2ToolsCredential,
  marshalPcrSelection,
  attributeNames,
  marshalPublic,
  parsePublicArea,
  rsaEkTemplate,
  eccEkTemplate,
  TpmWriter,
  EK_POLICY_A,
  TPMA_OBJECT,
  TPM_GENERATED_VALUE,
  TPM_ST,
  type TpmPublic
} from '../../../src/attest/tpm2/index.js'
import { deviceIdFromEndorsementKey } from '../../../src/attest/device-id.js'
import { startOrSkip, type SwtpmTools } from './swtpm-fixture.js'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const sha256 = (...parts: Uint8Array[]): Uint8Array => {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return new Uint8Array(h.digest())
}

describe('attest/tpm2 key attributes: keys made outside the TPM are refused', function () {
  this.timeout(30_000)
  let tpm: SwtpmTools

  before(function () {
    tpm = startOrSkip(this)
    tpm.run('tpm2_createak', [
      '-C',
      '0x81010001',
      '-c',
      'ak.ctx',
      '-G',
      'ecc',
      '-g',
      'sha256',
      '-s',
      'ecdsa',
      '-u',
      'ak.pub',
      '-n',
      'ak.name'
    ])
    tpm.run('tpm2_readpublic', ['-c', '0x81010001', '-o', 'ek.pub'])
    tpm.run('tpm2_readpublic', ['-c', '0x81010016', '-o', 'ek-ecc.pub'])
    // The device's storage key (an owner-hierarchy primary), the parent of both kinds of key.
    tpm.run('tpm2_createprimary', [
      '-C',
      'o',
      '-G',
      'ecc256:null:aes128cfb',
      '-c',
      'primary.ctx',
      '-a',
      'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|decrypt|noda'
    ])
    // The attacker's key: P-256, generated in software, imported as a restricted signing key.
    tpm.run('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'software.pem'], {
      flush: false
    })
    tpm.run('tpm2_import', [
      '-C',
      'primary.ctx',
      '-G',
      'ecc:ecdsa-sha256:null',
      '-i',
      'software.pem',
      '-a',
      'restricted|sign|userwithauth',
      '-u',
      'imported.pub',
      '-r',
      'imported.priv'
    ])
    tpm.run('tpm2_load', [
      '-C',
      'primary.ctx',
      '-u',
      'imported.pub',
      '-r',
      'imported.priv',
      '-c',
      'imported.ctx',
      '-n',
      'imported.name'
    ])
    // A DSK the TPM made, and one imported as a plain signing key.
    tpm.run('tpm2_create', [
      '-C',
      'primary.ctx',
      '-G',
      'ecc256:ecdsa-sha256',
      '-u',
      'dsk.pub',
      '-r',
      'dsk.priv',
      '-a',
      'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign'
    ])
    tpm.run('tpm2_import', [
      '-C',
      'primary.ctx',
      '-G',
      'ecc',
      '-i',
      'software.pem',
      '-a',
      'sign|userwithauth',
      '-u',
      'imported-dsk.pub',
      '-r',
      'imported-dsk.priv'
    ])
  })

  after(() => tpm?.stop())

  const quoteWith = (
    ctx: string,
    nonce: Uint8Array,
    prefix: string
  ): { attest: Uint8Array; signature: Uint8Array; pcrs: PcrValues } => {
    tpm.run('tpm2_quote', [
      '-c',
      ctx,
      '-l',
      'sha256:0,7',
      '-q',
      hex(nonce),
      '-g',
      'sha256',
      '-m',
      `${prefix}.msg`,
      '-s',
      `${prefix}.sig`,
      '-o',
      `${prefix}.pcrs`
    ])
    return {
      attest: tpm.read(`${prefix}.msg`),
      signature: tpm.read(`${prefix}.sig`),
      pcrs: parseSerializedPcrs(tpm.read(`${prefix}.pcrs`)).values
    }
  }

  it('an AK made by tpm2_createak is accepted: its quote verifies with the attributes checked', () => {
    const ak = parsePublic(tpm.read('ak.pub'))
    checkAttestationKey(ak)
    const nonce = randomBytes(20)
    const verified = verifyQuote({ ak, ...quoteWith('ak.ctx', nonce, 'good'), nonce })
    assert.equal(verified.akRestrictionChecked, true)
  })

  it('an AK made outside the TPM with tpm2_import passes ActivateCredential beside the real EK', () => {
    // The premise of the attack: MakeCredential/ActivateCredential alone cannot tell.
    const imported = parsePublic(tpm.read('imported.pub'))
    assert.equal(hex(objectName(imported)), hex(tpm.read('imported.name')))
    const secret = randomBytes(32)
    const made = makeCredential({
      ekPublic: parsePublic(tpm.read('ek.pub')),
      objectName: objectName(imported),
      credential: secret,
      random: randomBytes
    })
    tpm.write('cred.bin', encodeTpm2ToolsCredential(made))
    tpm.run('tpm2_startauthsession', ['--policy-session', '-S', 'session.ctx'], { flush: false })
    tpm.run('tpm2_policysecret', ['-S', 'session.ctx', '-c', 'e'], { flush: false })
    tpm.run('tpm2_activatecredential', [
      '-c',
      'imported.ctx',
      '-C',
      '0x81010001',
      '-i',
      'cred.bin',
      '-o',
      'activated.bin',
      '-P',
      'session:session.ctx'
    ])
    assert.equal(hex(tpm.read('activated.bin')), hex(secret))
  })

  it('an AK made outside the TPM with tpm2_import is refused by verifyQuote, naming fixedTPM, fixedParent and sensitiveDataOrigin', () => {
    const imported = parsePublic(tpm.read('imported.pub'))
    assert.deepEqual(
      attributeNames(imported.objectAttributes).filter((a) => ['restricted', 'sign'].includes(a)),
      ['restricted', 'sign']
    )
    const nonce = randomBytes(20)
    const quote = quoteWith('imported.ctx', nonce, 'imported')
    assert.throws(
      () => verifyQuote({ ak: imported, ...quote, nonce }),
      (err: Error & { missing?: string[]; key?: string }) =>
        err.name === 'KeyNotMadeInTpmError' &&
        err.key === 'AK' &&
        /the AK is not fixedTPM\/fixedParent\/sensitiveDataOrigin: made outside the TPM/.test(err.message) &&
        JSON.stringify(err.missing) === JSON.stringify(['fixedTPM', 'fixedParent', 'sensitiveDataOrigin'])
    )
    assert.throws(() => checkAttestationKey(imported), { name: 'KeyNotMadeInTpmError' })
  })

  it("a quote forged in software with the imported key's private key verifies with a bare key, and is refused with the public area", () => {
    // The holder of software.pem claims any PCR value, without the TPM.
    const imported = parsePublic(tpm.read('imported.pub'))
    const nonce = randomBytes(20)
    const claimed: PcrValues = { sha256: new Map([[7, new Uint8Array(32).fill(0x42)]]) }
    const real = parseAttest(quoteWith('imported.ctx', nonce, 'template').attest)
    const forged = new TpmWriter()
      .u32(TPM_GENERATED_VALUE)
      .u16(TPM_ST.ATTEST_QUOTE)
      .tpm2b(real.qualifiedSigner)
      .tpm2b(nonce)
      .u64(real.clockInfo.clock)
      .u32(real.clockInfo.resetCount)
      .u32(real.clockInfo.restartCount)
      .u8(1)
      .u64(real.firmwareVersion)
      .raw(marshalPcrSelection([{ hash: 'sha256', pcrs: [7] }]))
      .tpm2b(sha256(claimed.sha256!.get(7)!))
      .finish()
    const key = createPrivateKey(Buffer.from(tpm.read('software.pem')).toString('utf8'))
    const signature = marshalSignature(
      p1363ToSignature(new Uint8Array(sign('sha256', forged, { key, dsaEncoding: 'ieee-p1363' })))
    )
    const bare = verifyQuote({ ak: publicKey(imported), attest: forged, signature, nonce, pcrs: claimed })
    assert.equal(bare.akRestrictionChecked, false)
    assert.throws(() => verifyQuote({ ak: imported, attest: forged, signature, nonce, pcrs: claimed }), {
      name: 'KeyNotMadeInTpmError'
    })
  })

  it('a DSK imported with tpm2_import is refused; one made by tpm2_create is accepted', () => {
    checkDeviceSigningKey(parsePublic(tpm.read('dsk.pub')))
    assert.throws(
      () => checkDeviceSigningKey(parsePublic(tpm.read('imported-dsk.pub'))),
      (err: Error & { key?: string }) =>
        err.name === 'KeyNotMadeInTpmError' && err.key === 'DSK' && /the DSK is not fixedTPM/.test(err.message)
    )
    // An AK is not a DSK's substitute the other way round either: a decrypting key is refused.
    const decrypting: TpmPublic = {
      ...parsePublic(tpm.read('dsk.pub')),
      objectAttributes: parsePublic(tpm.read('dsk.pub')).objectAttributes | TPMA_OBJECT.decrypt
    }
    assert.throws(
      () => checkDeviceSigningKey(decrypting),
      (err: Error & { forbidden?: string[] }) =>
        err.name === 'KeyUsageAttributesError' && err.forbidden?.[0] === 'decrypt'
    )
  })

  it('verifyCertify refuses an imported certifier; a certified DSK is checked by its attributes', () => {
    tpm.run('tpm2_load', ['-C', 'primary.ctx', '-u', 'dsk.pub', '-r', 'dsk.priv', '-c', 'dsk.ctx'])
    // tpm2_certify 5.4 takes no qualifying data and puts in a fixed one.
    const nonce = Buffer.from('00ff55aa', 'hex')
    tpm.run('tpm2_certify', ['-c', 'dsk.ctx', '-C', 'ak.ctx', '-g', 'sha256', '-o', 'certify.msg', '-s', 'certify.sig'])
    verifyCertify({
      signer: parsePublic(tpm.read('ak.pub')),
      attest: tpm.read('certify.msg'),
      signature: tpm.read('certify.sig'),
      nonce,
      certifiedPublic: tpm.read('dsk.pub')
    })
    tpm.run('tpm2_certify', [
      '-c',
      'dsk.ctx',
      '-C',
      'imported.ctx',
      '-g',
      'sha256',
      '-o',
      'certify2.msg',
      '-s',
      'certify2.sig'
    ])
    assert.throws(
      () =>
        verifyCertify({
          signer: parsePublic(tpm.read('imported.pub')),
          attest: tpm.read('certify2.msg'),
          signature: tpm.read('certify2.sig'),
          nonce,
          certifiedPublic: tpm.read('dsk.pub')
        }),
      { name: 'KeyNotMadeInTpmError' }
    )
  })
})

describe('attest/tpm2 EK templates: one TPM, one identity', function () {
  this.timeout(30_000)
  let tpm: SwtpmTools

  before(function () {
    tpm = startOrSkip(this)
    tpm.run('tpm2_readpublic', ['-c', '0x81010001', '-o', 'ek.pub'])
    tpm.run('tpm2_readpublic', ['-c', '0x81010016', '-o', 'ek-ecc.pub'])
    // The same endorsement seed, a TCG template with noDA set: a different key, a would-be second identity.
    tpm.write('policy-a.bin', EK_POLICY_A)
    tpm.run('tpm2_createprimary', [
      '-C',
      'e',
      '-G',
      'rsa2048:null:aes128cfb',
      '-g',
      'sha256',
      '-a',
      'fixedtpm|fixedparent|sensitivedataorigin|adminwithpolicy|restricted|decrypt|noda',
      '-L',
      'policy-a.bin',
      '-c',
      'noda.ctx'
    ])
    tpm.run('tpm2_readpublic', ['-c', 'noda.ctx', '-o', 'ek-noda.pub'])
  })

  after(() => tpm?.stop())

  it("swtpm_setup's EKs are TCG templates: RSA 2048 is L-1, ECC P-384 is H-3, and give a deviceId", () => {
    assert.equal(checkEndorsementKey(parsePublic(tpm.read('ek.pub'))), 'L-1')
    assert.equal(checkEndorsementKey(parsePublic(tpm.read('ek-ecc.pub'))), 'H-3')
    assert.match(deviceIdFromEndorsementKey(tpm.read('ek.pub')), /^[a-z2-7]{52}$/)
    // Our own templates, filled in, are L-1 and L-2.
    assert.equal(checkEndorsementKey({ ...rsaEkTemplate(), modulus: new Uint8Array(256).fill(0x80) }), 'L-1')
    assert.equal(
      checkEndorsementKey({ ...eccEkTemplate(), x: new Uint8Array(32).fill(1), y: new Uint8Array(32).fill(2) }),
      'L-2'
    )
  })

  it('an EK made from a TCG template with noDA toggled is refused and yields no deviceId', () => {
    const noDa = parsePublic(tpm.read('ek-noda.pub'))
    assert.notEqual(hex(marshalPublic(noDa)), hex(tpm.read('ek.pub')), 'the TPM derives another key for it')
    assert.throws(
      () => deviceIdFromEndorsementKey(tpm.read('ek-noda.pub')),
      (err: Error & { closest?: string; differences?: string[] }) =>
        err.name === 'EkTemplateMismatchError' &&
        err.closest === 'L-1' &&
        err.differences?.[0] === 'objectAttributes +noDA'
    )
  })

  it('an EK public area with another authPolicy, symmetric, key size or unique size is refused', () => {
    const ek = parsePublic(tpm.read('ek.pub'))
    assert.equal(ek.type, 'rsa')
    const variants: Array<[string, TpmPublic]> = [
      ['authPolicy', { ...ek, authPolicy: new Uint8Array(32) }],
      ['userWithAuth', { ...ek, objectAttributes: ek.objectAttributes | TPMA_OBJECT.userWithAuth }],
      [
        'symmetric',
        {
          ...ek,
          symmetric: {
            ...(ek as { symmetric: { algorithm: number; keyBits: number; mode: number } }).symmetric,
            keyBits: 256
          }
        } as TpmPublic
      ],
      ['modulus', { ...ek, modulus: (ek as { modulus: Uint8Array }).modulus.subarray(1) } as TpmPublic]
    ]
    for (const [what, variant] of variants) {
      assert.throws(() => checkEndorsementKey(variant), { name: 'EkTemplateMismatchError' }, what)
      assert.throws(() => deviceIdFromEndorsementKey(marshalPublic(variant)), { name: 'EkTemplateMismatchError' }, what)
    }
    // Parsing the variant's bytes back gives the same refusal: the check is on the bytes hashed into the deviceId.
    assert.throws(() => checkEndorsementKey(parsePublicArea(marshalPublic(variants[0]![1]).subarray(2))), {
      name: 'EkTemplateMismatchError'
    })
  })
})
