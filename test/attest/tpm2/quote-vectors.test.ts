/**
 * Quote verification on the tpm2-tools RSA quote set from ../shared/testdata/quotes/tpm2-tools-rsa
 * (keylime test data; tpm2_checkquote accepts it) and on the ECC quote of fixtures.ts: accepted
 * as made, every alteration refused with the error naming it. Checks that need a quote the TPM
 * would not make (SHA-1 banks, wrong magic or type) use software-signed attestations and a bare
 * public key.
 */
import assert from 'node:assert/strict'
import { constants, createHash, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { PcrValues, PcrSelection } from '../../../src/attest/pcrs.js'
import {
  verifyQuote,
  verifyCertify,
  parseSerializedPcrs,
  serializePcrs,
  parseAttest,
  parseSignature,
  marshalSignature,
  parsePublic,
  marshalPcrSelection,
  attestationKeyTemplate,
  TpmWriter,
  TPM_ST,
  TPM_GENERATED_VALUE,
  type TpmSignature
} from '../../../src/attest/tpm2/index.js'
import * as fx from './fixtures.js'
import { hasSharedTestdata, needsSharedTestdata, SHARED_TESTDATA } from '../../helpers/shared.js'

const dir = `${SHARED_TESTDATA}/quotes/tpm2-tools-rsa`
const read = (name: string): Uint8Array => new Uint8Array(readFileSync(`${dir}/${name}`))

/** A TPMS_ATTEST for a quote, as a TPM would marshal it. */
function quoteBytes(o: {
  magic?: number
  type?: number
  nonce: Uint8Array
  selection: PcrSelection
  pcrDigest: Uint8Array
}): Uint8Array {
  return new TpmWriter()
    .u32(o.magic ?? TPM_GENERATED_VALUE)
    .u16(o.type ?? TPM_ST.ATTEST_QUOTE)
    .tpm2b(new Uint8Array(34))
    .tpm2b(o.nonce)
    .u64(1234n)
    .u32(1)
    .u32(0)
    .u8(1)
    .u64(0x2019102300163636n)
    .raw(marshalPcrSelection(o.selection))
    .tpm2b(o.pcrDigest)
    .finish()
}

function ecdsa(key: KeyObject, message: Uint8Array, hash: 'sha1' | 'sha256' = 'sha256'): Uint8Array {
  const p1363 = sign(hash, message, { key, dsaEncoding: 'ieee-p1363' })
  return marshalSignature({ kind: 'ecdsa', hash, r: p1363.subarray(0, 32), s: p1363.subarray(32) })
}

needsSharedTestdata(
  describe('attest/tpm2 quote verification: the tpm2-tools RSA quote vector', () => {
    let ak: KeyObject, attest: Uint8Array, signature: Uint8Array, nonce: Uint8Array, pcrFile: Uint8Array
    let pcrs: ReturnType<typeof parseSerializedPcrs>
    before(() => {
      if (!hasSharedTestdata) return
      ak = createPublicKey(readFileSync(`${dir}/akpub.pem`))
      attest = read('quote.out')
      signature = read('quotesig.out')
      nonce = read('rand.out')
      pcrFile = read('quotepcr.out')
      pcrs = parseSerializedPcrs(pcrFile)
    })

    it('reads the serialized PCR file: sha256 PCRs 15, 16, 22', () => {
      assert.deepEqual(pcrs.selection, [{ hash: 'sha256', pcrs: [15, 16, 22] }])
      assert.equal(Buffer.from(pcrs.values.sha256!.get(22)!).toString('hex'), 'ff'.repeat(32))
    })

    it('writes the serialized format byte for byte as tpm2-tools does', () => {
      assert.deepEqual(Buffer.from(serializePcrs(pcrs.selection, pcrs.values)), Buffer.from(pcrFile))
    })

    it('accepts the quote; a bare key leaves the AK restriction unchecked', () => {
      const verified = verifyQuote({ ak, attest, signature, nonce, pcrs: pcrs.values })
      assert.equal(verified.akRestrictionChecked, false)
      assert.deepEqual(verified.selection, [{ hash: 'sha256', pcrs: [15, 16, 22] }])
      assert.deepEqual([...verified.pcrs.sha256!.keys()], [15, 16, 22])
      assert.equal(verified.clockInfo.safe, true)
      assert.equal(verified.signature.kind, 'rsassa')
    })

    it('refuses every single-byte change of the quote message (unreadable, or a bad signature)', () => {
      let bySignature = 0
      for (let i = 0; i < attest.length; i++) {
        const changed = new Uint8Array(attest)
        changed[i]! ^= 0x01
        assert.throws(
          () => verifyQuote({ ak, attest: changed, signature, nonce, pcrs: pcrs.values }),
          (err: Error) => {
            if (err.name === 'QuoteSignatureError') bySignature++
            return err.name === 'QuoteSignatureError' || err.name === 'MalformedTpmStructureError'
          },
          `byte ${i}`
        )
      }
      // Most flips leave a well-formed structure: those must be caught by the signature.
      assert.ok(bySignature > attest.length / 2, `only ${bySignature} refusals by signature`)
    })

    it('refuses every single-byte change of the signature, with a typed error', () => {
      for (let i = 0; i < signature.length; i++) {
        const changed = new Uint8Array(signature)
        changed[i]! ^= 0x01
        assert.throws(
          () => verifyQuote({ ak, attest, signature: changed, nonce, pcrs: pcrs.values }),
          (err: Error) =>
            [
              'QuoteSignatureError',
              'UnsupportedAlgorithmError',
              'MalformedTpmStructureError',
              'Sha1NotAllowedError'
            ].includes(err.name),
          `byte ${i}`
        )
      }
    })

    it('refuses another nonce, an empty nonce, other PCR values, a missing PCR, a wrong-size value, another key', () => {
      assert.throws(() => verifyQuote({ ak, attest, signature, nonce: new Uint8Array(20), pcrs: pcrs.values }), {
        name: 'QuoteNonceMismatchError'
      })
      assert.throws(
        () => verifyQuote({ ak, attest, signature, nonce: new Uint8Array(0), pcrs: pcrs.values }),
        (err: Error & { expected?: string; actual?: string }) =>
          err.name === 'QuoteNonceMismatchError' &&
          err.expected === '' &&
          err.actual === Buffer.from(nonce).toString('hex')
      )
      const other: PcrValues = { sha256: new Map(pcrs.values.sha256) }
      other.sha256!.set(16, new Uint8Array(32))
      assert.throws(() => verifyQuote({ ak, attest, signature, nonce, pcrs: other }), {
        name: 'QuotePcrDigestMismatchError'
      })
      const missing: PcrValues = { sha256: new Map(pcrs.values.sha256) }
      missing.sha256!.delete(22)
      assert.throws(() => verifyQuote({ ak, attest, signature, nonce, pcrs: missing }), {
        name: 'QuotePcrMissingError'
      })
      // Same concatenation, other boundaries: PCR 15 one byte short, PCR 16 one byte long.
      const v15 = pcrs.values.sha256!.get(15)!
      const v16 = pcrs.values.sha256!.get(16)!
      const shifted: PcrValues = {
        sha256: new Map([
          [15, v15.slice(0, 31)],
          [16, Buffer.concat([v15.slice(31), v16])],
          [22, pcrs.values.sha256!.get(22)!]
        ])
      }
      assert.throws(() => verifyQuote({ ak, attest, signature, nonce, pcrs: shifted }), {
        name: 'InvalidPcrSelectionError'
      })
      const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey
      assert.throws(() => verifyQuote({ ak: stranger, attest, signature, nonce, pcrs: pcrs.values }), {
        name: 'QuoteSignatureError'
      })
      const ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey
      assert.throws(() => verifyQuote({ ak: ecKey, attest, signature, nonce, pcrs: pcrs.values }), {
        name: 'QuoteSignatureError'
      })
    })

    it('refuses a SHA-1 signature unless explicitly allowed (then checks it)', () => {
      const sig = parseSignature(signature)
      const sha1 = marshalSignature({ ...sig, hash: 'sha1' })
      assert.throws(() => verifyQuote({ ak, attest, signature: sha1, nonce, pcrs: pcrs.values }), {
        name: 'Sha1NotAllowedError'
      })
      assert.throws(() => verifyQuote({ ak, attest, signature: sha1, nonce, pcrs: pcrs.values, allowSha1: true }), {
        name: 'QuoteSignatureError'
      })
    })

    it('verifies RSASSA-PSS with the salt lengths TPMs use (maximum, or the hash length)', () => {
      const { publicKey: pssKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
      for (const saltLength of [constants.RSA_PSS_SALTLEN_MAX_SIGN, 32]) {
        const pss = sign('sha256', attest, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength })
        const signed = marshalSignature({ kind: 'rsapss', hash: 'sha256', signature: new Uint8Array(pss) })
        verifyQuote({ ak: pssKey, attest, signature: signed, nonce, pcrs: pcrs.values })
        const changed = new Uint8Array(signed)
        changed[changed.length - 1]! ^= 1
        assert.throws(() => verifyQuote({ ak: pssKey, attest, signature: changed, nonce, pcrs: pcrs.values }), {
          name: 'QuoteSignatureError'
        })
      }
    })
  })
)

describe('attest/tpm2 quote verification: the ECC quote from swtpm (fixtures)', () => {
  const akPublic = parsePublic(fx.eccAkPublic)
  const file = parseSerializedPcrs(fx.quotePcrs)

  it("accepts it with the AK's TPM2B_PUBLIC, checking the AK is restricted", () => {
    const verified = verifyQuote({
      ak: akPublic,
      attest: fx.quoteAttest,
      signature: fx.quoteSignature,
      nonce: fx.quoteNonce,
      pcrs: file.values
    })
    assert.equal(verified.akRestrictionChecked, true)
    assert.equal(verified.firmwareVersion, 0x2019102300163636n)
  })

  it("refuses it with a non-restricted key, and a signature in another scheme than the AK's", () => {
    const unrestricted = { ...akPublic, objectAttributes: akPublic.objectAttributes & ~0x10000 }
    assert.throws(
      () =>
        verifyQuote({
          ak: unrestricted,
          attest: fx.quoteAttest,
          signature: fx.quoteSignature,
          nonce: fx.quoteNonce,
          pcrs: file.values
        }),
      (err: Error & { objectAttributes?: number }) =>
        err.name === 'NotRestrictedKeyError' && err.objectAttributes === 0x00040072
    )
    const sha384 = marshalSignature({ ...parseSignature(fx.quoteSignature), hash: 'sha384' })
    assert.throws(
      () =>
        verifyQuote({
          ak: akPublic,
          attest: fx.quoteAttest,
          signature: sha384,
          nonce: fx.quoteNonce,
          pcrs: file.values
        }),
      { name: 'SignatureSchemeMismatchError' }
    )
  })

  it('refuses a certification presented as a quote, and a quote presented as a certification', () => {
    assert.throws(
      () =>
        verifyQuote({
          ak: akPublic,
          attest: fx.certifyAttest,
          signature: fx.certifySignature,
          nonce: Buffer.from('00ff55aa', 'hex'),
          pcrs: file.values
        }),
      { name: 'AttestTypeError' }
    )
    assert.throws(
      () =>
        verifyCertify({
          signer: akPublic,
          attest: fx.quoteAttest,
          signature: fx.quoteSignature,
          nonce: fx.quoteNonce,
          certifiedPublic: fx.signingKeyPublic
        }),
      { name: 'AttestTypeError' }
    )
  })

  it('verifies the certification of the signing key and refuses another object, nonce or signer', () => {
    const nonce = Buffer.from('00ff55aa', 'hex')
    const verified = verifyCertify({
      signer: akPublic,
      attest: fx.certifyAttest,
      signature: fx.certifySignature,
      nonce,
      certifiedPublic: fx.signingKeyPublic
    })
    assert.equal(Buffer.from(verified.certifiedName).toString('hex').slice(0, 4), '000b')
    assert.throws(
      () =>
        verifyCertify({
          signer: akPublic,
          attest: fx.certifyAttest,
          signature: fx.certifySignature,
          nonce,
          certifiedPublic: fx.eccAkPublic
        }),
      { name: 'CertifiedNameMismatchError' }
    )
    assert.throws(
      () =>
        verifyCertify({
          signer: akPublic,
          attest: fx.certifyAttest,
          signature: fx.certifySignature,
          nonce: Buffer.of(1),
          certifiedPublic: fx.signingKeyPublic
        }),
      { name: 'CertifyNonceMismatchError' }
    )
    assert.throws(
      () =>
        verifyCertify({
          signer: parsePublic(fx.signingKeyPublic),
          attest: fx.certifyAttest,
          signature: fx.certifySignature,
          nonce,
          certifiedPublic: fx.signingKeyPublic
        }),
      { name: 'NotRestrictedKeyError' }
    )
    const changed = new Uint8Array(fx.certifySignature)
    changed[10]! ^= 1
    assert.throws(
      () =>
        verifyCertify({
          signer: akPublic,
          attest: fx.certifyAttest,
          signature: changed,
          nonce,
          certifiedPublic: fx.signingKeyPublic
        }),
      { name: 'CertifySignatureError' }
    )
  })
})

describe('attest/tpm2 quote verification: software-signed attestations', () => {
  const { publicKey: key, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const nonce = Buffer.from('0123456789abcdef0123456789abcdef', 'hex')
  const sha256Values: PcrValues = {
    sha256: new Map([
      [0, new Uint8Array(32).fill(1)],
      [7, new Uint8Array(32).fill(7)]
    ])
  }
  const selection: PcrSelection = [{ hash: 'sha256', pcrs: [0, 7] }]
  const digestOf = (hash: string, ...parts: Uint8Array[]): Uint8Array => {
    const h = createHash(hash)
    for (const p of parts) h.update(p)
    return new Uint8Array(h.digest())
  }

  it("hashes pcrDigest with the signing scheme's hash, banks in quote order, PCRs ascending", () => {
    const values: PcrValues = { ...sha256Values, sha384: new Map([[1, new Uint8Array(48).fill(9)]]) }
    const sel: PcrSelection = [
      { hash: 'sha384', pcrs: [1] },
      { hash: 'sha256', pcrs: [0, 7] }
    ]
    const pcrDigest = digestOf('sha256', values.sha384!.get(1)!, values.sha256!.get(0)!, values.sha256!.get(7)!)
    const message = quoteBytes({ nonce, selection: sel, pcrDigest })
    const verified = verifyQuote({
      ak: key,
      attest: message,
      signature: ecdsa(privateKey, message),
      nonce,
      pcrs: values
    })
    assert.deepEqual(verified.selection, sel)
    const sha384Digest = quoteBytes({
      nonce,
      selection: sel,
      pcrDigest: digestOf('sha384', values.sha384!.get(1)!, values.sha256!.get(0)!, values.sha256!.get(7)!)
    })
    assert.throws(
      () =>
        verifyQuote({ ak: key, attest: sha384Digest, signature: ecdsa(privateKey, sha384Digest), nonce, pcrs: values }),
      { name: 'QuotePcrDigestMismatchError' }
    )
  })

  it('refuses a quoted SHA-1 bank unless allowSha1', () => {
    const values: PcrValues = { sha1: new Map([[0, new Uint8Array(20).fill(2)]]) }
    const sel: PcrSelection = [{ hash: 'sha1', pcrs: [0] }]
    const message = quoteBytes({ nonce, selection: sel, pcrDigest: digestOf('sha256', values.sha1!.get(0)!) })
    const sig = ecdsa(privateKey, message)
    assert.throws(
      () => verifyQuote({ ak: key, attest: message, signature: sig, nonce, pcrs: values }),
      (err: Error & { where?: string }) => err.name === 'Sha1NotAllowedError' && err.where === 'quoted PCR bank'
    )
    assert.equal(
      verifyQuote({ ak: key, attest: message, signature: sig, nonce, pcrs: values, allowSha1: true }).pcrs.sha1?.size,
      1
    )
    const sha1Signed = ecdsa(privateKey, message, 'sha1')
    assert.throws(
      () => verifyQuote({ ak: key, attest: message, signature: sha1Signed, nonce, pcrs: values, allowSha1: false }),
      { name: 'Sha1NotAllowedError' }
    )
  })

  it('refuses a wrong magic even when validly signed', () => {
    const pcrDigest = digestOf('sha256', sha256Values.sha256!.get(0)!, sha256Values.sha256!.get(7)!)
    const good = quoteBytes({ nonce, selection, pcrDigest })
    verifyQuote({ ak: key, attest: good, signature: ecdsa(privateKey, good), nonce, pcrs: sha256Values })
    const magic = quoteBytes({ magic: 0xff544348, nonce, selection, pcrDigest })
    assert.throws(
      () => verifyQuote({ ak: key, attest: magic, signature: ecdsa(privateKey, magic), nonce, pcrs: sha256Values }),
      (err: Error & { actual?: number }) => err.name === 'AttestMagicError' && err.actual === 0xff544348
    )
  })

  it('refuses a private key or a template with no key given as the AK', () => {
    const message = quoteBytes({ nonce, selection, pcrDigest: new Uint8Array(32) })
    assert.throws(
      () =>
        verifyQuote({
          ak: privateKey,
          attest: message,
          signature: ecdsa(privateKey, message),
          nonce,
          pcrs: sha256Values
        }),
      { name: 'InvalidPublicKeyError' }
    )
    assert.throws(
      () =>
        verifyQuote({
          ak: attestationKeyTemplate(),
          attest: message,
          signature: ecdsa(privateKey, message),
          nonce,
          pcrs: sha256Values
        }),
      { name: 'InvalidPublicKeyError' }
    )
    assert.equal(parseAttest(message).attested.kind, 'quote')
  })

  it('treats signatures of the wrong kind for the key as invalid, not as crashes', () => {
    const message = quoteBytes({ nonce, selection, pcrDigest: new Uint8Array(32) })
    const rsaLike: TpmSignature = { kind: 'rsassa', hash: 'sha256', signature: new Uint8Array(256) }
    assert.throws(
      () => verifyQuote({ ak: key, attest: message, signature: marshalSignature(rsaLike), nonce, pcrs: sha256Values }),
      { name: 'QuoteSignatureError' }
    )
    const empty: TpmSignature = { kind: 'ecdsa', hash: 'sha256', r: new Uint8Array(0), s: new Uint8Array(0) }
    assert.throws(
      () => verifyQuote({ ak: key, attest: message, signature: marshalSignature(empty), nonce, pcrs: sha256Values }),
      { name: 'QuoteSignatureError' }
    )
  })
})
