import type { X509Certificate } from 'node:crypto'
import { DerReader, type DerTlv } from '../../common/index.js'
import { TPM2_LIMITS } from './limits.js'
import { MalformedCertificateError } from './errors.js'
import { EkCertificateProfileError } from './ekcert-errors.js'

/**
 * The rules of the TCG EK Credential Profile (TPM 2.0, §3.2) that this project enforces on an EK
 * certificate, and what it reports from it. Node's X509Certificate does not expose keyUsage or
 * the subjectAltName's directoryName attributes, so the extensions are read from the DER here
 * (the bounded DerReader of src/common, within TPM2_LIMITS; the certificate already parsed).
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

/** A reader of the EK certificate's DER, within TPM2_LIMITS; a failure is a MalformedCertificateError. */
function reader(der: Uint8Array): DerReader {
  return new DerReader(der, {
    maxElements: TPM2_LIMITS.maxCertificateElements,
    maxOidBytes: TPM2_LIMITS.maxOidBytes,
    fail: (reason) => {
      throw new MalformedCertificateError('the EK certificate', reason)
    }
  })
}

/** The certificate's extensions by OID: whether critical, and the TLV inside the extnValue. */
function extensions(r: DerReader): Map<string, { critical: boolean; valueTlv: DerTlv }> {
  const out = new Map<string, { critical: boolean; valueTlv: DerTlv }>()
  for (const [oid, { critical, value }] of r.certificateExtensions())
    out.set(oid, { critical, valueTlv: r.tlv(value.start, value.end) })
  return out
}

function keyUsageBit(der: Uint8Array, bitString: DerTlv, bit: number): boolean {
  if (bitString.tag !== 0x03 || bitString.end - bitString.start < 1) return false
  const byte = der[bitString.start + 1 + Math.floor(bit / 8)]
  return byte !== undefined && (byte & (0x80 >> (bit % 8))) !== 0
}

function text(r: DerReader, t: DerTlv): string {
  return Buffer.from(r.bytes(t)).toString('utf8')
}

/** The TPM attributes of the subjectAltName's directoryName(s). */
function tpmAttributes(r: DerReader, names: DerTlv): Map<string, string> {
  const out = new Map<string, string>()
  if (names.tag !== 0x30) return out
  for (const name of r.children(names)) {
    if (name.tag !== 0xa4) continue
    const rdnSequence = r.children(name)[0]
    if (rdnSequence === undefined || rdnSequence.tag !== 0x30) continue
    for (const rdn of r.children(rdnSequence)) {
      for (const attribute of r.children(rdn)) {
        const [type, value] = r.children(attribute)
        if (type?.tag === 0x06 && value !== undefined) out.set(r.oid(type), text(r, value))
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
  const r = reader(der)
  const found = extensions(r)
  // basicConstraints read here: X509Certificate.ca is false for a CA whose keyUsage lacks keyCertSign.
  const constraints = found.get(OID.basicConstraints)
  const first = constraints?.valueTlv.tag === 0x30 ? r.children(constraints.valueTlv)[0] : undefined
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
        ? r
            .children(eku.valueTlv)
            .filter((t) => t.tag === 0x06)
            .map((t) => r.oid(t))
        : []
    if (!purposes.includes(OID.tcgEkCertificate))
      refuse(
        `has an extendedKeyUsage without tcg-kp-EKCertificate (${OID.tcgEkCertificate}): ${purposes.join(', ') || 'none'}`
      )
  }
  const san = found.get(OID.subjectAltName)
  const attributes = san === undefined ? new Map<string, string>() : tpmAttributes(r, san.valueTlv)
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
