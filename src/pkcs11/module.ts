/**
 * A loaded and initialised PKCS#11 module (a vendor's .so) and the tokens it shows.
 */
import { realpathSync, statSync } from 'node:fs'
import path from 'node:path'
import { cryptoRandom, type Random } from '../common/index.js'
import { loadPkcs11js, type Handle, type Pkcs11Api, type TokenInfo } from './binding.js'
import { CKF } from './constants.js'
import {
  Pkcs11ModuleClosedError,
  Pkcs11ModuleInUseError,
  Pkcs11ModuleNotLoadableError,
  Pkcs11OperationError,
  Pkcs11TokenAmbiguousError,
  Pkcs11TokenInUseError,
  Pkcs11TokenNotFoundError
} from './errors.js'
import { SLOTS_MAX, TOKEN_LABEL_MAX_BYTES } from './limits.js'
import { CKR } from './return-codes.js'
import { loginSession, TokenSession, type PinText } from './session.js'
import { describe, type TokenDescription } from './token-info.js'

export interface LoadModuleOptions {
  /** Opens the library: pkcs11js by default; tests give a fake. */
  load?: (path: string) => Pkcs11Api
}

export interface OpenTokenInit {
  /** The token's label (CK_TOKEN_INFO.label without its padding). */
  token: string
  pin: PinText
  /** Randomness for IVs and seeds; node:crypto by default. */
  random?: Random
}

/**
 * A PKCS#11 module loaded once per process. C_Initialize is process-wide: a second load of the
 * same library in one process is refused (Pkcs11ModuleInUseError), and several tokens of one
 * module are opened through one Pkcs11Module. close() finalises the module, which ends every
 * session on it; it is idempotent.
 */
export class Pkcs11Module {
  readonly path: string
  private readonly api: Pkcs11Api
  private readonly open = new Map<string, TokenSession>()
  private closed = false

  private constructor(modulePath: string, api: Pkcs11Api) {
    this.path = modulePath
    this.api = api
  }

  /**
   * Loads and initialises the module at `modulePath`. The path MUST be absolute and name a
   * regular file owned by root or by this user and writable by no one else: the library runs
   * inside this process with every secret it holds.
   */
  static load(modulePath: string, options: LoadModuleOptions = {}): Pkcs11Module {
    const real = checkedModulePath(modulePath)
    const api = (options.load ?? loadPkcs11js)(real)
    try {
      api.initialize()
    } catch (err) {
      try {
        api.unload()
      } catch {}
      if (err instanceof Pkcs11OperationError && err.ckr === CKR.CRYPTOKI_ALREADY_INITIALIZED) {
        throw new Pkcs11ModuleInUseError(modulePath)
      }
      const reason = err instanceof Pkcs11OperationError ? `C_Initialize answered ${err.ckrName}` : String(err)
      throw new Pkcs11ModuleNotLoadableError(modulePath, reason, err)
    }
    return new Pkcs11Module(modulePath, api)
  }

  /** The initialised tokens present, in slot order. */
  tokens(): TokenDescription[] {
    if (this.closed) throw new Pkcs11ModuleClosedError(this.path)
    return this.presentTokens().map(({ description }) => description)
  }

  /**
   * Finds the token by label and logs in as its user. Refused: no such token (with the labels
   * seen), several, one already open through this module, a wrong or locked PIN.
   * `closeModule`: closing the session also closes this module (what openToken() does).
   */
  async openToken(
    init: OpenTokenInit,
    options: { signal?: AbortSignal; closeModule?: boolean } = {}
  ): Promise<TokenSession> {
    options.signal?.throwIfAborted()
    if (this.closed) throw new Pkcs11ModuleClosedError(this.path)
    const label = init.token
    if (Buffer.byteLength(label) > TOKEN_LABEL_MAX_BYTES) {
      throw new Pkcs11TokenNotFoundError(label, this.labels())
    }
    if (this.open.has(label)) throw new Pkcs11TokenInUseError(label)
    const matches = this.presentTokens().filter(({ description }) => description.label === label)
    if (matches.length === 0) throw new Pkcs11TokenNotFoundError(label, this.labels())
    if (matches.length > 1) {
      throw new Pkcs11TokenAmbiguousError(
        label,
        matches.map(({ description }) => description.serial)
      )
    }
    const { slot, description } = matches[0]!
    const handle = loginSession(this.api, slot, description.label, init.pin)
    const session = new TokenSession({
      api: this.api,
      slot,
      handle,
      token: description,
      random: init.random ?? cryptoRandom,
      onClose: async () => {
        this.open.delete(label)
        if (options.closeModule === true) await this.close()
      }
    })
    this.open.set(label, session)
    return session
  }

  /** Closes every session opened through this module, then finalises and unloads it. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const session of [...this.open.values()]) await session.close()
    try {
      this.api.finalize()
    } catch {
      // Finalised from elsewhere already: there is nothing left to release but the library.
    }
    this.api.unload()
  }

  private labels(): string[] {
    return this.tokens().map((token) => token.label)
  }

  private presentTokens(): Array<{ slot: Handle; description: TokenDescription }> {
    const found: Array<{ slot: Handle; description: TokenDescription }> = []
    for (const slot of this.api.slotList(true).slice(0, SLOTS_MAX)) {
      let info: TokenInfo
      try {
        info = this.api.tokenInfo(slot)
      } catch (err) {
        // A slot whose token went away between the two calls is not a token.
        if (err instanceof Pkcs11OperationError) continue
        throw err
      }
      if ((info.flags & CKF.TOKEN_INITIALIZED) === 0) continue
      found.push({ slot, description: describe(info) })
    }
    return found
  }
}

function checkedModulePath(modulePath: string): string {
  const refuse = (reason: string): never => {
    throw new Pkcs11ModuleNotLoadableError(modulePath, reason)
  }
  if (!path.isAbsolute(modulePath)) refuse('the path must be absolute (a relative one is looked up by the loader)')
  let real = ''
  try {
    real = realpathSync(modulePath)
  } catch (err) {
    refuse(`no such file (${(err as NodeJS.ErrnoException).code ?? String(err)})`)
  }
  const stat = statSync(real)
  if (!stat.isFile()) refuse(`${real} is not a regular file`)
  const uid = process.getuid?.() ?? 0
  if (stat.uid !== 0 && stat.uid !== uid) refuse(`${real} is owned by uid ${stat.uid}, neither root nor this user`)
  const mode = (stat.mode & 0o777).toString(8)
  if ((stat.mode & 0o022) !== 0) refuse(`${real} is writable by group or others (mode ${mode})`)
  return real
}
