/**
 * EK certificates as swtpm_setup provisions them (swtpm_localca: root CA → intermediate →
 * EK certificate with an unusual subject and TCG extensions, stored in NV), read back with
 * tpm2_nvread, verified against the CA folder; and refusals, each with its own error. Chains with
 * a non-CA issuer are made with the openssl command line.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import {
  verifyEkCertificate,
  loadTrustStore,
  parsePublic,
  readEkCertificateNvIndices,
  EK_CERTIFICATE_NV_INDEX
} from '../../../src/attest/tpm2/index.js'
import { startOrSkip, scratchDir, type SwtpmTools } from './swtpm-fixture.js'

describe('attest/tpm2 EK certificates from swtpm_setup + swtpm_localca', function () {
  this.timeout(30_000)
  let tpm: SwtpmTools
  let ekCert: Uint8Array
  let ekPublic: ReturnType<typeof parsePublic>
  let root: X509Certificate
  let intermediate: X509Certificate
  let now: Date

  before(function () {
    tpm = startOrSkip(this)
    // The CA and certificates were made moments ago (notBefore = their creation time).
    now = new Date()
    tpm.run('tpm2_nvread', [`0x${readEkCertificateNvIndices.rsa2048.toString(16)}`, '-o', 'ekcert.der'])
    tpm.run('tpm2_readpublic', ['-c', '0x81010001', '-o', 'ek.pub'])
    ekCert = tpm.read('ekcert.der')
    ekPublic = parsePublic(tpm.read('ek.pub'))
    root = new X509Certificate(readFileSync(path.join(tpm.caDir, 'swtpm-localca-rootca-cert.pem')))
    intermediate = new X509Certificate(readFileSync(path.join(tpm.caDir, 'issuercert.pem')))
  })

  after(() => tpm?.stop())

  it('the TPM holds EK certificates at the TCG NV indices (RSA 2048 and, from swtpm_setup, ECC P-384)', () => {
    const indices = tpm
      .run('tpm2_getcap', ['handles-nv-index'])
      .toString()
      .match(/0x[0-9a-f]+/gi)!
      .map((h) => Number.parseInt(h, 16))
    assert.ok(indices.includes(readEkCertificateNvIndices.rsa2048))
    assert.ok(indices.includes(readEkCertificateNvIndices.eccNistP384))
    assert.deepEqual(EK_CERTIFICATE_NV_INDEX.rsa, [0x01c00002])
    assert.equal(readEkCertificateNvIndices.eccNistP256, 0x01c0000a)
  })

  it('verifies the RSA EK certificate from NV against the CA folder, for this EK', async () => {
    const verified = await verifyEkCertificate({ certificate: ekCert, trustStore: { dir: tpm.caDir }, ekPublic, now })
    assert.equal(verified.ekPublicChecked, true)
    assert.deepEqual(
      verified.chain.map((c) => c.subject),
      ['CN=unknown', 'CN=swtpm-localca', 'CN=swtpm-localca-rootca']
    )
    assert.equal(verified.issuer, 'CN=swtpm-localca')
  })

  it('accepts PEM, DER with NV padding after it, and a certificate list as the trust store', async () => {
    const pem = new X509Certificate(Buffer.from(ekCert)).toString()
    await verifyEkCertificate({ certificate: pem, trustStore: [root, intermediate], ekPublic, now })
    const padded = Buffer.concat([ekCert, Buffer.alloc(100, 0xff)])
    const verified = await verifyEkCertificate({ certificate: padded, trustStore: [intermediate, root], now })
    assert.equal(verified.ekPublicChecked, false)
  })

  it('verifies the ECC P-384 EK certificate for the ECC EK', async () => {
    tpm.run('tpm2_nvread', [`0x${readEkCertificateNvIndices.eccNistP384.toString(16)}`, '-o', 'ekcert384.der'])
    tpm.run('tpm2_readpublic', ['-c', '0x81010016', '-o', 'ek384.pub'])
    const ek384 = parsePublic(tpm.read('ek384.pub'))
    await verifyEkCertificate({
      certificate: tpm.read('ekcert384.der'),
      trustStore: [root, intermediate],
      ekPublic: ek384,
      now
    })
    await assert.rejects(
      verifyEkCertificate({ certificate: tpm.read('ekcert384.der'), trustStore: [root, intermediate], ekPublic, now }),
      { name: 'EkCertificateKeyMismatchError' }
    )
  })

  it('refuses a certificate for another key', async () => {
    tpm.run('tpm2_createek', ['-G', 'ecc', '-c', 'ek-ecc.ctx', '-u', 'ek-ecc.pub'])
    await assert.rejects(
      verifyEkCertificate({
        certificate: ekCert,
        trustStore: [root, intermediate],
        ekPublic: parsePublic(tpm.read('ek-ecc.pub')),
        now
      }),
      (err: Error & { expected?: string; actual?: string }) =>
        err.name === 'EkCertificateKeyMismatchError' &&
        err.expected !== err.actual &&
        /^[0-9a-f]{64}$/.test(err.actual ?? '')
    )
  })

  it('refuses incomplete trust stores: root only, intermediate only', async () => {
    await assert.rejects(verifyEkCertificate({ certificate: ekCert, trustStore: [root], now }), {
      name: 'EkCertificateUntrustedError'
    })
    await assert.rejects(verifyEkCertificate({ certificate: ekCert, trustStore: [intermediate], now }), {
      name: 'EkCertificateUntrustedError'
    })
  })

  it('refuses certificates outside their validity at the given time', async () => {
    await assert.rejects(
      verifyEkCertificate({
        certificate: ekCert,
        trustStore: [root, intermediate],
        now: new Date('2000-01-01T00:00:00Z')
      }),
      { name: 'EkCertificateNotYetValidError' }
    )
    await assert.rejects(
      verifyEkCertificate({
        certificate: ekCert,
        trustStore: [root, intermediate],
        now: new Date('+010000-01-01T00:00:00Z')
      }),
      { name: 'EkCertificateExpiredError' }
    )
  })

  it("refuses a changed signature, and an impostor CA with the issuer's name", async () => {
    const tampered = Buffer.from(ekCert)
    const end = tampered.length - 1 - (tampered.length - new X509Certificate(tampered).raw.length)
    tampered[end]! ^= 0x01
    await assert.rejects(verifyEkCertificate({ certificate: tampered, trustStore: [root, intermediate], now }), {
      name: 'EkCertificateUntrustedError'
    })
    const dir = scratchDir('tpm2-impostor-')
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        path.join(dir, 'k.pem'),
        '-out',
        path.join(dir, 'ca.pem'),
        '-subj',
        '/CN=swtpm-localca',
        '-days',
        '2',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign'
      ],
      { stdio: 'pipe' }
    )
    const impostor = new X509Certificate(readFileSync(path.join(dir, 'ca.pem')))
    await assert.rejects(verifyEkCertificate({ certificate: ekCert, trustStore: [impostor], now }), {
      name: 'EkCertificateUntrustedError'
    })
  })

  /** The extensions of an EK certificate as the TCG EK credential profile has them, for an ECC EK. */
  const EK_EXTENSIONS =
    'keyUsage=critical,keyAgreement\nextendedKeyUsage=2.23.133.8.1\nsubjectAltName=critical,dirName:tpm\n'
  // openssl drops what precedes the first dot of a field name ("m."), which lets a dotted OID name a field.
  const TPM_NAME = '[tpm]\nm.2.23.133.2.1=id:00001014\nm.2.23.133.2.2=test-tpm\nm.2.23.133.2.3=id:00000001\n'

  /** A root and an intermediate CA (with `midExtensions`), and a leaf with `leafExtensions`, made with openssl. */
  function makeChain(midExtensions: string, leafExtensions: string, extraSections = TPM_NAME): string {
    const dir = scratchDir('tpm2-chain-')
    const openssl = (...args: string[]): void => {
      execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })
    }
    const ext = (name: string, text: string): string => {
      writeFileSync(path.join(dir, name), text)
      return name
    }
    openssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'root.key',
      '-out',
      'root.pem',
      '-subj',
      '/CN=test-root',
      '-days',
      '2',
      '-addext',
      'basicConstraints=critical,CA:TRUE'
    )
    openssl(
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'mid.key',
      '-out',
      'mid.csr',
      '-subj',
      '/CN=test-mid'
    )
    openssl(
      'x509',
      '-req',
      '-in',
      'mid.csr',
      '-CA',
      'root.pem',
      '-CAkey',
      'root.key',
      '-set_serial',
      '2',
      '-days',
      '2',
      '-extfile',
      ext('mid.ext', midExtensions),
      '-out',
      'mid.pem'
    )
    openssl(
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'leaf.key',
      '-out',
      'leaf.csr',
      '-subj',
      '/CN=leaf'
    )
    openssl(
      'x509',
      '-req',
      '-in',
      'leaf.csr',
      '-CA',
      'mid.pem',
      '-CAkey',
      'mid.key',
      '-set_serial',
      '3',
      '-days',
      '2',
      '-extfile',
      ext('leaf.ext', `[ek]\n${leafExtensions}${extraSections}`),
      '-extensions',
      'ek',
      '-out',
      'leaf.pem'
    )
    return dir
  }
  const verifyChain = async (dir: string) =>
    await verifyEkCertificate({
      certificate: readFileSync(path.join(dir, 'leaf.pem'), 'utf8'),
      trustStore: { dir },
      now: new Date()
    })

  it('refuses a chain through an issuer that is not a CA (and accepts the same chain through a CA)', async () => {
    const verified = await verifyChain(makeChain('basicConstraints=critical,CA:TRUE\n', EK_EXTENSIONS))
    assert.deepEqual(verified.profile, {
      tpmManufacturer: 'id:00001014',
      tpmModel: 'test-tpm',
      tpmVersion: 'id:00000001',
      ekUsagePresent: true
    })
    await assert.rejects(
      verifyChain(makeChain('basicConstraints=critical,CA:FALSE\n', EK_EXTENSIONS)),
      (err: Error & { issuer?: string }) => err.name === 'EkCertificateIssuerNotCaError' && err.issuer === 'CN=test-mid'
    )
  })

  it('reads the TPM manufacturer, model and version that swtpm_localca puts in the EK certificate', async () => {
    const verified = await verifyEkCertificate({ certificate: ekCert, trustStore: { dir: tpm.caDir }, ekPublic, now })
    assert.deepEqual(verified.profile, {
      tpmManufacturer: 'id:00001014',
      tpmModel: 'swtpm',
      tpmVersion: 'id:20191023',
      ekUsagePresent: true
    })
  })

  it('an EK certificate breaking the TCG EK profile is refused, naming the rule, even from a trusted CA', async () => {
    const ca = 'basicConstraints=critical,CA:TRUE\n'
    const refusedFor = async (leafExtensions: string, rule: RegExp, extraSections?: string): Promise<void> => {
      await assert.rejects(
        verifyChain(makeChain(ca, leafExtensions, extraSections)),
        (err: Error & { rule?: string }) => err.name === 'EkCertificateProfileError' && rule.test(err.rule ?? '')
      )
    }
    // A CA certificate (which could sign "EK certificates" of its own) is not an EK certificate.
    await refusedFor(`basicConstraints=critical,CA:TRUE\n${EK_EXTENSIONS}`, /is a CA certificate/)
    await refusedFor(EK_EXTENSIONS.replace('keyUsage=critical,keyAgreement\n', ''), /no keyUsage/)
    // A signing key certified as an EK (keyUsage digitalSignature) is not one.
    await refusedFor(EK_EXTENSIONS.replace('keyAgreement', 'digitalSignature'), /keyUsage without keyAgreement/)
    // A TLS server certificate from the same CA is not an EK certificate.
    await refusedFor(EK_EXTENSIONS.replace('2.23.133.8.1', 'serverAuth'), /tcg-kp-EKCertificate/)
    await refusedFor(
      EK_EXTENSIONS.replace(',dirName:tpm', ',DNS:tpm.example'),
      /TPM manufacturer, model and version/,
      ''
    )
  })

  it('refuses unreadable input with typed errors: garbage, several certificates, empty or missing stores', async () => {
    await assert.rejects(verifyEkCertificate({ certificate: new Uint8Array(64).fill(0x30), trustStore: [root], now }), {
      name: 'MalformedCertificateError'
    })
    await assert.rejects(verifyEkCertificate({ certificate: ekCert.subarray(0, 500), trustStore: [root], now }), {
      name: 'MalformedCertificateError'
    })
    await assert.rejects(
      verifyEkCertificate({ certificate: root.toString() + intermediate.toString(), trustStore: [root], now }),
      { name: 'MalformedCertificateError' }
    )
    await assert.rejects(verifyEkCertificate({ certificate: ekCert, trustStore: [], now }), {
      name: 'EmptyTrustStoreError'
    })
    await assert.rejects(
      verifyEkCertificate({ certificate: ekCert, trustStore: { dir: path.join(tpm.dir, 'no-such-dir') }, now }),
      { name: 'TrustStoreUnreadableError' }
    )
    const broken = scratchDir('tpm2-broken-store-')
    writeFileSync(path.join(broken, 'bad.crt'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')
    await assert.rejects(loadTrustStore(broken), { name: 'MalformedCertificateError' })
    // The CA folder also holds the CA's private keys (PEM without certificates): passed over.
    assert.equal((await loadTrustStore(tpm.caDir)).length, 2)
  })
})
