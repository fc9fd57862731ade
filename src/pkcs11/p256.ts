/**
 * P-256 keys made and kept on the token, and the P256Signer over them: CKM_ECDSA over SHA-256 of
 * the message, returned as r‖s.
 */
import { createHash } from 'node:crypto'
import { bytesEqual } from '../common/index.js'
import { verifyP256, type P256Signer } from '../identity/index.js'
import { hardwareBoundFailures, readAttribute, readBoolOrUndefined, readOptional } from './attributes.js'
import type { Handle, TemplateAttribute } from './binding.js'
import { CKA, CKK, CKM, CKO, PRIME256V1_PARAMS } from './constants.js'
import { decodeEcPoint, isPrime256v1 } from './ec-point.js'
import { Pkcs11KeyNotHardwareBoundError, Pkcs11KeyUnsuitableError } from './errors.js'
import { KEY_ID_BYTES, SIGNATURE_BUFFER_BYTES } from './limits.js'
import { checkKeyLabel, ensureLabelFree, findOne, findOneOrNone, type KeySearch } from './objects.js'
import type { TokenSession } from './session.js'

/** A P-256 signer whose private key is on the token. `publicKey` is the SEC1 uncompressed point. */
export interface TokenP256Signer extends P256Signer {
  readonly label: string
}

const P1363_BYTES = 64
const PRIVATE_EC: TemplateAttribute[] = [
  { type: CKA.CLASS, value: CKO.PRIVATE_KEY },
  { type: CKA.KEY_TYPE, value: CKK.EC }
]
const PUBLIC_EC: TemplateAttribute[] = [
  { type: CKA.CLASS, value: CKO.PUBLIC_KEY },
  { type: CKA.KEY_TYPE, value: CKK.EC }
]

export async function generateP256Key(
  session: TokenSession,
  label: string,
  options: { signal?: AbortSignal } = {}
): Promise<TokenP256Signer> {
  checkKeyLabel(label)
  const id = session.random.bytes(KEY_ID_BYTES)
  return await session
    .run(
      `generate P-256 key ${JSON.stringify(label)}`,
      (api, handle) => {
        const search: KeySearch = { api, session: handle, token: session.token.label, label, kind: 'p256' }
        ensureLabelFree(search, [PRIVATE_EC, PUBLIC_EC])
        const common: TemplateAttribute[] = [
          { type: CKA.TOKEN, value: true },
          { type: CKA.LABEL, value: label },
          { type: CKA.ID, value: id },
          { type: CKA.KEY_TYPE, value: CKK.EC }
        ]
        const pair = api.generateKeyPair(
          handle,
          CKM.EC_KEY_PAIR_GEN,
          [
            ...common,
            { type: CKA.CLASS, value: CKO.PUBLIC_KEY },
            { type: CKA.PRIVATE, value: false },
            { type: CKA.EC_PARAMS, value: PRIME256V1_PARAMS },
            { type: CKA.VERIFY, value: true }
          ],
          [
            ...common,
            { type: CKA.CLASS, value: CKO.PRIVATE_KEY },
            { type: CKA.PRIVATE, value: true },
            { type: CKA.SENSITIVE, value: true },
            { type: CKA.EXTRACTABLE, value: false },
            { type: CKA.SIGN, value: true },
            { type: CKA.DERIVE, value: false }
          ]
        )
        return checkedKey(search, pair.privateKey, pair.publicKey)
      },
      options
    )
    .then(({ key, point }) => tokenSigner(session, label, key, point))
}

/**
 * The P-256 key with this label. Before it is used: exactly one private and one public EC key
 * object have the label; the private key is hardware-bound, needs the PIN (CKA_PRIVATE) and may
 * sign; the public key is on prime256v1; and one signature made with the private key verifies
 * under the public point, so the two objects are one key pair.
 */
export async function findP256Key(
  session: TokenSession,
  label: string,
  options: { signal?: AbortSignal } = {}
): Promise<TokenP256Signer> {
  checkKeyLabel(label)
  const operation = `find P-256 key ${JSON.stringify(label)}`
  const found = await session.run(
    operation,
    (api, handle) => {
      const search: KeySearch = { api, session: handle, token: session.token.label, label, kind: 'p256' }
      const key = findOne(search, PRIVATE_EC)
      const publicKey = findOneOrNone(search, PUBLIC_EC)
      if (publicKey === undefined) throw unsuitable(search, 'there is no public key object with its label')
      return checkedKey(search, key, publicKey)
    },
    options
  )
  const signer = tokenSigner(session, label, found.key, found.point)
  await checkKeyPair(session, signer, options)
  return signer
}

/**
 * Signs a random challenge with the token's key and verifies the signature under the public
 * point the token gave for it: the two are one key pair, held by this token. Refused
 * (Pkcs11KeyUnsuitableError) when the signature does not verify.
 */
export async function checkKeyPair(
  session: TokenSession,
  signer: TokenP256Signer,
  options: { signal?: AbortSignal } = {}
): Promise<void> {
  const challenge = session.random.bytes(32)
  const signature = await signer.sign(challenge, options)
  if (!verifyP256(signer.publicKey, challenge, signature)) {
    const reason = "the public key object is not the private key's other half"
    throw new Pkcs11KeyUnsuitableError(session.token.label, signer.label, reason)
  }
}

function unsuitable(search: KeySearch, reason: string): Pkcs11KeyUnsuitableError {
  return new Pkcs11KeyUnsuitableError(search.token, search.label, reason)
}

/** The checks every P-256 key passes before use; returns the handle and the public point. */
function checkedKey(search: KeySearch, key: Handle, publicKey: Handle): { key: Handle; point: Uint8Array } {
  const { api, session } = search
  const failing = hardwareBoundFailures(api, session, key)
  if (failing.length > 0) throw new Pkcs11KeyNotHardwareBoundError(search.token, search.label, failing)
  if (readBoolOrUndefined(api, session, key, CKA.PRIVATE) !== true) {
    throw unsuitable(search, 'CKA_PRIVATE is not true: it signs without the PIN')
  }
  if (readBoolOrUndefined(api, session, key, CKA.SIGN) !== true) throw unsuitable(search, 'CKA_SIGN is not true')
  if (!isPrime256v1(readAttribute(api, session, publicKey, CKA.EC_PARAMS))) {
    throw unsuitable(search, 'CKA_EC_PARAMS is not prime256v1')
  }
  const privateParams = readOptional(api, session, key, CKA.EC_PARAMS)
  if (privateParams !== undefined && !isPrime256v1(privateParams)) {
    throw unsuitable(search, "the private key's CKA_EC_PARAMS is not prime256v1")
  }
  const privateId = readOptional(api, session, key, CKA.ID) ?? new Uint8Array(0)
  const publicId = readOptional(api, session, publicKey, CKA.ID) ?? new Uint8Array(0)
  if (privateId.length > 0 && publicId.length > 0 && !bytesEqual(privateId, publicId)) {
    throw unsuitable(search, 'the public and private key objects have different CKA_ID')
  }
  return { key, point: decodeEcPoint(readAttribute(api, session, publicKey, CKA.EC_POINT)) }
}

function tokenSigner(session: TokenSession, label: string, key: Handle, point: Uint8Array): TokenP256Signer {
  const operation = `sign with P-256 key ${JSON.stringify(label)}`
  return {
    label,
    publicKey: point,
    async sign(message, options = {}) {
      const digest = createHash('sha256').update(message).digest()
      const signature = await session.run(
        operation,
        async (api, handle) => await api.sign(handle, CKM.ECDSA, key, digest, Buffer.alloc(SIGNATURE_BUFFER_BYTES)),
        options
      )
      if (signature.length !== P1363_BYTES) {
        throw new Pkcs11KeyUnsuitableError(
          session.token.label,
          label,
          `the token's ECDSA signature is ${signature.length} bytes, not r‖s (${P1363_BYTES})`
        )
      }
      return new Uint8Array(signature)
    }
  }
}
