/**
 * A token key's PIV attestation judged from certificate objects, without a token: which
 * certificate is the statement (its key, not its label), where its chain ends, Yubico's
 * extensions decoded strictly, and the words recorded. The certificates are made with openssl
 * (TestAttestationCa); the end-to-end refusals, on SoftHSM2 tokens, are in test/cli/actor.test.ts.
 */
import assert from 'node:assert/strict'
import crypto, { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { tokenHardware } from '../../src/cli/actor-token.js'
import { keyAttestation, type TokenCertificate } from '../../src/pkcs11/index.js'
import { publicKeyPem, TestAttestationCa, yubicoExtensions, YUBIKEY_CLAIMS } from '../helpers/attestation-ca.js'

function p256Point(): Uint8Array {
  const jwk = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' })
  return Buffer.concat([Buffer.of(4), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')])
}

describe('pkcs11: PIV attestation of a token key', function () {
  this.timeout(30_000)
  const key = p256Point()
  const STATEMENT = 'X.509 Certificate for PIV Attestation 9c'
  const CARD = 'X.509 Certificate for PIV Attestation'
  let vendor: TestAttestationCa
  let other: TestAttestationCa
  let root: X509Certificate
  const object = (label: string, der: Uint8Array): TokenCertificate => ({ label, id: new Uint8Array(), der })
  const judge = (certificates: TokenCertificate[], roots: X509Certificate[] | undefined) =>
    keyAttestation({ token: 'card', keyLabel: 'piv-9c', publicKey: key, certificates, roots, now: new Date() })
  const malformed = (reason: RegExp) => (err: Error & { code?: string; reason?: string }) =>
    err.name === 'Pkcs11CertificateMalformedError' &&
    err.code === 'ERR_PKCS11_CERTIFICATE_MALFORMED' &&
    reason.test(err.reason ?? '')

  before(async () => {
    vendor = await TestAttestationCa.create('Test PIV Root CA', 'Test PIV Attestation')
    other = await TestAttestationCa.create('Other Vendor Root CA', 'Other Vendor Attestation')
    root = new X509Certificate(readFileSync(vendor.rootFile))
  })

  it('finds the statement by its key among certificates over the same key; decodes Yubico extensions', () => {
    const statement = vendor.statement(publicKeyPem(key), { yubico: { ...YUBIKEY_CLAIMS, pin: 3, touch: 3 } })
    const certificates = [
      // A slot certificate over the key from a CA not on the token, and a stranger's statement.
      object('X.509 Certificate for Digital Signature', other.statement(publicKeyPem(key), { yubico: false })),
      object('X.509 Certificate for PIV Attestation 9a', vendor.statement(publicKeyPem(p256Point()))),
      object(STATEMENT, statement),
      object(CARD, vendor.attestation)
    ]
    const verified = judge(certificates, [root])
    assert.deepEqual(
      verified?.chain.map((der) => Buffer.from(der)),
      [Buffer.from(statement), Buffer.from(vendor.attestation)]
    )
    assert.deepEqual(
      [verified?.label, verified?.issuer, verified?.root],
      [STATEMENT, 'Test PIV Attestation', 'Test PIV Root CA']
    )
    assert.deepEqual(verified?.yubico, {
      firmware: '5.4.3',
      serial: 12345678,
      pinPolicy: 'always',
      touchPolicy: 'cached'
    })
    const unverified = judge(certificates, undefined)
    assert.deepEqual([unverified?.label, unverified?.root], [STATEMENT, undefined])
  })

  it('a named certificate is a trust anchor whatever it is: the card certificate itself, when named', () => {
    const statement = vendor.statement(publicKeyPem(key), { yubico: false })
    const anchored = judge([object(STATEMENT, statement)], [new X509Certificate(vendor.attestation)])
    assert.deepEqual([anchored?.chain.length, anchored?.root, anchored?.yubico], [1, 'Test PIV Attestation', undefined])
  })

  it('without roots, a certificate over the key that nothing on the token issued is no attestation', () => {
    const alone = [object(STATEMENT, vendor.statement(publicKeyPem(key)))]
    assert.equal(judge(alone, undefined), undefined)
    assert.throws(
      () => judge(alone, [root]),
      (err: Error & { reasons?: string[] }) =>
        err.name === 'Pkcs11AttestationUntrustedError' &&
        /no named root or certificate of the token issued .*\(issuer Test PIV Attestation\)/.test(err.reasons![0]!)
    )
  })

  it('refuses malformed Yubico extensions, trailing bytes and garbage, with or without roots', () => {
    const extensions = yubicoExtensions(YUBIKEY_CLAIMS).split('\n')
    const withLine = (index: number, line: string): string =>
      extensions.map((text, at) => (at === index ? line : text)).join('\n')
    const cases: Array<[Uint8Array, RegExp]> = [
      [
        vendor.statement(publicKeyPem(key), { rawExtensions: withLine(0, '1.3.6.1.4.1.41482.3.3=DER:05:04') }),
        /firmware extension is 2 bytes, not 3/
      ],
      [
        vendor.statement(publicKeyPem(key), { rawExtensions: withLine(2, '1.3.6.1.4.1.41482.3.8=DER:02:02:01') }),
        /policy extension is 3 bytes, not 2/
      ],
      [
        vendor.statement(publicKeyPem(key), { rawExtensions: withLine(2, '1.3.6.1.4.1.41482.3.8=DER:02:09') }),
        /names an unknown policy \(0209\)/
      ],
      [
        vendor.statement(publicKeyPem(key), { rawExtensions: withLine(1, '1.3.6.1.4.1.41482.3.7=DER:04:01:07') }),
        /serial extension is not one INTEGER/
      ],
      [
        vendor.statement(publicKeyPem(key), { rawExtensions: withLine(1, '1.3.6.1.4.1.41482.3.7=DER:02:01:ff') }),
        /serial extension is negative/
      ],
      [
        vendor.statement(publicKeyPem(key), {
          rawExtensions: withLine(1, '1.3.6.1.4.1.41482.3.7=DER:02:06:01:02:03:04:05:06')
        }),
        /serial extension is an INTEGER of 6 bytes/
      ],
      [
        Buffer.concat([vendor.statement(publicKeyPem(key)), Buffer.of(0)]),
        /CKA_VALUE is \d+ bytes, the certificate's DER/
      ],
      [Buffer.from('3082ffff', 'hex'), /not DER of a certificate/]
    ]
    for (const [der, reason] of cases) {
      for (const roots of [[root], undefined]) {
        assert.throws(() => judge([object(STATEMENT, der), object(CARD, vendor.attestation)], roots), malformed(reason))
      }
    }
  })

  it("records the attestation's words whole, shortening the token's to fit 256 characters", () => {
    const statement = vendor.statement(publicKeyPem(key))
    const attested = judge([object(STATEMENT, statement), object(CARD, vendor.attestation)], [root])
    const token = { label: 'l'.repeat(32), manufacturer: 'm'.repeat(32), model: 'o'.repeat(16), serial: '1'.repeat(16) }
    const words = tokenHardware(token, 'k'.repeat(64), attested)
    assert.ok(words.length <= 256, `${words.length} characters`)
    assert.match(
      words,
      /; PIV attestation by "Test PIV Attestation", chain verified to named root "Test PIV Root CA" \(YubiKey firmware 5\.4\.3, serial 12345678, PIN once, touch always\)$/
    )
    assert.match(tokenHardware(token, 'k', undefined), /never extractable; no attestation$/)
  })
})
