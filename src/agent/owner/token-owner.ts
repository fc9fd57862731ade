/**
 * A token-held owner: the P-256 key made on a PKCS#11 token (HSM, smartcard) and never out of it,
 * and the ML-DSA-65 seed made here and kept only sealed by an AES key on the same token. Every
 * use finds the token by label and by the serial recorded at init before the PIN is asked for,
 * then checks each key as the pkcs11 module does (made on the token, never extractable) and
 * checks that the P-256 key is the owner's key named in the genesis statement.
 */
import { bytesEqual, fromBase64, toBase64, toHex } from '../../common/index.js'
import type { HybridSigner, MlDsa65 } from '../../identity/index.js'
import {
  Pkcs11TokenNotFoundError,
  createSealedMlDsaSeed,
  loadModule,
  tokenHybridSigner,
  type LoadModuleOptions,
  type TokenDescription,
  type TokenSession
} from '../../pkcs11/index.js'
import { OwnerKeyMismatchError, OwnerTokenMismatchError } from './errors.js'
import { signGenesis } from './genesis.js'
import { KEY_LABEL_MAX_BYTES } from './limits.js'
import { DEFAULT_MODULE_PATTERNS, allowedModulePath } from './module-location.js'
import { isPlainText, type TokenOwnerState } from './state.js'

/** The P-256 key's label when none is given; the wrap key's is this and WRAP_KEY_LABEL_SUFFIX. */
export const DEFAULT_OWNER_KEY_LABEL = 'fleet-owner'
export const WRAP_KEY_LABEL_SUFFIX = '-seal'

/** Longest P-256 key label, so that the wrap key's label stays within the token's bound. */
export const OWNER_KEY_LABEL_MAX_BYTES = KEY_LABEL_MAX_BYTES - WRAP_KEY_LABEL_SUFFIX.length

/** Whether `label` may name the owner's P-256 key (its wrap key's label adds WRAP_KEY_LABEL_SUFFIX). */
export function isOwnerKeyLabel(label: string): boolean {
  return isPlainText(label, 1, OWNER_KEY_LABEL_MAX_BYTES)
}

/** What opening the owner's token needs. */
export interface TokenAccess {
  /** The token's PIN, asked for only once the owner's token is found (never from a command-line flag). */
  pin: (token: TokenDescription) => Promise<string>
  /** Where the module may be loaded from (`*` and `?` wildcards); DEFAULT_MODULE_PATTERNS by default. */
  modulePatterns?: readonly string[]
  /** Opens the library: pkcs11js by default; tests wrap it. */
  load?: LoadModuleOptions['load']
  /** The ML-DSA-65 implementation: node:crypto where this Node has it. */
  mldsa?: MlDsa65
}

export interface TokenOwnerInit {
  /** Absolute path of the PKCS#11 module; recorded as given, checked again on every use. */
  module: string
  /** The token's label. */
  token: string
  /** The P-256 key's label; the wrap key's adds WRAP_KEY_LABEL_SUFFIX. Neither may exist yet. */
  keyLabel: string
  name: string
  /** The TPM of this machine, recorded for the owner's feed. */
  tcti: string
  now: () => Date
}

/** An owner whose signer is open: close() when done (for a token, it logs out and unloads the module). */
export interface UnlockedOwner {
  readonly signer: HybridSigner
  close(): Promise<void>
}

/**
 * Makes the owner's keys on the token and signs the genesis statement. The keys are then found
 * again and checked exactly as every later command finds them, and the genesis is signed with
 * what was found. A failure after the keys were made leaves them on the token under their labels.
 */
export async function initTokenOwner(
  init: TokenOwnerInit,
  access: TokenAccess,
  options: { signal?: AbortSignal } = {}
): Promise<TokenOwnerState> {
  const p256Label = init.keyLabel
  const wrapKeyLabel = `${init.keyLabel}${WRAP_KEY_LABEL_SUFFIX}`
  const session = await openOwnerToken(init.module, { label: init.token }, access, options)
  try {
    await session.generateP256(p256Label, options)
    const wrapKey = await session.generateWrapKey(wrapKeyLabel, options)
    const { sealed, publicKey } = await createSealedMlDsaSeed(wrapKey, { mldsa: access.mldsa, signal: options.signal })
    const signer = await tokenHybridSigner(
      session,
      { p256Label, wrapKeyLabel, sealedSeed: sealed, mldsaPublicKey: publicKey },
      { mldsa: access.mldsa, signal: options.signal }
    )
    const { fleetId, genesis } = await signGenesis(signer, init)
    return {
      version: 2,
      kind: 'pkcs11',
      fleetId,
      name: init.name,
      tcti: init.tcti,
      genesis,
      pkcs11: {
        module: init.module,
        token: { label: session.token.label, serial: session.token.serial },
        p256: { label: p256Label, publicKey: toBase64(signer.publicKey.p256) },
        wrapKey: { label: wrapKeyLabel },
        mldsa: { publicKey: toBase64(publicKey), sealed: toBase64(sealed) }
      }
    }
  } finally {
    await session.close()
  }
}

/**
 * The owner's signer through its token. Refused, each with its own error: a module outside the
 * allowed locations, no token with the label, a token of another serial (both before the PIN is
 * asked for), a wrong or locked PIN, a key that is missing or not hardware-bound, a sealed seed
 * the token will not unseal or that derives another key, and a P-256 key that is not the owner's.
 */
export async function unlockTokenOwner(
  state: TokenOwnerState,
  access: TokenAccess,
  options: { signal?: AbortSignal } = {}
): Promise<UnlockedOwner> {
  const keys = state.pkcs11
  const session = await openOwnerToken(keys.module, keys.token, access, options)
  try {
    const signer = await tokenHybridSigner(
      session,
      {
        p256Label: keys.p256.label,
        wrapKeyLabel: keys.wrapKey.label,
        sealedSeed: fromBase64(keys.mldsa.sealed),
        mldsaPublicKey: fromBase64(keys.mldsa.publicKey)
      },
      { mldsa: access.mldsa, signal: options.signal }
    )
    const expected = fromBase64(keys.p256.publicKey)
    if (!bytesEqual(signer.publicKey.p256, expected)) {
      const actual = toHex(signer.publicKey.p256)
      throw new OwnerKeyMismatchError(session.token.label, keys.p256.label, toHex(expected), actual)
    }
    return { signer, close: async () => await session.close() }
  } catch (err) {
    await session.close()
    throw err
  }
}

/**
 * Loads the module (from an allowed location), finds the token by label and, when given, serial,
 * then asks for the PIN and logs in. Closing the session unloads the module.
 */
async function openOwnerToken(
  modulePath: string,
  token: { label: string; serial?: string },
  access: TokenAccess,
  options: { signal?: AbortSignal }
): Promise<TokenSession> {
  options.signal?.throwIfAborted()
  const real = allowedModulePath(modulePath, access.modulePatterns ?? DEFAULT_MODULE_PATTERNS)
  const module = loadModule(real, { load: access.load })
  try {
    const present = module.tokens()
    const labelled = present.filter((description) => description.label === token.label)
    if (labelled.length === 0) {
      throw new Pkcs11TokenNotFoundError(
        token.label,
        present.map((description) => description.label)
      )
    }
    if (token.serial !== undefined && !labelled.some((description) => description.serial === token.serial)) {
      throw new OwnerTokenMismatchError(
        token.label,
        token.serial,
        labelled.map((description) => description.serial)
      )
    }
    const pin = await access.pin(labelled[0]!)
    return await module.openToken({ token: token.label, pin }, { signal: options.signal, closeModule: true })
  } catch (err) {
    await module.close()
    throw err
  }
}
