/**
 * Attestation-like certificates for tests, made with the openssl command line in a temp dir.
 * SoftHSM2 (like most tokens) has no attestation, so a test plays the card's vendor: a root CA,
 * the card's attestation certificate it issues (as a YubiKey's slot f9 certificate, here without
 * a CA extension, as on a YubiKey 4), and statements over a given public key carrying Yubico's
 * extensions (firmware, serial, PIN and touch policy), as a YubiKey attests a slot's key. None of
 * it is a real YubiKey's: it has the shape, the names and the extensions, not Yubico's keys.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { DER_TAG, DerReader } from '../../src/common/index.js'
import { p256KeyObject } from '../../src/identity/index.js'
import { tempDir } from './devices.js'

/** Yubico's extensions as a statement carries them: raw firmware bytes, a DER INTEGER serial, raw policy bytes. */
export interface YubicoClaims {
  firmware: [number, number, number]
  serial: number
  /** 1 never, 2 once, 3 always. */
  pin: number
  /** 1 never, 2 always, 3 cached. */
  touch: number
}

export const YUBIKEY_CLAIMS: YubicoClaims = { firmware: [5, 4, 3], serial: 12345678, pin: 2, touch: 2 }

/** What a statement is made with. */
export interface StatementOptions {
  /** Days it is valid from now; negative: it expired that long ago. Default 365. */
  days?: number
  /** Yubico's extensions; false for none. Default YUBIKEY_CLAIMS. */
  yubico?: YubicoClaims | false
  /** Extension lines for openssl as they are, in place of `yubico` (for malformed ones). */
  rawExtensions?: string
  subject?: string
}

/** The PEM SubjectPublicKeyInfo of a SEC1 P-256 point (hex or bytes). */
export function publicKeyPem(point: string | Uint8Array): string {
  const bytes = typeof point === 'string' ? Buffer.from(point, 'hex') : point
  return p256KeyObject(bytes)!.export({ type: 'spki', format: 'pem' }).toString()
}

/** The DER of a certificate's subject Name (what a PKCS#11 certificate object's CKA_SUBJECT holds). */
export function subjectOf(der: Uint8Array): Uint8Array {
  const reader = new DerReader(der, {
    maxElements: 16,
    maxOidBytes: 32,
    fail: (reason) => {
      throw new Error(`not a certificate: ${reason}`)
    }
  })
  const tbs = reader.children(reader.tlv(0, der.length))[0]!
  // [0] version, serial, signature algorithm, issuer, validity, subject
  const fields = reader.children(tbs).filter((field) => field.tag !== 0xa0)
  const subject = fields[4]!
  if (subject.tag !== DER_TAG.SEQUENCE) throw new Error('no subject Name')
  const start = fields[3]!.end
  return der.subarray(start, subject.end)
}

function integerHex(value: number): string {
  let hex = value.toString(16)
  if (hex.length % 2 === 1) hex = `0${hex}`
  if (Number.parseInt(hex.slice(0, 2), 16) >= 0x80) hex = `00${hex}`
  return hex
}

const colons = (hex: string): string => hex.match(/../g)!.join(':')

/** openssl extension lines for Yubico's PIV attestation extensions. */
export function yubicoExtensions(claims: YubicoClaims): string {
  const serial = integerHex(claims.serial)
  return [
    `1.3.6.1.4.1.41482.3.3=DER:${colons(Buffer.from(claims.firmware).toString('hex'))}`,
    `1.3.6.1.4.1.41482.3.7=DER:${colons(`02${(serial.length / 2).toString(16).padStart(2, '0')}${serial}`)}`,
    `1.3.6.1.4.1.41482.3.8=DER:${colons(Buffer.from([claims.pin, claims.touch]).toString('hex'))}`
  ].join('\n')
}

/** A vendor's root and one card's attestation certificate, and the statements that card would make. */
export class TestAttestationCa {
  readonly dir: string
  /** The root's PEM file, for --attestation-root. */
  readonly rootFile: string
  /** The card's attestation certificate (DER), issued by the root. */
  readonly attestation: Uint8Array
  private made = 0

  private constructor(dir: string) {
    this.dir = dir
    this.rootFile = path.join(dir, 'root.pem')
    this.attestation = new Uint8Array(readFileSync(path.join(dir, 'card.der')))
  }

  /**
   * A root named `rootName` (self-signed, a CA) and an attestation certificate named
   * `attestationName` that it issued. `selfSignedCard`: the attestation certificate signs itself
   * instead, as an attacker's own would.
   */
  static async create(
    rootName: string,
    attestationName: string,
    options: { selfSignedCard?: boolean } = {}
  ): Promise<TestAttestationCa> {
    const dir = await tempDir('fleet-attestation-ca-')
    const openssl = (...args: string[]): void => {
      execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })
    }
    openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'root.key')
    openssl('req', '-x509', '-new', '-key', 'root.key', '-subj', `/CN=${rootName}`, '-days', '3650', '-out', 'root.pem')
    openssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'card.key')
    if (options.selfSignedCard === true) {
      openssl(
        'req',
        '-x509',
        '-new',
        '-key',
        'card.key',
        '-subj',
        `/CN=${attestationName}`,
        '-days',
        '3650',
        '-out',
        'card.pem'
      )
    } else {
      openssl('pkey', '-in', 'card.key', '-pubout', '-out', 'card.pub')
      const args = ['-force_pubkey', 'card.pub', '-CA', 'root.pem', '-CAkey', 'root.key', '-days', '3650']
      openssl('x509', '-new', '-subj', `/CN=${attestationName}`, ...args, '-out', 'card.pem')
    }
    openssl('x509', '-in', 'card.pem', '-outform', 'DER', '-out', 'card.der')
    return new TestAttestationCa(dir)
  }

  /** A statement over `publicKey` (PEM SPKI) signed by the card's attestation key, as DER. */
  statement(publicKey: string, options: StatementOptions = {}): Uint8Array {
    const name = `statement-${++this.made}`
    writeFileSync(path.join(this.dir, `${name}.pub`), publicKey)
    const yubico = options.yubico ?? YUBIKEY_CLAIMS
    const extensions = options.rawExtensions ?? (yubico === false ? '' : yubicoExtensions(yubico))
    const args = ['x509', '-new', '-subj', `/CN=${options.subject ?? 'YubiKey PIV Attestation 9c'}`]
    args.push('-force_pubkey', `${name}.pub`, '-CA', 'card.pem', '-CAkey', 'card.key')
    args.push('-days', String(options.days ?? 365), '-outform', 'DER', '-out', `${name}.der`)
    if (extensions !== '') {
      writeFileSync(path.join(this.dir, `${name}.ext`), `${extensions}\n`)
      args.push('-extfile', `${name}.ext`)
    }
    execFileSync('openssl', args, { cwd: this.dir, stdio: 'pipe' })
    return new Uint8Array(readFileSync(path.join(this.dir, `${name}.der`)))
  }
}
