/**
 * An actor's key on their own PKCS#11 token (HSM, smartcard, PIV): the P-256 key made on the
 * token and never out of it (the pkcs11 module checks it is hardware-bound before it is used). It
 * signs action statements as an actor proof of kind `pkcs11`: CKM_ECDSA over SHA-256 of the
 * statement, r‖s.
 */
import { encodeActorProof } from '../../ledger/index.js'
import {
  Pkcs11TokenNotFoundError,
  loadModule,
  type LoadModuleOptions,
  type TokenDescription
} from '../../pkcs11/index.js'

/** The key labels when none is given: this prefix and the actor's id (fleet actor enrol makes it so). */
export const DEFAULT_ACTOR_KEY_LABEL = 'fleet-actor/'

/** An actor's token key label when none is given. */
export function defaultActorKeyLabel(actorId: string): string {
  return `${DEFAULT_ACTOR_KEY_LABEL}${actorId}`
}

export interface ActorTokenAccess {
  /** Absolute path of the PKCS#11 module. */
  module: string
  /** The token's label. */
  token: string
  /** The label of the actor's P-256 key on it. */
  keyLabel: string
  /** The token's PIN, asked for once the token is found (never from a command-line flag). */
  pin: (token: TokenDescription) => Promise<string>
  /** Opens the library: pkcs11js by default; tests wrap it. */
  load?: LoadModuleOptions['load']
}

/** An actor's token key, open: close() when done (it logs out and unloads the module). */
export interface ActorTokenKey {
  /** The SEC1 point of the key, as the owner's actor.enrol names it. */
  readonly publicKey: Uint8Array
  /** The encoded actor proof of `statement`, signed on the token, for the time `at` the statement names. */
  prove(statement: Uint8Array, at: number, options?: { signal?: AbortSignal }): Promise<Uint8Array>
  close(): Promise<void>
}

/**
 * Loads the module, finds the token by label, asks for its PIN, logs in and finds the key.
 * Refused with the pkcs11 module's errors: no such token (with the labels seen), a wrong or
 * locked PIN, no such key, a key that is not hardware-bound.
 */
export async function openActorTokenKey(
  access: ActorTokenAccess,
  options: { signal?: AbortSignal } = {}
): Promise<ActorTokenKey> {
  options.signal?.throwIfAborted()
  const module = loadModule(access.module, { load: access.load })
  try {
    const present = module.tokens()
    const token = present.find((description) => description.label === access.token)
    if (token === undefined) {
      throw new Pkcs11TokenNotFoundError(
        access.token,
        present.map((description) => description.label)
      )
    }
    const pin = await access.pin(token)
    const session = await module.openToken({ token: access.token, pin }, { signal: options.signal, closeModule: true })
    try {
      const key = await session.findP256(access.keyLabel, options)
      return {
        publicKey: key.publicKey,
        prove: async (statement, at, proveOptions = {}) =>
          encodeActorProof({ kind: 'pkcs11', at, sig: await key.sign(statement, proveOptions) }),
        close: async () => await session.close()
      }
    } catch (err) {
      await session.close()
      throw err
    }
  } catch (err) {
    await module.close()
    throw err
  }
}
