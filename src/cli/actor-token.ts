/**
 * An actor's P-256 key on the actor's own PKCS#11 token, as the owner enrols it: made there by
 * generateP256, or, when the label is taken, the key found under it, checked exactly as a made one
 * (CKA_LOCAL, CKA_NEVER_EXTRACTABLE, CKA_ALWAYS_SENSITIVE, not extractable, signs for its public
 * key). The token is found by label before its PIN is asked for. The session (and the module) is
 * closed before this returns: the owner's own token may sit behind the same module, which a process
 * loads only once at a time.
 *
 * No attestation evidence is recorded for a token key. PKCS#11 has no standard key attestation
 * (some HSMs have vendor objects for it; SoftHSM2 has none), so what the owner records is the
 * token's own description and the checks above.
 */
import { allowedModulePath } from '../agent/index.js'
import {
  Pkcs11KeyNotFoundError,
  Pkcs11TokenNotFoundError,
  loadModule,
  type TokenDescription,
  type TokenP256Signer,
  type TokenSession
} from '../pkcs11/index.js'

/** What finding or making the actor's key needs. */
export interface ActorTokenInit {
  /** The module's path (absolute), allowed only in `modulePatterns`, as an owner's module is. */
  module: string
  modulePatterns: readonly string[]
  /** The actor's token's label. */
  token: string
  /** The key's label on the token. */
  keyLabel: string
  /** The actor's PIN, asked for once their token is found (never from a command-line flag). */
  pin: (token: TokenDescription) => Promise<string>
}

/** The actor's key as the owner records it. */
export interface ActorTokenKey {
  /** SEC1 uncompressed P-256 point. */
  readonly publicKey: Uint8Array
  readonly token: TokenDescription
  readonly keyLabel: string
  /** True when the key was generated now; false when it was on the token already. */
  readonly made: boolean
  /** The token and key in words, for actor.enrol's `hardware` (at most 256 characters). */
  readonly hardware: string
}

const HARDWARE_MAX = 256

/**
 * The actor's key: found under `keyLabel` on the token, or generated there when no key has the
 * label. Refused, each with its pkcs11 error: a module outside the allowed locations, no such
 * token, a wrong or locked PIN, a key under the label that is not hardware-bound or not usable.
 */
export async function actorTokenKey(
  init: ActorTokenInit,
  options: { signal?: AbortSignal } = {}
): Promise<ActorTokenKey> {
  const session = await openActorToken(init, options)
  try {
    let signer: TokenP256Signer
    let made = false
    try {
      signer = await session.findP256(init.keyLabel, options)
    } catch (err) {
      if (!(err instanceof Pkcs11KeyNotFoundError)) throw err
      signer = await session.generateP256(init.keyLabel, options)
      made = true
    }
    const token = session.token
    return {
      publicKey: signer.publicKey,
      token,
      keyLabel: init.keyLabel,
      made,
      hardware: tokenHardware(token, init.keyLabel)
    }
  } finally {
    await session.close()
  }
}

/** The token and key in words: who made the token, which model, its serial and label, the key's label. */
export function tokenHardware(token: TokenDescription, keyLabel: string): string {
  const words =
    `PKCS#11 token "${token.label}" (${token.manufacturer} ${token.model}, serial ${token.serial}), ` +
    `P-256 key "${keyLabel}" made on the token, never extractable`
  return words.slice(0, HARDWARE_MAX)
}

async function openActorToken(init: ActorTokenInit, options: { signal?: AbortSignal }): Promise<TokenSession> {
  options.signal?.throwIfAborted()
  const module = loadModule(allowedModulePath(init.module, init.modulePatterns))
  try {
    const present = module.tokens()
    const labelled = present.find((description) => description.label === init.token)
    if (labelled === undefined) {
      throw new Pkcs11TokenNotFoundError(
        init.token,
        present.map((description) => description.label)
      )
    }
    const pin = await init.pin(labelled)
    return await module.openToken({ token: init.token, pin }, { signal: options.signal, closeModule: true })
  } catch (err) {
    await module.close()
    throw err
  }
}
