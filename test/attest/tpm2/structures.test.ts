/**
 * Decoders and builders on real bytes (fixtures.ts: tpm2-tools output from swtpm): exact
 * round-trips, field values, golden template bytes, and refusal of every truncation.
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync, sign, verify } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { MalformedInputError } from '../../../src/common/errors.js'
import {
  parsePublic,
  parsePublicArea,
  marshalPublic,
  marshalPublicArea,
  objectName,
  publicKey,
  isRestrictedSigningKey,
  eccPoint,
  publicToPem,
  attestationKeyTemplate,
  signingKeyTemplate,
  storageKeyTemplate,
  sealedDataTemplate,
  rsaEkTemplate,
  eccEkTemplate,
  externalVerificationKey,
  EK_POLICY_A,
  parseAttest,
  parseTpm2bAttest,
  parseSignature,
  marshalSignature,
  signatureToDer,
  signatureToP1363,
  verifyTpmSignature,
  parsePcrSelection,
  marshalPcrSelection,
  parsePcrSelectionSpec,
  formatPcrSelectionSpec,
  parseSerializedPcrs,
  parseCapabilityData,
  decodeTpmProperties,
  decodeManufacturer,
  formatFirmwareVersion,
  parseTpm2ToolsCredential,
  encodeTpm2ToolsCredential,
  readPcrsFile,
  pcrValuesToJson,
  TpmWriter,
  TPM_ALG,
  TPM_ST,
  TPMA_OBJECT,
  TPM2_LIMITS,
  type TpmPublic
} from '../../../src/attest/tpm2/index.js'
import * as fx from './fixtures.js'
import { needsSharedTestdata } from '../../helpers/shared.js'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const keylime = (name: string): Uint8Array =>
  new Uint8Array(readFileSync(`../shared/testdata/quotes/tpm2-tools-rsa/${name}`))
const tpmt = (tpm2b: Uint8Array): Uint8Array => tpm2b.subarray(2)

/** Every proper prefix and one extra byte must be refused with a MalformedInputError subclass. */
function assertStrict(what: string, bytes: Uint8Array, parse: (b: Uint8Array) => unknown): void {
  parse(bytes)
  const typed =
    (at: string) =>
    (err: unknown): boolean => {
      assert.ok(
        err instanceof MalformedInputError,
        `${what} ${at}: ${(err as Error)?.name}: ${(err as Error)?.message}`
      )
      assert.equal(err.exitCode, 2)
      return true
    }
  for (let length = 0; length < bytes.length; length++)
    assert.throws(() => parse(bytes.slice(0, length)), typed(`cut at ${length}`))
  const longer = new Uint8Array(bytes.length + 1)
  longer.set(bytes)
  assert.throws(() => parse(longer), typed('with a trailing byte'))
}

describe('attest/tpm2 structures on real tpm2-tools bytes', () => {
  describe('TPM2B_PUBLIC / TPMT_PUBLIC', () => {
    const publics: Array<[string, Uint8Array]> = [
      ['RSA EK', fx.rsaEkPublic],
      ['ECC EK', fx.eccEkPublic],
      ['ECC AK', fx.eccAkPublic],
      ['signing key', fx.signingKeyPublic],
      ['sealed object', fx.sealedPublic]
    ]

    for (const [what, bytes] of publics) {
      it(`${what}: parses, keeps the raw TPMT_PUBLIC, marshals back byte for byte`, () => {
        const pub = parsePublic(bytes)
        assert.equal(hex(pub.raw!), hex(tpmt(bytes)))
        assert.equal(hex(marshalPublic(pub)), hex(bytes))
        assert.equal(hex(marshalPublicArea(parsePublicArea(tpmt(bytes)))), hex(tpmt(bytes)))
      })
    }

    it('computes the Name tpm2_createak reported', () => {
      assert.equal(hex(objectName(parsePublic(fx.eccAkPublic))), hex(fx.eccAkName))
    })

    it('decodes the fields of the RSA EK and the ECC AK', () => {
      const ek = parsePublic(fx.rsaEkPublic)
      assert.equal(ek.type, 'rsa')
      if (ek.type !== 'rsa') return
      assert.equal(ek.keyBits, 2048)
      assert.equal(ek.exponent, 0)
      assert.equal(hex(ek.authPolicy), hex(EK_POLICY_A))
      assert.equal(publicKey(ek).asymmetricKeyDetails?.modulusLength, 2048)
      assert.equal(publicKey(ek).asymmetricKeyDetails?.publicExponent, 65537n)
      const ak = parsePublic(fx.eccAkPublic)
      assert.equal(ak.type, 'ecc')
      assert.equal(publicKey(ak).asymmetricKeyDetails?.namedCurve, 'prime256v1')
      assert.equal(eccPoint(ak).length, 65)
      assert.match(publicToPem(ak), /BEGIN PUBLIC KEY/)
    })

    it('tells restricted signing keys from the others', () => {
      assert.equal(isRestrictedSigningKey(parsePublic(fx.eccAkPublic)), true)
      for (const other of [fx.signingKeyPublic, fx.rsaEkPublic, fx.eccEkPublic, fx.sealedPublic])
        assert.equal(isRestrictedSigningKey(parsePublic(other)), false)
      const restrictedBoth = {
        ...attestationKeyTemplate(),
        objectAttributes: attestationKeyTemplate().objectAttributes | TPMA_OBJECT.decrypt
      }
      assert.equal(isRestrictedSigningKey(restrictedBoth), false)
    })

    it('refuses every truncation, trailing bytes, and oversized fields', () => {
      for (const [what, bytes] of publics) {
        assertStrict(`TPM2B_PUBLIC ${what}`, bytes, parsePublic)
        assertStrict(`TPMT_PUBLIC ${what}`, tpmt(bytes), parsePublicArea)
      }
      // authPolicy declared 65 bytes long (a TPM2B_DIGEST holds at most 64)
      const ak = new Uint8Array(tpmt(fx.eccAkPublic))
      ak.set([0, 65], 8)
      assert.throws(() => parsePublicArea(ak), { name: 'MalformedTpmStructureError' })
      assert.throws(() => parsePublicArea(new Uint8Array(TPM2_LIMITS.maxStructureSize + 1)), {
        name: 'MalformedTpmStructureError'
      })
    })

    it('refuses unknown types, schemes and hashes with typed errors', () => {
      const cases: Array<[number, number[]]> = [
        [0, [0x00, 0x25]],
        [2, [0x00, 0x99]],
        [12, [0x00, 0x14]],
        [14, [0x00, 0x99]],
        [18, [0x00, 0x05]],
        [20, [0x12, 0x34]]
      ]
      for (const [offset, patch] of cases) {
        const bytes = new Uint8Array(tpmt(fx.eccAkPublic))
        bytes.set(patch, offset)
        assert.throws(
          () => parsePublicArea(bytes),
          (err: unknown) => err instanceof MalformedInputError,
          `patch at ${offset}`
        )
      }
    })

    it('refuses to build keys from points off the curve or wrong-size moduli', () => {
      const ak = parsePublic(fx.eccAkPublic) as Extract<TpmPublic, { type: 'ecc' }>
      const off = { ...ak, y: ak.x }
      assert.throws(() => publicKey(off), { name: 'InvalidPublicKeyError' })
      assert.throws(() => publicKey(rsaEkTemplate()), { name: 'InvalidPublicKeyError' })
      assert.throws(() => publicKey(sealedDataTemplate(new Uint8Array(32))), { name: 'UnsupportedAlgorithmError' })
    })
  })

  describe('templates: golden bytes against objects tpm2-tools created', () => {
    const withUnique = (template: TpmPublic, real: TpmPublic): TpmPublic => {
      if (template.type === 'rsa' && real.type === 'rsa') return { ...template, modulus: real.modulus }
      if (template.type === 'ecc' && real.type === 'ecc') return { ...template, x: real.x, y: real.y }
      if (template.type === 'keyedhash' && real.type === 'keyedhash') return { ...template, unique: real.unique }
      throw new Error('type mismatch')
    }
    const withNoDa = (bytes: Uint8Array): Uint8Array => {
      const real = parsePublic(bytes)
      return marshalPublic({ ...real, objectAttributes: real.objectAttributes | TPMA_OBJECT.noDA } as TpmPublic)
    }
    const cases: Array<[string, () => TpmPublic, Uint8Array]> = [
      ['rsaEkTemplate = tpm2_createek -G rsa (TCG L-1)', rsaEkTemplate, fx.rsaEkPublic],
      ['eccEkTemplate = tpm2_createek -G ecc (TCG L-2)', eccEkTemplate, fx.eccEkPublic],
      // The AK and the signing key are tpm2-tools' but noDA (they have no auth value for it to guard).
      [
        'attestationKeyTemplate = tpm2_createak -G ecc -s ecdsa -g sha256, and noDA',
        attestationKeyTemplate,
        withNoDa(fx.eccAkPublic)
      ],
      [
        'signingKeyTemplate = tpm2_create -G ecc256:ecdsa-sha256 -a …|sign, and noDA',
        signingKeyTemplate,
        withNoDa(fx.signingKeyPublic)
      ],
      [
        'sealedDataTemplate = tpm2_create -L policy -a fixedtpm|fixedparent -i-',
        () => sealedDataTemplate(parsePublic(fx.sealedPublic).authPolicy),
        fx.sealedPublic
      ]
    ]
    for (const [title, template, real] of cases) {
      it(title, () => {
        assert.equal(hex(marshalPublic(withUnique(template(), parsePublic(real)))), hex(real))
      })
    }

    it('EK templates carry the TCG unique sizes; the storage key is a restricted AES-128-CFB decryption key without DA', () => {
      assert.equal(hex(tpmt(marshalPublic(rsaEkTemplate())).subarray(-258)), `0100${'00'.repeat(256)}`)
      assert.equal(
        hex(marshalPublicArea(eccEkTemplate()).subarray(-68)),
        `0020${'00'.repeat(32)}0020${'00'.repeat(32)}`
      )
      const storage = storageKeyTemplate()
      assert.equal(storage.objectAttributes, 0x00030472)
      assert.deepEqual(storage.symmetric, { algorithm: TPM_ALG.AES, keyBits: 128, mode: TPM_ALG.CFB })
      assert.equal(hex(objectName(externalVerificationKey(eccPoint(parsePublic(fx.eccAkPublic))))).slice(0, 4), '000b')
    })

    it('template calls return independent objects', () => {
      const a = rsaEkTemplate()
      a.authPolicy[0] = 0
      assert.equal(rsaEkTemplate().authPolicy[0], 0x83)
      assert.throws(() => sealedDataTemplate(new Uint8Array(20)), { name: 'InvalidPublicKeyError' })
    })
  })

  describe('TPMS_ATTEST', () => {
    it('parses a quote: clock, firmware, selection and digest', () => {
      const a = parseAttest(fx.quoteAttest)
      assert.equal(a.magic, 0xff544347)
      assert.equal(a.type, TPM_ST.ATTEST_QUOTE)
      assert.equal(hex(a.extraData), hex(fx.quoteNonce))
      assert.equal(a.firmwareVersion, 0x2019102300163636n)
      assert.equal(a.clockInfo.safe, true)
      assert.equal(typeof a.clockInfo.clock, 'bigint')
      assert.equal(a.attested.kind, 'quote')
      if (a.attested.kind === 'quote')
        assert.deepEqual(a.attested.pcrSelect, [{ hash: 'sha256', pcrs: [0, 1, 2, 3, 7, 16] }])
      assert.equal(hex(a.raw), hex(fx.quoteAttest))
    })

    it("parses a certification: the certified Name is the signing key's", () => {
      const a = parseAttest(fx.certifyAttest)
      assert.equal(a.attested.kind, 'certify')
      if (a.attested.kind === 'certify')
        assert.equal(hex(a.attested.name), hex(objectName(parsePublic(fx.signingKeyPublic))))
      assert.equal(hex(a.extraData), '00ff55aa')
    })

    it('parses the TPM2B_ATTEST form only through its own function', () => {
      const wrapped = new TpmWriter().tpm2b(fx.quoteAttest).finish()
      assert.deepEqual(parseTpm2bAttest(wrapped), parseAttest(fx.quoteAttest))
      assert.throws(() => parseAttest(wrapped), { name: 'MalformedTpmStructureError' })
      assertStrict('TPM2B_ATTEST', wrapped, parseTpm2bAttest)
    })

    needsSharedTestdata(
      it('refuses other attestation types, a bad safe flag, every truncation', () => {
        for (const type of [TPM_ST.ATTEST_TIME, TPM_ST.ATTEST_NV, 0x1234]) {
          const bytes = new Uint8Array(fx.quoteAttest)
          new DataView(bytes.buffer).setUint16(4, type)
          assert.throws(() => parseAttest(bytes), { name: 'MalformedTpmStructureError' })
        }
        const unsafe = new Uint8Array(fx.quoteAttest)
        unsafe[6 + 36 + 22 + 16] = 2
        assert.throws(() => parseAttest(unsafe), /TPMI_YES_NO/)
        for (const bytes of [fx.quoteAttest, fx.certifyAttest, keylime('quote.out')])
          assertStrict('TPMS_ATTEST', bytes, parseAttest)
      })
    )
  })

  describe('TPMT_SIGNATURE', () => {
    needsSharedTestdata(
      it('round-trips ECDSA and RSASSA signatures; ECDSA converts to DER and P1363', () => {
        for (const bytes of [fx.quoteSignature, fx.certifySignature, keylime('quotesig.out')])
          assert.equal(hex(marshalSignature(parseSignature(bytes))), hex(bytes))
        const sig = parseSignature(fx.quoteSignature)
        const key = publicKey(parsePublic(fx.eccAkPublic))
        assert.ok(verify('sha256', fx.quoteAttest, key, signatureToDer(sig)))
        assert.ok(verify('sha256', fx.quoteAttest, { key, dsaEncoding: 'ieee-p1363' }, signatureToP1363(sig)))
        assert.ok(verifyTpmSignature(key, fx.quoteAttest, sig))
        assert.equal(verifyTpmSignature(key, fx.certifyAttest, sig), false)
      })
    )

    it('encodes long DER lengths (P-521 components)', () => {
      const { publicKey: key, privateKey } = generateKeyPairSync('ec', { namedCurve: 'secp521r1' })
      for (let i = 0; i < 8; i++) {
        const message = Buffer.from(`m${i}`)
        const p1363 = sign('sha512', message, { key: privateKey, dsaEncoding: 'ieee-p1363' })
        const sig = { kind: 'ecdsa' as const, hash: 'sha512' as const, r: p1363.subarray(0, 66), s: p1363.subarray(66) }
        assert.ok(verifyTpmSignature(key, message, parseSignature(marshalSignature(sig))))
      }
    })

    needsSharedTestdata(
      it('refuses HMAC, ECDAA and NULL signatures, unknown hashes, every truncation', () => {
        for (const alg of [TPM_ALG.HMAC, TPM_ALG.ECDAA, TPM_ALG.NULL, TPM_ALG.SM2]) {
          const bytes = new Uint8Array(fx.quoteSignature)
          new DataView(bytes.buffer).setUint16(0, alg)
          assert.throws(() => parseSignature(bytes), { name: 'UnsupportedAlgorithmError' })
        }
        const badHash = new Uint8Array(fx.quoteSignature)
        badHash[3] = 0x99
        assert.throws(() => parseSignature(badHash), { name: 'MalformedTpmStructureError' })
        for (const bytes of [fx.quoteSignature, fx.certifySignature, keylime('quotesig.out')])
          assertStrict('TPMT_SIGNATURE', bytes, parseSignature)
      })
    )
  })

  describe('PCR selections', () => {
    it('parses tpm2-tools specs, keeps bank order, round-trips TPML_PCR_SELECTION', () => {
      const selection = parsePcrSelectionSpec('sha256:7,3,23+sha1:0,1')
      assert.deepEqual(selection, [
        { hash: 'sha256', pcrs: [3, 7, 23] },
        { hash: 'sha1', pcrs: [0, 1] }
      ])
      const bytes = marshalPcrSelection(selection)
      assert.equal(hex(bytes), '00000002' + '000b' + '03' + '880080' + '0004' + '03' + '030000')
      assert.deepEqual(parsePcrSelection(bytes), selection)
      assert.equal(formatPcrSelectionSpec(selection), 'sha256:3,7,23+sha1:0,1')
      assertStrict('TPML_PCR_SELECTION', bytes, parsePcrSelection)
    })

    it('reads sizeofSelect 1..4 and refuses PCRs beyond 23, 0 or 5 select bytes, repeated banks', () => {
      assert.deepEqual(parsePcrSelection(Buffer.from('00000001000b0181', 'hex')), [{ hash: 'sha256', pcrs: [0, 7] }])
      assert.deepEqual(parsePcrSelection(Buffer.from('00000001000b0401000000', 'hex')), [{ hash: 'sha256', pcrs: [0] }])
      for (const bad of [
        '00000001000b0400000001',
        '00000001000b00',
        '00000001000b050000000000',
        '00000002000b03010000000b03010000',
        '00000001009903010000',
        'ffffffff'
      ]) {
        assert.throws(() => parsePcrSelection(Buffer.from(bad, 'hex')), { name: 'MalformedTpmStructureError' }, bad)
      }
    })

    for (const bad of [
      '',
      'sha256',
      'sha256:',
      'sha256:24',
      'sha256:1,1',
      'md5:0',
      'sha256:0+sha256:1',
      'sha256:a',
      'SHA256:0',
      'sha256:01',
      'sha256:0,',
      'sha256:-1',
      'x'.repeat(300)
    ]) {
      it(`refuses the spec ${JSON.stringify(bad.slice(0, 20))}`, () => {
        assert.throws(() => parsePcrSelectionSpec(bad), { name: 'InvalidPcrSelectionError' })
      })
    }

    it('refuses to marshal duplicate banks, duplicate or out-of-range PCRs', () => {
      for (const selection of [
        [{ hash: 'sha256', pcrs: [1, 1] }],
        [{ hash: 'sha256', pcrs: [24] }],
        [
          { hash: 'sha256', pcrs: [0] },
          { hash: 'sha256', pcrs: [1] }
        ],
        [{ hash: 'md5', pcrs: [0] }]
      ]) {
        assert.throws(() => marshalPcrSelection(selection as never), { name: 'InvalidPcrSelectionError' })
      }
    })
  })

  describe('tpm2-tools PCR files', () => {
    it('reads the serialized file of the ECC quote and JSON files', () => {
      const file = parseSerializedPcrs(fx.quotePcrs)
      assert.deepEqual(file.selection, [{ hash: 'sha256', pcrs: [0, 1, 2, 3, 7, 16] }])
      const json = JSON.stringify({ pcrs: pcrValuesToJson(file.values) })
      assert.deepEqual(readPcrsFile(Buffer.from(json)), file)
      assertStrict('serialized PCR file', fx.quotePcrs, parseSerializedPcrs)
      // Every prefix of JSON text without trailing blanks is invalid JSON.
      assertStrict('JSON PCR file', Buffer.from(json), readPcrsFile)
    })

    it('refuses malformed JSON PCR files with typed errors', () => {
      const cases: Array<[string, string]> = [
        ['{"pcrs": {"md5": {}}}', 'InvalidPcrSelectionError'],
        ['{"pcrs": {"sha256": {"24": "00"}}}', 'InvalidPcrSelectionError'],
        ['{"pcrs": {"sha256": {"01": "00"}}}', 'InvalidPcrSelectionError'],
        ['{"pcrs": {"sha256": {"1": "abcd"}}}', 'MalformedPcrFileError'],
        ['{"nope": 1}', 'MalformedPcrFileError'],
        ['{', 'MalformedPcrFileError'],
        ['{"pcrs": []}', 'MalformedPcrFileError'],
        ['{"pcrs": {"sha256": [1]}}', 'MalformedPcrFileError'],
        ['{"pcrs": {"sha256": {"1": 7}}}', 'MalformedPcrFileError']
      ]
      for (const [text, name] of cases) assert.throws(() => readPcrsFile(Buffer.from(text)), { name }, text)
    })
  })

  describe('TPMS_CAPABILITY_DATA', () => {
    it('decodes swtpm\'s fixed properties: IBM, "SW   TPM", spec 1.64, the firmware version quotes carry', () => {
      const props = decodeTpmProperties(parseCapabilityData(fx.capabilityProperties))
      assert.equal(props.family, '2.0')
      assert.equal(props.manufacturer, 'IBM')
      assert.equal(props.vendor, 'SW   TPM')
      assert.equal(props.revision, 164)
      assert.equal(props.pcrCount, 24)
      assert.equal(props.firmwareVersion, parseAttest(fx.quoteAttest).firmwareVersion)
      assert.equal(formatFirmwareVersion(props.firmwareVersion), '8217.4131.22.13878')
      assert.equal(decodeManufacturer(0x49465800), 'IFX')
    })

    it('decodes the PCR allocation (sha256 only, the other banks empty)', () => {
      const data = parseCapabilityData(fx.capabilityPcrs)
      assert.equal(data.kind, 'pcrs')
      if (data.kind !== 'pcrs') return
      assert.deepEqual(
        data.selection.map((b) => [b.hash, b.pcrs.length]),
        [
          ['sha1', 0],
          ['sha256', 24],
          ['sha384', 0],
          ['sha512', 0]
        ]
      )
      assert.throws(() => decodeTpmProperties(data), { name: 'MalformedTpmStructureError' })
    })

    it('refuses other capabilities, huge counts and every truncation', () => {
      assert.throws(() => parseCapabilityData(Buffer.from('0000000100000000', 'hex')), {
        name: 'MalformedTpmStructureError'
      })
      assert.throws(() => parseCapabilityData(Buffer.from('00000006ffffffff', 'hex')), /exceed/)
      assertStrict('capability properties', fx.capabilityProperties, parseCapabilityData)
      assertStrict('capability PCRs', fx.capabilityPcrs, parseCapabilityData)
    })
  })

  describe('tpm2-tools credential files', () => {
    it('reads tpm2_makecredential output and writes it back identically', () => {
      const made = parseTpm2ToolsCredential(fx.credentialFile)
      assert.equal(made.credentialBlob.length, 2 + 0x34)
      assert.equal(made.secret.length, 2 + 256)
      assert.equal(hex(encodeTpm2ToolsCredential(made)), hex(fx.credentialFile))
      assertStrict('credential file', fx.credentialFile, parseTpm2ToolsCredential)
      const otherMagic = new Uint8Array(fx.credentialFile)
      otherMagic[0] = 0
      assert.throws(() => parseTpm2ToolsCredential(otherMagic), /magic/)
    })
  })
})
