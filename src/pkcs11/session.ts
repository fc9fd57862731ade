/**
 * A logged-in session on one token: where every operation on it runs, one at a time, and where a
 * failed call is named (PIN refused, token gone, or the call and its CKR).
 */
import type { Random } from '../common/index.js'
import type { Handle, Pkcs11Api } from './binding.js'
import { CKF } from './constants.js'
import {
  Pkcs11OperationError,
  Pkcs11PinIncorrectError,
  Pkcs11PinLockedError,
  Pkcs11SessionClosedError,
  Pkcs11TokenAbsentError
} from './errors.js'
import { readCertificates, type TokenCertificate } from './certificates.js'
import { checkKeyPair, findP256Key, generateP256Key, type TokenP256Signer } from './p256.js'
import { checkPin } from './pin.js'
import { OperationQueue } from './queue.js'
import { CKR, PRESENCE_IN_DOUBT, TOKEN_GONE } from './return-codes.js'
import { sameToken, type TokenDescription } from './token-info.js'
import { findWrapKey, generateWrapKey, type TokenWrapKey } from './wrap-key.js'

/** A PIN as text (PKCS#11 PINs are UTF-8); get it with readPin, never from a command-line flag. */
export type PinText = string

/** Names a failure more precisely than the default (for example, a refused GCM tag). */
export type Refine = (failure: Pkcs11OperationError) => Error | undefined

export interface TokenSessionInit {
  api: Pkcs11Api
  slot: Handle
  handle: Handle
  token: TokenDescription
  random: Random
  onClose: () => Promise<void> | void
}

/**
 * Opens a session on the token in `slot` and logs in as its user. A PIN the token flags as locked
 * is refused before it is tried; a refused PIN reports the token's retry flags.
 */
export function loginSession(api: Pkcs11Api, slot: Handle, token: string, pin: PinText): Handle {
  checkPin(pin, 'the caller')
  const gone = (err: unknown, operation: string): unknown => {
    if (!(err instanceof Pkcs11OperationError)) return err
    const what = `${operation} (${err.operation})`
    return TOKEN_GONE.has(err.ckr)
      ? new Pkcs11TokenAbsentError(token, what, err.ckr)
      : new Pkcs11OperationError(what, err.ckr)
  }
  let flags: number
  try {
    flags = api.tokenInfo(slot).flags
  } catch (err) {
    throw gone(err, 'read token info')
  }
  if ((flags & CKF.USER_PIN_LOCKED) !== 0) throw new Pkcs11PinLockedError(token)
  let handle: Handle
  try {
    handle = api.openSession(slot)
  } catch (err) {
    throw gone(err, 'open session')
  }
  try {
    api.loginUser(handle, pin)
    return handle
  } catch (err) {
    try {
      api.closeSession(handle)
    } catch {}
    if (!(err instanceof Pkcs11OperationError)) throw err
    if (err.ckr === CKR.PIN_LOCKED) throw new Pkcs11PinLockedError(token)
    if (err.ckr === CKR.PIN_INCORRECT) throw new Pkcs11PinIncorrectError(token, retryFlags(api, slot))
    throw gone(err, 'log in')
  }
}

function retryFlags(api: Pkcs11Api, slot: Handle): { countLow: boolean; finalTry: boolean } {
  try {
    const flags = api.tokenInfo(slot).flags
    return { countLow: (flags & CKF.USER_PIN_COUNT_LOW) !== 0, finalTry: (flags & CKF.USER_PIN_FINAL_TRY) !== 0 }
  } catch {
    return { countLow: false, finalTry: false }
  }
}

/**
 * A session on one token, logged in as its user; made by Pkcs11Module.openToken or openToken.
 * Operations run one at a time.
 */
export class TokenSession {
  readonly token: TokenDescription
  /** Randomness for IVs, key IDs and seeds. */
  readonly random: Random
  private readonly api: Pkcs11Api
  private readonly slot: Handle
  private readonly handle: Handle
  private readonly queue = new OperationQueue()
  private readonly onClose: () => Promise<void> | void
  private closed = false

  constructor(init: TokenSessionInit) {
    this.api = init.api
    this.slot = init.slot
    this.handle = init.handle
    this.token = init.token
    this.random = init.random
    this.onClose = init.onClose
  }

  /**
   * Generates a P-256 key pair on the token (CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE true,
   * CKA_EXTRACTABLE false, CKA_SIGN true) under a label no key on the token has yet.
   */
  async generateP256(label: string, options: { signal?: AbortSignal } = {}): Promise<TokenP256Signer> {
    return await generateP256Key(this, label, options)
  }

  /** The P-256 key with this label, checked to be hardware-bound and to sign for its public key. */
  async findP256(label: string, options: { signal?: AbortSignal } = {}): Promise<TokenP256Signer> {
    return await findP256Key(this, label, options)
  }

  /**
   * Signs a random challenge with `signer` and verifies it under its public point: the token holds
   * that key pair (findP256 does this itself; a generated key's public point is the token's word).
   */
  async checkP256(signer: TokenP256Signer, options: { signal?: AbortSignal } = {}): Promise<void> {
    await checkKeyPair(this, signer, options)
  }

  /** The token's X.509 certificate objects, bounded in number and size; nothing about them trusted yet. */
  async certificates(options: { signal?: AbortSignal } = {}): Promise<TokenCertificate[]> {
    return await readCertificates(this, options)
  }

  /** Generates a non-extractable, sensitive AES-256 key on the token for sealing seeds. */
  async generateWrapKey(label: string, options: { signal?: AbortSignal } = {}): Promise<TokenWrapKey> {
    return await generateWrapKey(this, label, options)
  }

  /** The AES-256 wrap key with this label, checked to be hardware-bound. */
  async findWrapKey(label: string, options: { signal?: AbortSignal } = {}): Promise<TokenWrapKey> {
    return await findWrapKey(this, label, options)
  }

  /**
   * Runs `task` on this session after every operation queued before it. A failure comes back
   * named: Pkcs11TokenAbsentError when the token or session is gone, what `refine` makes of it,
   * else Pkcs11OperationError naming `operation` and the C call.
   */
  async run<T>(
    operation: string,
    task: (api: Pkcs11Api, session: Handle) => Promise<T> | T,
    options: { signal?: AbortSignal; refine?: Refine } = {}
  ): Promise<T> {
    if (this.closed) throw new Pkcs11SessionClosedError(this.token.label)
    return await this.queue.run(async () => {
      if (this.closed) throw new Pkcs11SessionClosedError(this.token.label)
      try {
        return await task(this.api, this.handle)
      } catch (err) {
        throw this.named(operation, err, options.refine)
      }
    }, options.signal)
  }

  /**
   * Runs `task` now, on this thread, in a session of its own (the login holds for every session
   * of the application), so that it never interleaves with a queued operation.
   */
  runNow<T>(operation: string, task: (api: Pkcs11Api, session: Handle) => T, options: { refine?: Refine } = {}): T {
    if (this.closed) throw new Pkcs11SessionClosedError(this.token.label)
    let own: Handle | undefined
    try {
      own = this.api.openSession(this.slot)
      return task(this.api, own)
    } catch (err) {
      throw this.named(operation, err, options.refine)
    } finally {
      if (own !== undefined)
        try {
          this.api.closeSession(own)
        } catch {}
    }
  }

  /** Resolves when every operation queued so far has finished. */
  async idle(): Promise<void> {
    await this.queue.idle()
  }

  /**
   * Refuses operations still waiting (Pkcs11SessionClosedError), waits for the one running on the
   * token, closes the session (which logs out). Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.queue.idle()
    try {
      this.api.closeSession(this.handle)
    } catch {
      // Already closed under us (token removed, module finalised): nothing to release.
    }
    await this.onClose()
  }

  private named(operation: string, err: unknown, refine: Refine | undefined): unknown {
    if (!(err instanceof Pkcs11OperationError)) return err
    const what = `${operation} (${err.operation})`
    if (TOKEN_GONE.has(err.ckr)) return new Pkcs11TokenAbsentError(this.token.label, what, err.ckr)
    if (PRESENCE_IN_DOUBT.has(err.ckr) && !this.present()) {
      return new Pkcs11TokenAbsentError(this.token.label, what, err.ckr)
    }
    return refine?.(err) ?? new Pkcs11OperationError(what, err.ckr)
  }

  /** The same token (label and serial) is in the slot and our session on it still exists. */
  private present(): boolean {
    try {
      const info = this.api.tokenInfo(this.slot)
      this.api.sessionState(this.handle)
      return sameToken(info, this.token)
    } catch {
      return false
    }
  }
}
