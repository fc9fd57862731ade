/**
 * The X.509 certificate objects on a token, read within bounds: at most CERTIFICATE_OBJECTS_MAX
 * objects (a token with more is refused), each value at most CERTIFICATE_MAX_BYTES. Their labels
 * and ids are the token's word and nothing here trusts them; what a certificate proves is judged
 * by piv-attestation.ts.
 *
 * PIV cards show their certificates this way. Yubico's ykcs11, for instance, shows per key slot
 * a certificate object "X.509 Certificate for PIV Attestation 9a" (…9c, 9d, 9e, 82–95; CKA_ID the
 * slot's key's, CKA_TOKEN false: the card makes it when asked) whose subject key is the slot's
 * key, and the card's attestation certificate (slot f9) as "X.509 Certificate for PIV
 * Attestation" (CKA_ID 0x19), which Yubico's PIV CA issued.
 */
import { attributeName, decodeUlong, readAttribute, readOptional } from './attributes.js'
import { CKA, CKC_X_509, CKO } from './constants.js'
import {
  Pkcs11AttributeMalformedError,
  Pkcs11CertificateMalformedError,
  Pkcs11TooManyCertificatesError
} from './errors.js'
import { CERTIFICATE_MAX_BYTES, CERTIFICATE_OBJECTS_MAX } from './limits.js'
import type { TokenSession } from './session.js'

/** One X.509 certificate object as the token gives it. */
export interface TokenCertificate {
  /** CKA_LABEL as UTF-8 text ('' when the object has none). */
  readonly label: string
  /** CKA_ID (empty when the object has none). */
  readonly id: Uint8Array
  /** CKA_VALUE: the certificate's DER, not yet parsed. */
  readonly der: Uint8Array
}

/**
 * Every X.509 certificate object of the session's token (certificate objects of another type are
 * passed over). Refused: more than CERTIFICATE_OBJECTS_MAX certificate objects
 * (Pkcs11TooManyCertificatesError), a value larger than CERTIFICATE_MAX_BYTES or none
 * (Pkcs11CertificateMalformedError).
 */
export async function readCertificates(
  session: TokenSession,
  options: { signal?: AbortSignal } = {}
): Promise<TokenCertificate[]> {
  const token = session.token.label
  return await session.run(
    'read certificate objects',
    (api, handle) => {
      const found = api.findObjects(handle, [{ type: CKA.CLASS, value: CKO.CERTIFICATE }], CERTIFICATE_OBJECTS_MAX + 1)
      if (found.length > CERTIFICATE_OBJECTS_MAX)
        throw new Pkcs11TooManyCertificatesError(token, CERTIFICATE_OBJECTS_MAX)
      const certificates: TokenCertificate[] = []
      for (const object of found) {
        const type = readOptional(api, handle, object, CKA.CERTIFICATE_TYPE)
        if (type !== undefined && decodeUlong(CKA.CERTIFICATE_TYPE, type) !== CKC_X_509) continue
        const label = Buffer.from(readOptional(api, handle, object, CKA.LABEL) ?? []).toString('utf8')
        const id = new Uint8Array(readOptional(api, handle, object, CKA.ID) ?? [])
        let der: Buffer
        try {
          der = readAttribute(api, handle, object, CKA.VALUE, CERTIFICATE_MAX_BYTES)
        } catch (err) {
          if (!(err instanceof Pkcs11AttributeMalformedError)) throw err
          throw new Pkcs11CertificateMalformedError(token, label, `${attributeName(CKA.VALUE)} is ${err.reason}`, err)
        }
        if (der.length === 0) throw new Pkcs11CertificateMalformedError(token, label, 'its CKA_VALUE is empty')
        certificates.push({ label, id, der: new Uint8Array(der) })
      }
      return certificates
    },
    options
  )
}
