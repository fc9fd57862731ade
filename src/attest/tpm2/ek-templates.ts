import { fromHex } from '../../common/index.js'
import type { HashAlg } from '../pcrs.js'
import { TPM_ALG, TPMA_OBJECT, TPM_ECC_CURVE } from './constants.js'
import { EK_POLICY_A } from './templates.js'
import type { TpmPublic } from './public.js'
import { attributeNames } from './key-attributes.js'
import { EkTemplateMismatchError } from './verification-errors.js'

/**
 * The EK templates of the TCG EK Credential Profile for TPM 2.0 (version 2.x, Annex B): the
 * low-range templates L-1 (RSA 2048) and L-2 (ECC NIST P-256), and the high-range templates H-1 to
 * H-7. The endorsement seed derives one key per template, so an EK public area accepted only when
 * it is exactly one of these (with the unique field a key of the template's size) gives one TPM
 * a bounded, known set of EKs; a template with one attribute toggled (noDA, say) would otherwise
 * be a fresh identity for the same TPM.
 *
 * H-5 (ECC SM2 P-256 with an SM3-256 Name) is listed but can never match: SM3 Names are not
 * parsed by this project, so such an EK is refused before it gets here.
 */

/** Policy B: PolicyOR of policy A and policy C (PolicyAuthorizeNV of the EK policy index), per nameAlg. */
export const EK_POLICY_B: Readonly<Partial<Record<HashAlg, Uint8Array>>> = {
  sha256: fromHex('ca3d0a99a2b93906f7a3342414efcfb3a385d44cd1fd459089d19b5071c0b7a0'),
  sha384: fromHex('b26e7d28d11a50bc53d882bcf5fd3a1a074148bb35d3b4e4cb1c0ad9bde419cacb47ba09699646150f9fc000f3f80e12'),
  sha512: fromHex(
    'b8221ca69e8550a4914de3faa6a18c072cc01208073a928d5d66d59ef79e49a429c41a6b269571d57edb25fbdb1838425608b413cd616a5f6db5b6071af99bea'
  )
}

const LOW_ATTRIBUTES =
  TPMA_OBJECT.fixedTPM |
  TPMA_OBJECT.fixedParent |
  TPMA_OBJECT.sensitiveDataOrigin |
  TPMA_OBJECT.adminWithPolicy |
  TPMA_OBJECT.restricted |
  TPMA_OBJECT.decrypt
/** High-range EKs also allow the (empty) auth value: userWithAuth. */
const HIGH_ATTRIBUTES = LOW_ATTRIBUTES | TPMA_OBJECT.userWithAuth

interface EkTemplate {
  name: string
  type: 'rsa' | 'ecc'
  nameAlg: HashAlg | 'sm3_256'
  objectAttributes: number
  authPolicy: Uint8Array | undefined
  symmetric: { algorithm: number; keyBits: number; mode: number }
  /** RSA: modulus bits; ECC: the curve. */
  keyBits?: number
  curve?: number
  /** Bytes of the RSA modulus or of each ECC coordinate in the created key's unique field. */
  uniqueSize: number
}

const AES = TPM_ALG.AES
const CFB = TPM_ALG.CFB

/** Every TCG EK template, in the profile's order. */
export const EK_TEMPLATES: readonly EkTemplate[] = [
  {
    name: 'L-1',
    type: 'rsa',
    nameAlg: 'sha256',
    objectAttributes: LOW_ATTRIBUTES,
    authPolicy: EK_POLICY_A,
    symmetric: { algorithm: AES, keyBits: 128, mode: CFB },
    keyBits: 2048,
    uniqueSize: 256
  },
  {
    name: 'L-2',
    type: 'ecc',
    nameAlg: 'sha256',
    objectAttributes: LOW_ATTRIBUTES,
    authPolicy: EK_POLICY_A,
    symmetric: { algorithm: AES, keyBits: 128, mode: CFB },
    curve: TPM_ECC_CURVE.NIST_P256,
    uniqueSize: 32
  },
  {
    name: 'H-1',
    type: 'rsa',
    nameAlg: 'sha256',
    objectAttributes: HIGH_ATTRIBUTES,
    authPolicy: EK_POLICY_B.sha256,
    symmetric: { algorithm: AES, keyBits: 128, mode: CFB },
    keyBits: 2048,
    uniqueSize: 256
  },
  {
    name: 'H-2',
    type: 'ecc',
    nameAlg: 'sha256',
    objectAttributes: HIGH_ATTRIBUTES,
    authPolicy: EK_POLICY_B.sha256,
    symmetric: { algorithm: AES, keyBits: 128, mode: CFB },
    curve: TPM_ECC_CURVE.NIST_P256,
    uniqueSize: 32
  },
  {
    name: 'H-3',
    type: 'ecc',
    nameAlg: 'sha384',
    objectAttributes: HIGH_ATTRIBUTES,
    authPolicy: EK_POLICY_B.sha384,
    symmetric: { algorithm: AES, keyBits: 256, mode: CFB },
    curve: TPM_ECC_CURVE.NIST_P384,
    uniqueSize: 48
  },
  {
    name: 'H-4',
    type: 'ecc',
    nameAlg: 'sha512',
    objectAttributes: HIGH_ATTRIBUTES,
    authPolicy: EK_POLICY_B.sha512,
    symmetric: { algorithm: AES, keyBits: 256, mode: CFB },
    curve: TPM_ECC_CURVE.NIST_P521,
    uniqueSize: 66
  },
  {
    name: 'H-5',
    type: 'ecc',
    nameAlg: 'sm3_256',
    objectAttributes: HIGH_ATTRIBUTES,
    authPolicy: undefined,
    symmetric: { algorithm: TPM_ALG.SM4, keyBits: 128, mode: CFB },
    curve: TPM_ECC_CURVE.SM2_P256,
    uniqueSize: 32
  },
  {
    name: 'H-6',
    type: 'rsa',
    nameAlg: 'sha384',
    objectAttributes: HIGH_ATTRIBUTES,
    authPolicy: EK_POLICY_B.sha384,
    symmetric: { algorithm: AES, keyBits: 256, mode: CFB },
    keyBits: 3072,
    uniqueSize: 384
  },
  {
    name: 'H-7',
    type: 'rsa',
    nameAlg: 'sha384',
    objectAttributes: HIGH_ATTRIBUTES,
    authPolicy: EK_POLICY_B.sha384,
    symmetric: { algorithm: AES, keyBits: 256, mode: CFB },
    keyBits: 4096,
    uniqueSize: 512
  }
]

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i])
}

/** What differs between an EK public area and a template (empty: it is that template). */
function differences(pub: TpmPublic, t: EkTemplate): string[] {
  const out: string[] = []
  if (pub.type === 'keyedhash' || pub.type !== t.type) return [`it is ${pub.type}, the template ${t.type}`]
  if (pub.nameAlg !== t.nameAlg) out.push(`nameAlg ${pub.nameAlg}, not ${t.nameAlg}`)
  if (pub.objectAttributes !== t.objectAttributes) {
    const extra = attributeNames(pub.objectAttributes & ~t.objectAttributes)
    const missing = attributeNames(t.objectAttributes & ~pub.objectAttributes)
    const unnamed = (pub.objectAttributes ^ t.objectAttributes) & ~attributeMask()
    out.push(
      `objectAttributes ${[...extra.map((a) => `+${a}`), ...missing.map((a) => `-${a}`), ...(unnamed === 0 ? [] : [`bits 0x${unnamed.toString(16)}`])].join(' ')}`
    )
  }
  if (t.authPolicy === undefined || !sameBytes(pub.authPolicy, t.authPolicy)) out.push('authPolicy differs')
  const s = pub.symmetric
  if (s.algorithm !== t.symmetric.algorithm || s.keyBits !== t.symmetric.keyBits || s.mode !== t.symmetric.mode)
    out.push('symmetric differs')
  if (pub.scheme.scheme !== TPM_ALG.NULL) out.push('scheme is not NULL')
  if (pub.type === 'rsa') {
    if (pub.keyBits !== t.keyBits) out.push(`keyBits ${pub.keyBits}, not ${t.keyBits}`)
    if (pub.exponent !== 0) out.push(`exponent ${pub.exponent}, not 0 (the default)`)
    if (pub.modulus.length !== t.uniqueSize)
      out.push(`the modulus has ${pub.modulus.length} bytes, not ${t.uniqueSize}`)
  } else if (pub.type === 'ecc') {
    if (pub.curve !== t.curve) out.push(`curve 0x${pub.curve.toString(16)}, not 0x${(t.curve ?? 0).toString(16)}`)
    if (pub.kdf.scheme !== TPM_ALG.NULL) out.push('kdf is not NULL')
    if (pub.x.length !== t.uniqueSize || pub.y.length !== t.uniqueSize)
      out.push(`the point has ${pub.x.length}+${pub.y.length} bytes, not ${t.uniqueSize}+${t.uniqueSize}`)
  }
  return out
}

function attributeMask(): number {
  return Object.values(TPMA_OBJECT).reduce((mask, bit) => mask | bit, 0)
}

/**
 * Checks that an EK public area is a key made from one of the TCG EK templates and returns the
 * template's name ('L-1', 'H-3', …). Throws EkTemplateMismatchError naming the closest template
 * and what differs.
 */
export function checkEndorsementKey(pub: TpmPublic): string {
  let closest: { name: string; diff: string[] } | undefined
  for (const template of EK_TEMPLATES) {
    const diff = differences(pub, template)
    if (diff.length === 0) return template.name
    if (closest === undefined || diff.length < closest.diff.length) closest = { name: template.name, diff }
  }
  throw new EkTemplateMismatchError(closest?.name ?? 'none', closest?.diff ?? ['not an RSA or ECC key'])
}
