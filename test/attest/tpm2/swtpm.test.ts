/**
 * Cross-checks against a real (software) TPM driven by tpm2-tools: quotes made by tpm2_quote
 * verify, our PCR files satisfy tpm2_checkquote, the TPM2_Sign forgery is refused, templates match
 * the objects tpm2-tools creates, MakeCredential output is activated by tpm2_activatecredential,
 * policy digests equal trial sessions', and raw TPM2_GetCapability answers decode.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import type { PcrSelection, PcrValues } from '../../../src/attest/pcrs.js'
import {
  verifyQuote,
  verifyCertify,
  parsePublic,
  publicKey,
  marshalPublic,
  objectName,
  parseSerializedPcrs,
  serializePcrs,
  parseAttest,
  parseSignature,
  attestationKeyTemplate,
  TPMA_OBJECT,
  signingKeyTemplate,
  storageKeyTemplate,
  sealedDataTemplate,
  rsaEkTemplate,
  eccEkTemplate,
  makeCredential,
  encodeTpm2ToolsCredential,
  parseTpm2ToolsCredential,
  policyPcr,
  policySecret,
  policyCommandCode,
  policyAuthorize,
  permanentHandleName,
  parseCapabilityData,
  decodeTpmProperties,
  parsePcrSelectionSpec,
  TpmWriter,
  EK_POLICY_A,
  ZERO_POLICY,
  TPM_CC,
  TPM_CAP,
  TPM_PT,
  TPM_RH,
  TPM_GENERATED_VALUE,
  TPM_ST,
  marshalPcrSelection,
  type TpmPublic
} from '../../../src/attest/tpm2/index.js'
import { startOrSkip, type SwtpmTools } from './swtpm-fixture.js'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const sha256 = (...parts: Uint8Array[]): Uint8Array => {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return new Uint8Array(h.digest())
}

describe('attest/tpm2 against swtpm and tpm2-tools', function () {
  this.timeout(30_000)
  let tpm: SwtpmTools

  before(function () {
    tpm = startOrSkip(this)
    // PCR 16 is resettable and starts at zero: extend it so the quoted values are not all zeros.
    tpm.run('tpm2_pcrextend', [`16:sha256=${'ab'.repeat(32)}`])
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
    tpm.run('tpm2_readpublic', ['-c', 'primary.ctx', '-o', 'primary.pub'])
    tpm.run('tpm2_create', [
      '-C',
      'primary.ctx',
      '-G',
      'ecc256:ecdsa-sha256',
      '-u',
      'sk.pub',
      '-r',
      'sk.priv',
      '-a',
      'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign|noda'
    ])
    tpm.run('tpm2_load', ['-C', 'primary.ctx', '-u', 'sk.pub', '-r', 'sk.priv', '-c', 'sk.ctx'])
  })

  after(() => tpm?.stop())

  const quote = (spec: string, nonce: Uint8Array, prefix: string): void => {
    tpm.run('tpm2_quote', [
      '-c',
      'ak.ctx',
      '-l',
      spec,
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
  }

  describe('quotes', () => {
    const nonce = randomBytes(20)
    before(() => quote('sha256:0,1,2,3,7,16', nonce, 'q'))

    it('verifies a fresh ECC quote with the AK from tpm2_createak -u', () => {
      const ak = parsePublic(tpm.read('ak.pub'))
      assert.equal(hex(objectName(ak)), hex(tpm.read('ak.name')))
      const pcrs = parseSerializedPcrs(tpm.read('q.pcrs'))
      const verified = verifyQuote({
        ak,
        attest: tpm.read('q.msg'),
        signature: tpm.read('q.sig'),
        nonce,
        pcrs: pcrs.values
      })
      assert.equal(verified.akRestrictionChecked, true)
      assert.equal(hex(verified.pcrs.sha256!.get(16)!), hex(sha256(new Uint8Array(32), Buffer.alloc(32, 0xab))))
      assert.throws(
        () =>
          verifyQuote({
            ak,
            attest: tpm.read('q.msg'),
            signature: tpm.read('q.sig'),
            nonce: randomBytes(20),
            pcrs: pcrs.values
          }),
        { name: 'QuoteNonceMismatchError' }
      )
    })

    it('serializePcrs writes what tpm2_quote wrote, and tpm2_checkquote accepts our file (and refuses a doctored one)', () => {
      const original = tpm.read('q.pcrs')
      const file = parseSerializedPcrs(original)
      const ours = serializePcrs(parsePcrSelectionSpec('sha256:0,1,2,3,7,16'), file.values)
      assert.equal(hex(ours), hex(original))
      const check = (pcrsFile: string): { status: number | null } =>
        tpm.runFailing('tpm2_checkquote', [
          '-u',
          'ak.pub',
          '-m',
          'q.msg',
          '-s',
          'q.sig',
          '-f',
          pcrsFile,
          '-g',
          'sha256',
          '-q',
          hex(nonce)
        ])
      tpm.write('ours.pcrs', ours)
      assert.equal(check('ours.pcrs').status, 0)
      const doctored: PcrValues = { sha256: new Map(file.values.sha256) }
      doctored.sha256!.set(7, new Uint8Array(32).fill(1))
      tpm.write('doctored.pcrs', serializePcrs(file.selection, doctored))
      assert.notEqual(check('doctored.pcrs').status, 0)
    })

    it('24 PCRs span three digest lists, byte-exact with tpm2-tools, and verify', () => {
      const all = `sha256:${Array.from({ length: 24 }, (_, i) => i).join(',')}`
      const n = randomBytes(16)
      quote(all, n, 'all')
      const file = parseSerializedPcrs(tpm.read('all.pcrs'))
      assert.equal(file.selection[0]!.pcrs.length, 24)
      assert.equal(hex(serializePcrs(file.selection, file.values)), hex(tpm.read('all.pcrs')))
      verifyQuote({
        ak: parsePublic(tpm.read('ak.pub')),
        attest: tpm.read('all.msg'),
        signature: tpm.read('all.sig'),
        nonce: n,
        pcrs: file.values
      })
    })

    it('refuses the TPM2_Sign forgery: quote-shaped bytes signed by a non-restricted key', () => {
      // The attacker's claim: PCR 7 holds a value of their choosing, over the verifier's nonce.
      const verifierNonce = randomBytes(20)
      const claimed: PcrValues = { sha256: new Map([[7, new Uint8Array(32).fill(0x42)]]) }
      const selection: PcrSelection = [{ hash: 'sha256', pcrs: [7] }]
      const forged = new TpmWriter()
        .u32(TPM_GENERATED_VALUE)
        .u16(TPM_ST.ATTEST_QUOTE)
        .tpm2b(objectName(parsePublic(tpm.read('sk.pub'))))
        .tpm2b(verifierNonce)
        .u64(100n)
        .u32(0)
        .u32(0)
        .u8(1)
        .u64(parseAttest(tpm.read('q.msg')).firmwareVersion)
        .raw(marshalPcrSelection(selection))
        .tpm2b(sha256(claimed.sha256!.get(7)!))
        .finish()
      tpm.write('forged.digest', sha256(forged))
      tpm.run('tpm2_sign', ['-c', 'sk.ctx', '-g', 'sha256', '-d', '-o', 'forged.sig', 'forged.digest'])
      const signingKey = parsePublic(tpm.read('sk.pub'))
      assert.throws(
        () =>
          verifyQuote({
            ak: signingKey,
            attest: forged,
            signature: tpm.read('forged.sig'),
            nonce: verifierNonce,
            pcrs: claimed
          }),
        { name: 'NotRestrictedKeyError' }
      )
      // The signature itself is genuine: only the key's attributes expose the forgery. Given a
      // bare public key, verification cannot tell, and says so.
      const bare = verifyQuote({
        ak: publicKey(signingKey),
        attest: forged,
        signature: tpm.read('forged.sig'),
        nonce: verifierNonce,
        pcrs: claimed
      })
      assert.equal(bare.akRestrictionChecked, false)
      // The AK itself (restricted) refuses to sign it: the TPM would not produce this forgery.
      assert.notEqual(
        tpm.runFailing('tpm2_sign', ['-c', 'ak.ctx', '-g', 'sha256', '-d', '-o', 'ak-forged.sig', 'forged.digest'])
          .status,
        0
      )
    })

    it('verifies TPM2_Certify of the signing key by the AK', () => {
      tpm.run('tpm2_certify', ['-c', 'sk.ctx', '-C', 'ak.ctx', '-g', 'sha256', '-o', 'cert.attest', '-s', 'cert.sig'])
      const ak = parsePublic(tpm.read('ak.pub'))
      // tpm2-tools 5.4 certifies with the fixed qualifying data 00ff55aa.
      const verified = verifyCertify({
        signer: ak,
        attest: tpm.read('cert.attest'),
        signature: tpm.read('cert.sig'),
        nonce: Buffer.from('00ff55aa', 'hex'),
        certifiedPublic: tpm.read('sk.pub')
      })
      assert.equal(hex(verified.certifiedName), hex(objectName(parsePublic(tpm.read('sk.pub')))))
      assert.throws(
        () =>
          verifyCertify({
            signer: ak,
            attest: tpm.read('cert.attest'),
            signature: tpm.read('cert.sig'),
            nonce: Buffer.from('00ff55aa', 'hex'),
            certifiedPublic: tpm.read('ak.pub')
          }),
        { name: 'CertifiedNameMismatchError' }
      )
      assert.equal(parseSignature(tpm.read('cert.sig')).kind, 'ecdsa')
    })
  })

  describe('templates against the objects tpm2-tools creates', () => {
    const golden = (template: TpmPublic, file: string): void => {
      const real = parsePublic(tpm.read(file))
      const filled: TpmPublic =
        template.type === 'rsa' && real.type === 'rsa'
          ? { ...template, modulus: real.modulus }
          : template.type === 'ecc' && real.type === 'ecc'
            ? { ...template, x: real.x, y: real.y }
            : template.type === 'keyedhash' && real.type === 'keyedhash'
              ? { ...template, unique: real.unique }
              : template
      assert.equal(hex(marshalPublic(filled)), hex(tpm.read(file)))
    }

    it("rsaEkTemplate: tpm2_createek -G rsa, and swtpm_setup's persistent EK 0x81010001", () => {
      tpm.run('tpm2_createek', ['-G', 'rsa', '-c', 'ek-rsa.ctx', '-u', 'ek-rsa.pub'])
      golden(rsaEkTemplate(), 'ek-rsa.pub')
      golden(rsaEkTemplate(), 'ek.pub')
    })

    it('eccEkTemplate: tpm2_createek -G ecc', () => {
      tpm.run('tpm2_createek', ['-G', 'ecc', '-c', 'ek-ecc.ctx', '-u', 'ek-ecc.pub'])
      golden(eccEkTemplate(), 'ek-ecc.pub')
    })

    it('attestationKeyTemplate: tpm2_createak -G ecc, and noDA; signingKeyTemplate; storageKeyTemplate (with noda)', () => {
      // tpm2_createak takes no attributes: the AK made here is its own but noDA (no auth value to guard).
      const ak = parsePublic(tpm.read('ak.pub'))
      assert.equal(attestationKeyTemplate().objectAttributes, ak.objectAttributes | TPMA_OBJECT.noDA)
      golden({ ...attestationKeyTemplate(), objectAttributes: ak.objectAttributes } as TpmPublic, 'ak.pub')
      golden(signingKeyTemplate(), 'sk.pub')
      golden(storageKeyTemplate(), 'primary.pub')
    })

    it('sealedDataTemplate: tpm2_create of data under a PCR policy', () => {
      tpm.run('tpm2_createpolicy', ['--policy-pcr', '-l', 'sha256:0,1,16', '-L', 'seal.policy'])
      tpm.run(
        'tpm2_create',
        [
          '-C',
          'primary.ctx',
          '-L',
          'seal.policy',
          '-a',
          'fixedtpm|fixedparent',
          '-i-',
          '-u',
          'seal.pub',
          '-r',
          'seal.priv'
        ],
        { input: Buffer.from('sealed') }
      )
      golden(sealedDataTemplate(tpm.read('seal.policy')), 'seal.pub')
    })
  })

  describe('MakeCredential, activated by tpm2_activatecredential', () => {
    /** tpm2_activatecredential's exit status; the recovered secret when it succeeded. */
    const activate = (
      akContext: string,
      ekContext: string,
      file: string
    ): { status: number | null; secret: Uint8Array } => {
      tpm.run('tpm2_startauthsession', ['--policy-session', '-S', 'session.ctx'], { flush: false })
      tpm.run('tpm2_policysecret', ['-S', 'session.ctx', '-c', 'e'], { flush: false })
      const result = tpm.runFailing('tpm2_activatecredential', [
        '-c',
        akContext,
        '-C',
        ekContext,
        '-i',
        file,
        '-o',
        'recovered',
        '-P',
        'session:session.ctx'
      ])
      return { status: result.status, secret: result.status === 0 ? tpm.read('recovered') : new Uint8Array(0) }
    }
    const recovered = (akContext: string, ekContext: string, file: string): string => {
      const result = activate(akContext, ekContext, file)
      assert.equal(result.status, 0, 'tpm2_activatecredential failed')
      return hex(result.secret)
    }

    it('RSA EK (TCG L-1): the TPM recovers the credential for the AK, and not for another Name', () => {
      const ek = parsePublic(tpm.read('ek.pub'))
      const credential = randomBytes(32)
      const made = makeCredential({ ekPublic: ek, objectName: tpm.read('ak.name'), credential, random: randomBytes })
      tpm.write('cred.out', encodeTpm2ToolsCredential(made))
      assert.equal(recovered('ak.ctx', '0x81010001', 'cred.out'), hex(credential))
      const other = makeCredential({
        ekPublic: ek,
        objectName: objectName(parsePublic(tpm.read('sk.pub'))),
        credential,
        random: randomBytes
      })
      tpm.write('other.out', encodeTpm2ToolsCredential(other))
      assert.notEqual(activate('ak.ctx', '0x81010001', 'other.out').status, 0)
    })

    it('ECC EK (TCG L-2): ephemeral ECDH and KDFe, recovered by the TPM', () => {
      tpm.run('tpm2_createek', ['-G', 'ecc', '-c', 'ek2.ctx', '-u', 'ek2.pub'])
      tpm.run('tpm2_createak', [
        '-C',
        'ek2.ctx',
        '-c',
        'ak2.ctx',
        '-G',
        'ecc',
        '-g',
        'sha256',
        '-s',
        'ecdsa',
        '-u',
        'ak2.pub',
        '-n',
        'ak2.name'
      ])
      const credential = Buffer.from('an ECC EK credential!')
      const made = makeCredential({
        ekPublic: parsePublic(tpm.read('ek2.pub')),
        objectName: tpm.read('ak2.name'),
        credential,
        random: randomBytes
      })
      tpm.write('cred2.out', encodeTpm2ToolsCredential(made))
      assert.equal(recovered('ak2.ctx', 'ek2.ctx', 'cred2.out'), hex(credential))
    })

    it("our file layout is tpm2_makecredential's (same magic, version, structure sizes)", () => {
      tpm.write('secret.in', Buffer.alloc(32, 7))
      tpm.run('tpm2_makecredential', [
        '-T',
        'none',
        '-e',
        'ek.pub',
        '-s',
        'secret.in',
        '-n',
        hex(tpm.read('ak.name')),
        '-o',
        'theirs.out'
      ])
      const theirs = tpm.read('theirs.out')
      const ours = encodeTpm2ToolsCredential(
        makeCredential({
          ekPublic: parsePublic(tpm.read('ek.pub')),
          objectName: tpm.read('ak.name'),
          credential: Buffer.alloc(32, 7),
          random: randomBytes
        })
      )
      assert.equal(hex(ours.subarray(0, 8)), hex(theirs.subarray(0, 8)))
      assert.equal(ours.length, theirs.length)
      assert.equal(recovered('ak.ctx', '0x81010001', 'theirs.out'), hex(Buffer.alloc(32, 7)))
      assert.equal(parseTpm2ToolsCredential(theirs).secret.length, 2 + 256)
    })

    it("refuses credentials larger than the EK's digest and malformed Names", () => {
      const ek = parsePublic(tpm.read('ek.pub'))
      assert.throws(
        () =>
          makeCredential({
            ekPublic: ek,
            objectName: tpm.read('ak.name'),
            credential: new Uint8Array(33),
            random: randomBytes
          }),
        { name: 'CredentialTooLargeError' }
      )
      assert.throws(
        () =>
          makeCredential({
            ekPublic: ek,
            objectName: tpm.read('ak.name').subarray(0, 33),
            credential: new Uint8Array(1),
            random: randomBytes
          }),
        { name: 'InvalidObjectNameError' }
      )
      assert.throws(
        () =>
          makeCredential({
            ekPublic: parsePublic(tpm.read('ak.pub')),
            objectName: tpm.read('ak.name'),
            credential: new Uint8Array(1),
            random: randomBytes
          }),
        { name: 'InvalidPublicKeyError' }
      )
      assert.throws(
        () =>
          makeCredential({
            ekPublic: ek,
            objectName: tpm.read('ak.name'),
            credential: new Uint8Array(1),
            random: () => new Uint8Array(3)
          }),
        { name: 'RandomSourceError' }
      )
    })
  })

  describe('policy digests against trial sessions', () => {
    const trial = (...steps: Array<[string, string[]]>): Uint8Array => {
      tpm.run('tpm2_startauthsession', ['-S', 'trial.ctx'], { flush: false })
      for (const [tool, args] of steps)
        tpm.run(tool, ['-S', 'trial.ctx', ...args, '-L', 'trial.policy'], { flush: false })
      tpm.run('tpm2_flushcontext', ['trial.ctx'])
      return tpm.read('trial.policy')
    }

    it('policyPcr equals tpm2_createpolicy --policy-pcr over the current values', () => {
      for (const spec of ['sha256:0,1', 'sha256:0,1,2,3,7,16', 'sha256:23']) {
        tpm.run('tpm2_createpolicy', ['--policy-pcr', '-l', spec, '-L', 'pcr.policy'])
        tpm.run('tpm2_pcrread', [spec, '-o', 'pcr.values', '-F', 'serialized'])
        const { selection, values } = parseSerializedPcrs(tpm.read('pcr.values'))
        assert.equal(hex(policyPcr(ZERO_POLICY, selection, values)), hex(tpm.read('pcr.policy')), spec)
      }
    })

    it('EK policy A = policySecret(TPM_RH_ENDORSEMENT) = tpm2_policysecret -c e', () => {
      assert.equal(
        hex(policySecret(ZERO_POLICY, permanentHandleName(TPM_RH.ENDORSEMENT), new Uint8Array(0))),
        hex(EK_POLICY_A)
      )
      assert.equal(hex(trial(['tpm2_policysecret', ['-c', 'e']])), hex(EK_POLICY_A))
    })

    it('policyCommandCode and chained steps equal the trial session', () => {
      const expected = policyCommandCode(policySecret(ZERO_POLICY, permanentHandleName(TPM_RH.OWNER)), TPM_CC.Unseal)
      assert.equal(
        hex(trial(['tpm2_policysecret', ['-c', 'o']], ['tpm2_policycommandcode', ['TPM2_CC_Unseal']])),
        hex(expected)
      )
    })

    it('policyAuthorize equals tpm2_policyauthorize, with and without a policyRef', () => {
      tpm.write('approved.policy', new Uint8Array(32).fill(3))
      const name = tpm.read('ak.name')
      assert.equal(
        hex(trial(['tpm2_policyauthorize', ['-i', 'approved.policy', '-n', 'ak.name']])),
        hex(policyAuthorize(ZERO_POLICY, name, new Uint8Array(0)))
      )
      tpm.write('ref', Buffer.from('fleet'))
      assert.equal(
        hex(trial(['tpm2_policyauthorize', ['-i', 'approved.policy', '-n', 'ak.name', '-q', 'ref']])),
        hex(policyAuthorize(ZERO_POLICY, name, Buffer.from('fleet')))
      )
      // The deprecated two-argument form gives the same digest.
      assert.equal(
        hex(policyAuthorize(name, Buffer.from('fleet'))),
        hex(policyAuthorize(new Uint8Array(32).fill(9), name, Buffer.from('fleet')))
      )
    })
  })

  describe('TPM2_GetCapability answers', () => {
    const getCapability = (capability: number, property: number, count: number): Uint8Array => {
      const command = new TpmWriter()
        .u16(TPM_ST.NO_SESSIONS)
        .u32(22)
        .u32(TPM_CC.GetCapability)
        .u32(capability)
        .u32(property)
        .u32(count)
        .finish()
      const response = new Uint8Array(tpm.run('tpm2_send', [], { input: command }))
      assert.equal(hex(response.subarray(6, 10)), '00000000', 'TPM_RC_SUCCESS')
      return response.subarray(11) // tag, size, rc, moreData
    }

    it('decodes TPM_CAP_TPM_PROPERTIES and TPM_CAP_PCRS from the TPM', () => {
      const props = decodeTpmProperties(parseCapabilityData(getCapability(TPM_CAP.TPM_PROPERTIES, TPM_PT.PT_FIXED, 64)))
      assert.equal(props.family, '2.0')
      assert.equal(props.manufacturer, 'IBM')
      assert.equal(props.firmwareVersion, parseAttest(tpm.read('q.msg')).firmwareVersion)
      const pcrs = parseCapabilityData(getCapability(TPM_CAP.PCRS, 0, 1))
      assert.ok(pcrs.kind === 'pcrs' && pcrs.selection.some((b) => b.hash === 'sha256' && b.pcrs.length === 24))
    })
  })
})
