/**
 * The tpm2-tools RSA quote set from ../shared/testdata/quotes/tpm2-tools-rsa (keylime test data):
 * tpm2_checkquote accepts it; we must too, and must refuse every alteration.
 */
import assert from 'node:assert/strict'
import { constants, createPublicKey, generateKeyPairSync, sign } from 'node:crypto'
import { readFileSync } from 'node:fs'
import {
  verifyQuote, parseSerializedPcrs, serializePcrs, parseAttest, parseSignature, marshalSignature, parsePcrSelectionSpec,
  marshalPcrSelection, parsePcrSelection, readPcrsFile, pcrValuesToJson, type PcrValues
} from '../../../src/attest/index.js'

const dir = '../shared/testdata/quotes/tpm2-tools-rsa'
const read = (name: string): Uint8Array => new Uint8Array(readFileSync(`${dir}/${name}`))
const ak = createPublicKey(readFileSync(`${dir}/akpub.pem`))
const attest = read('quote.out')
const signature = read('quotesig.out')
const nonce = read('rand.out')
const pcrFile = read('quotepcr.out')

describe('attest/tpm2 with the tpm2-tools quote vector', () => {
  const pcrs = parseSerializedPcrs(pcrFile)

  it('reads the serialized PCR file: sha256 PCRs 15, 16, 22', () => {
    assert.deepEqual(pcrs.selection, [{ hash: 'sha256', pcrs: [15, 16, 22] }])
    assert.equal(Buffer.from(pcrs.values.sha256!.get(22)!).toString('hex'), 'ff'.repeat(32))
  })

  it('writes the serialized format byte for byte as tpm2-tools does', () => {
    assert.deepEqual(Buffer.from(serializePcrs(pcrs.selection, pcrs.values)), Buffer.from(pcrFile))
  })

  it('accepts the quote', () => {
    const verified = verifyQuote({ ak, attest, signature, nonce, pcrs: pcrs.values })
    assert.equal(verified.akRestrictionChecked, false)
    assert.deepEqual([...verified.pcrs.sha256!.keys()], [15, 16, 22])
    assert.equal(verified.clockInfo.safe, true)
  })

  it('refuses every single-byte change of the quote message (unreadable, or a bad signature)', () => {
    let signatureRefusals = 0
    for (let i = 0; i < attest.length; i++) {
      const changed = new Uint8Array(attest)
      changed[i]! ^= 0x01
      assert.throws(() => verifyQuote({ ak, attest: changed, signature, nonce, pcrs: pcrs.values }), (err: Error) => {
        if (err.name === 'QuoteSignatureError') signatureRefusals++
        return err.name === 'QuoteSignatureError' || err.name === 'MalformedTpmStructureError'
      }, `byte ${i}`)
    }
    // Most flips leave a well-formed structure: those must be caught by the signature.
    assert.ok(signatureRefusals > attest.length / 2, `only ${signatureRefusals} refusals by signature`)
  })

  it('refuses every single-byte change of the signature, with a typed error', () => {
    for (let i = 0; i < signature.length; i++) {
      const changed = new Uint8Array(signature)
      changed[i]! ^= 0x01
      assert.throws(() => verifyQuote({ ak, attest, signature: changed, nonce, pcrs: pcrs.values }),
        (err: Error) => ['QuoteSignatureError', 'UnsupportedAlgorithmError', 'MalformedTpmStructureError', 'Sha1NotAllowedError'].includes(err.name), `byte ${i}`)
    }
  })

  it('refuses another nonce, an empty nonce, other PCR values, a missing PCR and another key', () => {
    assert.throws(() => verifyQuote({ ak, attest, signature, nonce: new Uint8Array(20), pcrs: pcrs.values }), { name: 'QuoteNonceMismatchError' })
    assert.throws(() => verifyQuote({ ak, attest, signature, nonce: new Uint8Array(0), pcrs: pcrs.values }), { name: 'QuoteNonceMismatchError' })
    const other: PcrValues = { sha256: new Map(pcrs.values.sha256) }
    other.sha256!.set(16, new Uint8Array(32))
    assert.throws(() => verifyQuote({ ak, attest, signature, nonce, pcrs: other }), { name: 'QuotePcrDigestMismatchError' })
    const missing: PcrValues = { sha256: new Map(pcrs.values.sha256) }
    missing.sha256!.delete(22)
    assert.throws(() => verifyQuote({ ak, attest, signature, nonce, pcrs: missing }), { name: 'QuotePcrMissingError' })
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey
    assert.throws(() => verifyQuote({ ak: stranger, attest, signature, nonce, pcrs: pcrs.values }), { name: 'QuoteSignatureError' })
  })

  it('verifies RSASSA-PSS quote signatures too, and refuses a changed one', () => {
    const { publicKey: pssKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const pss = sign('sha256', attest, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 })
    const signed = marshalSignature({ kind: 'rsapss', hash: 'sha256', signature: new Uint8Array(pss) })
    verifyQuote({ ak: pssKey, attest, signature: signed, nonce, pcrs: pcrs.values })
    const changed = new Uint8Array(signed)
    changed[changed.length - 1]! ^= 1
    assert.throws(() => verifyQuote({ ak: pssKey, attest, signature: changed, nonce, pcrs: pcrs.values }), { name: 'QuoteSignatureError' })
  })

  it('refuses a SHA-1 signature unless explicitly allowed', () => {
    const sig = parseSignature(signature)
    assert.equal(sig.kind, 'rsassa')
    const sha1 = marshalSignature({ ...sig, hash: 'sha1' })
    assert.throws(() => verifyQuote({ ak, attest, signature: sha1, nonce, pcrs: pcrs.values }), { name: 'Sha1NotAllowedError' })
    // Allowed, it is then checked (and fails, since it was made with SHA-256).
    assert.throws(() => verifyQuote({ ak, attest, signature: sha1, nonce, pcrs: pcrs.values, allowSha1: true }), { name: 'QuoteSignatureError' })
  })

  it('refuses every truncation of every structure with a typed error, never another exception', () => {
    for (const [name, bytes, parse] of [
      ['TPMS_ATTEST', attest, parseAttest],
      ['TPMT_SIGNATURE', signature, parseSignature],
      ['PCR file', pcrFile, parseSerializedPcrs]
    ] as Array<[string, Uint8Array, (b: Uint8Array) => unknown]>) {
      for (let length = 0; length < bytes.length; length++) {
        assert.throws(() => parse(bytes.subarray(0, length)), (err: Error & { exitCode?: number }) => err.name === 'MalformedTpmStructureError' && err.exitCode === 2, `${name} cut at ${length}`)
      }
      const longer = new Uint8Array(bytes.length + 1)
      longer.set(bytes)
      assert.throws(() => parse(longer), { name: 'MalformedTpmStructureError' }, `${name} with a trailing byte`)
    }
  })

  it('reads PCR JSON files too, and refuses malformed ones', () => {
    const json = Buffer.from(JSON.stringify({ pcrs: pcrValuesToJson(pcrs.values) }))
    assert.deepEqual(readPcrsFile(json).values, pcrs.values)
    for (const bad of ['{"pcrs": {"md5": {}}}', '{"pcrs": {"sha256": {"24": "00"}}}', '{"pcrs": {"sha256": {"1": "abcd"}}}', '{"nope": 1}', '{']) {
      assert.throws(() => readPcrsFile(Buffer.from(bad)), { name: 'InvalidPcrSelectionError' }, bad)
    }
  })
})

describe('attest/tpm2/pcr-selection', () => {
  it('parses tpm2-tools selection specs and round-trips TPML_PCR_SELECTION', () => {
    const selection = parsePcrSelectionSpec('sha1:0,1+sha256:7,3,23')
    assert.deepEqual(selection, [{ hash: 'sha1', pcrs: [0, 1] }, { hash: 'sha256', pcrs: [3, 7, 23] }])
    assert.deepEqual(parsePcrSelection(marshalPcrSelection(selection)), selection)
  })

  for (const bad of ['', 'sha256', 'sha256:', 'sha256:24', 'sha256:1,1', 'md5:0', 'sha256:0+sha256:1', 'sha256:a', 'SHA256:0']) {
    it(`refuses the spec ${JSON.stringify(bad)}`, () => {
      assert.throws(() => parsePcrSelectionSpec(bad), { name: 'InvalidPcrSelectionError' })
    })
  }
})
