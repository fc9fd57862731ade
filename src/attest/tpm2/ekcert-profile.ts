import type { X509Certificate } from 'node:crypto'
import { TPM2_LIMITS } from './limits.js'
import { MalformedCertificateError } from './errors.js'
import { EkCertificateProfileError } from './ekcert-errors.js'

/**
 * The rules of the TCG EK Credential Profile (TPM 2.0, §3.2) that this project enforces on an EK
 * certificate, and what it reports from it. Node's X509Certificate does not expose keyUsage or
 * the subjectAltName's directoryName attributes, so the extensions are read from the DER here
 * (a bounded reader for exactly the structures needed; the certificate already parsed).
 *
 * Enforced (every TCG EK certificate, swtpm's included, keeps them):
 * - it is not a CA certificate;
 * - keyUsage is present and allows keyEncipherment (RSA EK) or keyAgreement (ECC EK);
 * - an extendedKeyUsage, when present, includes tcg-kp-EKCertificate (2.23.133.8.1);
 * - subjectAltName holds a directoryName with the TPM manufacturer, model and version
 *   (2.23.133.2.1/2/3).
 * Reported: whether extendedKeyUsage was present, and the manufacturer, model and version.
 */
export interface EkCertificateProfile {
  tpmManufacturer: string
  tpmModel: string
  tpmVersion: string
  /** False when the certificate has no extendedKeyUsage (older vendor certificates). */
  ekUsagePresent: boolean
}

const OID = {
  keyUsage: '2.5.29.15',
  basicConstraints: '2.5.29.19',
  subjectAltName: '2.5.29.17',
  extendedKeyUsage: '2.5.29.37',
  tcgEkCertificate: '2.23.133.8.1',
  tpmManufacturer: '2.23.133.2.1',
  tpmModel: '2.23.133.2.2',
  tpmVersion: '2.23.133.2.3'
} as const

/** keyUsage bits (RFC 5280 §4.2.1.3), numbered from the most significant bit of the first byte. */
const KEY_ENCIPHERMENT = 2
const KEY_AGREEMENT = 4

interface Tlv {
  tag: number
  start: number
  end: number
  next: number
}

/** One DER TLV at `offset`, within `limit`; low tag numbers and definite lengths only. */
function tlv(der: Uint8Array, offset: number, limit: number): Tlv {
  const fail = (reason: string): never => {
    throw new MalformedCertificateError('the EK certificate', `${reason} at byte ${offset}`)
  }
  if (offset + 2 > limit) fail('truncated DER')
  const tag = der[offset]!
  if ((tag & 0x1f) === 0x1f) fail('a high tag number')
  let length = der[offset + 1]!
  let start = offset + 2
  if (length >= 0x80) {
    const count = length & 0x7f
    if (count === 0 || count > 3 || start + count > limit) fail('an unsupported DER length')
    length = 0
    for (let i = 0; i < count; i++) length = length * 256 + der[start + i]!
    start += count
  }
  if (start + length > limit) fail('a DER length past its container')
  return { tag, start, end: start + length, next: start + length }
}

function children(der: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = []
  for (let offset = parent.start; offset < parent.end; ) {
    if (out.length >= TPM2_LIMITS.maxCertificateElements)
      throw new MalformedCertificateError(
        'the EK certificate',
        `more than ${TPM2_LIMITS.maxCertificateElements} elements in one structure`
      )
    const child = tlv(der, offset, parent.end)
    out.push(child)
    offset = child.next
  }
  return out
}

function oidText(der: Uint8Array, t: Tlv): string {
  const bytes = der.subarray(t.start, t.end)
  if (bytes.length === 0 || bytes.length > TPM2_LIMITS.maxOidBytes)
    throw new MalformedCertificateError('the EK certificate', 'an OID of unusual length')
  const parts: number[] = [Math.min(2, Math.floor(bytes[0]! / 40)), 0]
  parts[1] = bytes[0]! - parts[0]! * 40
  let value = 0
  for (const byte of bytes.subarray(1)) {
    value = value * 128 + (byte & 0x7f)
    if ((byte & 0x80) === 0) {
      parts.push(value)
      value = 0
    }
  }
  return parts.join('.')
}

/** The certificate's extensions by OID: whether critical, and the extnValue's contents. */
function extensions(der: Uint8Array): Map<string, { critical: boolean; valueTlv: Tlv }> {
  const certificate = tlv(der, 0, der.length)
  const tbs = children(der, certificate)[0]
  if (tbs === undefined) throw new MalformedCertificateError('the EK certificate', 'no tbsCertificate')
  const out = new Map<string, { critical: boolean; valueTlv: Tlv }>()
  const wrapper = children(der, tbs).find((t) => t.tag === 0xa3)
  if (wrapper === undefined) return out
  const list = children(der, wrapper)[0]
  if (list === undefined) return out
  for (const extension of children(der, list)) {
    const fields = children(der, extension)
    const oid = fields[0]
    const octets = fields[fields.length - 1]
    if (oid === undefined || oid.tag !== 0x06 || octets === undefined || octets.tag !== 0x04)
      throw new MalformedCertificateError('the EK certificate', 'a malformed extension')
    const critical = fields.length === 3 && fields[1]!.tag === 0x01 && der[fields[1]!.start] !== 0
    const inner = tlv(der, octets.start, octets.end)
    out.set(oidText(der, oid), { critical, valueTlv: inner })
  }
  return out
}

function keyUsageBit(der: Uint8Array, bitString: Tlv, bit: number): boolean {
  if (bitString.tag !== 0x03 || bitString.end - bitString.start < 1) return false
  const byte = der[bitString.start + 1 + Math.floor(bit / 8)]
  return byte !== undefined && (byte & (0x80 >> (bit % 8))) !== 0
}

function text(der: Uint8Array, t: Tlv): string {
  return Buffer.from(der.subarray(t.start, t.end)).toString('utf8')
}

/** The TPM attributes of the subjectAltName's directoryName(s). */
function tpmAttributes(der: Uint8Array, names: Tlv): Map<string, string> {
  const out = new Map<string, string>()
  if (names.tag !== 0x30) return out
  for (const name of children(der, names)) {
    if (name.tag !== 0xa4) continue
    const rdnSequence = children(der, name)[0]
    if (rdnSequence === undefined || rdnSequence.tag !== 0x30) continue
    for (const rdn of children(der, rdnSequence)) {
      for (const attribute of children(der, rdn)) {
        const [type, value] = children(der, attribute)
        if (type?.tag === 0x06 && value !== undefined) out.set(oidText(der, type), text(der, value))
      }
    }
  }
  return out
}

/** Enforces the profile rules above on a (chain-verified) EK certificate and returns what it reports. */
export function checkEkCertificateProfile(cert: X509Certificate): EkCertificateProfile {
  const subject = cert.subject || cert.serialNumber
  const refuse = (rule: string): never => {
    throw new EkCertificateProfileError(subject, rule)
  }
  const der = new Uint8Array(cert.raw)
  const found = extensions(der)
  // basicConstraints read here: X509Certificate.ca is false for a CA whose keyUsage lacks keyCertSign.
  const constraints = found.get(OID.basicConstraints)
  const first = constraints?.valueTlv.tag === 0x30 ? children(der, constraints.valueTlv)[0] : undefined
  if (cert.ca || (first?.tag === 0x01 && der[first.start] !== 0)) refuse('is a CA certificate')
  const keyUsage = found.get(OID.keyUsage)
  let keyType: string | undefined
  try {
    keyType = cert.publicKey.asymmetricKeyType
  } catch (err) {
    throw new MalformedCertificateError(
      'the EK certificate',
      `its public key is unreadable (${(err as Error).message})`,
      err
    )
  }
  const [bit, usage] =
    keyType === 'rsa'
      ? [KEY_ENCIPHERMENT, 'keyEncipherment']
      : keyType === 'ec'
        ? [KEY_AGREEMENT, 'keyAgreement']
        : [-1, '']
  if (bit < 0) refuse(`certifies a ${keyType ?? 'unknown'} key, not an RSA or ECC EK`)
  if (keyUsage === undefined) refuse('has no keyUsage')
  if (!keyUsageBit(der, keyUsage!.valueTlv, bit)) refuse(`has a keyUsage without ${usage}`)
  const eku = found.get(OID.extendedKeyUsage)
  if (eku !== undefined) {
    const purposes =
      eku.valueTlv.tag === 0x30
        ? children(der, eku.valueTlv)
            .filter((t) => t.tag === 0x06)
            .map((t) => oidText(der, t))
        : []
    if (!purposes.includes(OID.tcgEkCertificate))
      refuse(
        `has an extendedKeyUsage without tcg-kp-EKCertificate (${OID.tcgEkCertificate}): ${purposes.join(', ') || 'none'}`
      )
  }
  const san = found.get(OID.subjectAltName)
  const attributes = san === undefined ? new Map<string, string>() : tpmAttributes(der, san.valueTlv)
  const tpmManufacturer = attributes.get(OID.tpmManufacturer)
  const tpmModel = attributes.get(OID.tpmModel)
  const tpmVersion = attributes.get(OID.tpmVersion)
  if (tpmManufacturer === undefined || tpmModel === undefined || tpmVersion === undefined)
    refuse('has no subjectAltName with the TPM manufacturer, model and version')
  return {
    tpmManufacturer: tpmManufacturer!,
    tpmModel: tpmModel!,
    tpmVersion: tpmVersion!,
    ekUsagePresent: eku !== undefined
  }
}
