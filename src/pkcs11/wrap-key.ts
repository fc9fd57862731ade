/**
 * The AES-256 key on the token that seals what the token cannot hold itself (today: the ML-DSA-65
 * seed, as no token has ML-DSA). AES-GCM through C_Encrypt / C_Decrypt; the key never leaves.
 */
import { AbortedError } from '../common/index.js'
import { decodeUlong, hardwareBoundFailures, readAttribute, readBoolOrUndefined } from './attributes.js'
import type { GcmParameters, Handle, TemplateAttribute } from './binding.js'
import { CKA, CKK, CKM, CKO } from './constants.js'
import { Pkcs11KeyNotHardwareBoundError, Pkcs11KeyUnsuitableError } from './errors.js'
import { GCM_TAG_BYTES, KEY_ID_BYTES, WRAP_KEY_BYTES } from './limits.js'
import { checkKeyLabel, ensureLabelFree, findOne, type KeySearch } from './objects.js'
import type { Refine, TokenSession } from './session.js'

const SECRET_AES: TemplateAttribute[] = [
  { type: CKA.CLASS, value: CKO.SECRET_KEY },
  { type: CKA.KEY_TYPE, value: CKK.AES }
]

/** A hardware-bound AES-256 key on a token, usable only through the session it was found in. */
export class TokenWrapKey {
  readonly label: string
  readonly session: TokenSession
  private readonly handle: Handle

  constructor(session: TokenSession, label: string, handle: Handle) {
    this.session = session
    this.label = label
    this.handle = handle
  }

  /** AES-GCM encryption on the token: ciphertext ‖ tag. */
  async encrypt(
    gcm: Omit<GcmParameters, 'tagBits'>,
    plaintext: Uint8Array,
    options: { signal?: AbortSignal } = {}
  ): Promise<Uint8Array> {
    const out = Buffer.alloc(plaintext.length + GCM_TAG_BYTES)
    const sealed = await this.session.run(
      `seal with ${JSON.stringify(this.label)}`,
      async (api, session) =>
        await api.encrypt(session, { ...gcm, tagBits: GCM_TAG_BYTES * 8 }, this.handle, plaintext, out),
      options
    )
    return new Uint8Array(sealed)
  }

  /**
   * AES-GCM decryption on the token into a fresh buffer that the caller MUST wipe (fill(0)) after
   * use. `refine` names a refused tag.
   */
  async decrypt(
    gcm: Omit<GcmParameters, 'tagBits'>,
    sealed: Uint8Array,
    options: { signal?: AbortSignal; refine?: Refine } = {}
  ): Promise<Buffer> {
    const out = Buffer.alloc(sealed.length)
    try {
      return await this.session.run(
        `unseal with ${JSON.stringify(this.label)}`,
        async (api, session) =>
          await api.decrypt(session, { ...gcm, tagBits: GCM_TAG_BYTES * 8 }, this.handle, sealed, out),
        options
      )
    } catch (err) {
      // Whatever a failing token wrote is not left behind; after an abort the token may still be
      // writing, so the buffer is wiped again once it is done.
      out.fill(0)
      if (err instanceof AbortedError) void this.session.idle().then(() => out.fill(0))
      throw err
    }
  }

  /** The same as decrypt(), on this thread, in a session of its own. */
  decryptNow(gcm: Omit<GcmParameters, 'tagBits'>, sealed: Uint8Array, options: { refine?: Refine } = {}): Buffer {
    const out = Buffer.alloc(sealed.length)
    try {
      return this.session.runNow(
        `unseal with ${JSON.stringify(this.label)}`,
        (api, session) => api.decryptSync(session, { ...gcm, tagBits: GCM_TAG_BYTES * 8 }, this.handle, sealed, out),
        options
      )
    } catch (err) {
      out.fill(0)
      throw err
    }
  }
}

export async function generateWrapKey(
  session: TokenSession,
  label: string,
  options: { signal?: AbortSignal } = {}
): Promise<TokenWrapKey> {
  checkKeyLabel(label)
  const id = session.random.bytes(KEY_ID_BYTES)
  const handle = await session.run(
    `generate AES wrap key ${JSON.stringify(label)}`,
    (api, handle) => {
      const search: KeySearch = { api, session: handle, token: session.token.label, label, kind: 'aes-wrap' }
      ensureLabelFree(search, [SECRET_AES])
      const key = api.generateKey(handle, CKM.AES_KEY_GEN, [
        ...SECRET_AES,
        { type: CKA.TOKEN, value: true },
        { type: CKA.LABEL, value: label },
        { type: CKA.ID, value: id },
        { type: CKA.VALUE_LEN, value: WRAP_KEY_BYTES },
        { type: CKA.PRIVATE, value: true },
        { type: CKA.SENSITIVE, value: true },
        { type: CKA.EXTRACTABLE, value: false },
        { type: CKA.ENCRYPT, value: true },
        { type: CKA.DECRYPT, value: true },
        { type: CKA.WRAP, value: false },
        { type: CKA.UNWRAP, value: false },
        { type: CKA.DERIVE, value: false }
      ])
      return checkedKey(search, key)
    },
    options
  )
  return new TokenWrapKey(session, label, handle)
}

/** The AES wrap key with this label: exactly one, hardware-bound, AES-256, needing the PIN, for encrypt and decrypt. */
export async function findWrapKey(
  session: TokenSession,
  label: string,
  options: { signal?: AbortSignal } = {}
): Promise<TokenWrapKey> {
  checkKeyLabel(label)
  const handle = await session.run(
    `find AES wrap key ${JSON.stringify(label)}`,
    (api, handle) => {
      const search: KeySearch = { api, session: handle, token: session.token.label, label, kind: 'aes-wrap' }
      return checkedKey(search, findOne(search, SECRET_AES))
    },
    options
  )
  return new TokenWrapKey(session, label, handle)
}

function checkedKey(search: KeySearch, key: Handle): Handle {
  const { api, session } = search
  const unsuitable = (reason: string): Pkcs11KeyUnsuitableError =>
    new Pkcs11KeyUnsuitableError(search.token, search.label, reason)
  const failing = hardwareBoundFailures(api, session, key)
  if (failing.length > 0) throw new Pkcs11KeyNotHardwareBoundError(search.token, search.label, failing)
  const length = decodeUlong(CKA.VALUE_LEN, readAttribute(api, session, key, CKA.VALUE_LEN))
  if (length !== WRAP_KEY_BYTES) throw unsuitable(`an AES key of ${length} bytes, not ${WRAP_KEY_BYTES}`)
  if (readBoolOrUndefined(api, session, key, CKA.PRIVATE) !== true) {
    throw unsuitable('CKA_PRIVATE is not true: it unseals without the PIN')
  }
  for (const type of [CKA.ENCRYPT, CKA.DECRYPT]) {
    if (readBoolOrUndefined(api, session, key, type) !== true) {
      throw unsuitable(`${type === CKA.ENCRYPT ? 'CKA_ENCRYPT' : 'CKA_DECRYPT'} is not true`)
    }
  }
  return key
}
