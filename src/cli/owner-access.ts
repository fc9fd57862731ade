/**
 * How owner commands reach the owner's keys: owner.json, the TPM of this machine (it holds a
 * TPM-held owner's keys, and for every owner the clock and rollback counter of the owner's feed),
 * and for a token-held owner the token's PIN from --pin-fd, --pin-credential or the terminal.
 * No option carries the PIN itself: it would show in `ps` and in shell history.
 */
import type { Command } from 'commander'
import type { EsysTpm } from '../attest/index.js'
import {
  DEFAULT_MODULE_PATTERNS,
  ownerKeyHolder,
  readOwnerState,
  unlockOwner,
  type OwnerState
} from '../agent/index.js'
import type { HybridSigner } from '../identity/index.js'
import { PinUnavailableError, readPin, type PinSource, type TokenDescription } from '../pkcs11/index.js'
import { UsageError } from '../common/index.js'
import { openTpm } from './tpm-session.js'

export interface PinOptions {
  pinFd?: string
  pinCredential?: string
}

/** The environment variable that replaces the allowed locations of an owner's PKCS#11 module. */
export const PROVIDERS_VARIABLE = 'FLEET_PKCS11_PROVIDERS'

/** Adds --pin-fd and --pin-credential. */
export function pinOptions(command: Command): Command {
  return command
    .option('--pin-fd <n>', "token-held owner: read the token's PIN from this file descriptor (e.g. --pin-fd 3 3<file)")
    .option('--pin-credential <name>', "token-held owner: read the token's PIN from this systemd credential")
}

/** Whether a PIN option was given. */
export function pinGiven(options: PinOptions): boolean {
  return options.pinFd !== undefined || options.pinCredential !== undefined
}

/** The options a PIN source is given with: the owner's, or another key holder's (e.g. an actor's). */
export interface PinFlags {
  fd: string
  credential: string
}

const OWNER_PIN_FLAGS: PinFlags = { fd: '--pin-fd', credential: '--pin-credential' }

/**
 * Reads the PIN from the source the options name, else asks on the terminal. A source that gives
 * no PIN (no terminal, no such credential, an unreadable fd) is a usage error: exit 2. `flags`
 * names the options in messages (default the owner's, --pin-fd and --pin-credential).
 */
export function pinReader(
  options: PinOptions,
  prompt: (token: TokenDescription) => string,
  flags: PinFlags = OWNER_PIN_FLAGS
) {
  if (options.pinFd !== undefined && options.pinCredential !== undefined)
    throw new UsageError(`give ${flags.fd} or ${flags.credential}, not both`)
  if (options.pinFd !== undefined && !/^\d{1,5}$/.test(options.pinFd))
    throw new UsageError(`${flags.fd} must be a file descriptor number`)
  return async (token: TokenDescription): Promise<string> => {
    const source: PinSource =
      options.pinFd !== undefined
        ? { fd: Number(options.pinFd) }
        : options.pinCredential !== undefined
          ? { credential: options.pinCredential }
          : { prompt: prompt(token) }
    try {
      return await readPin(source)
    } catch (err) {
      if (!(err instanceof PinUnavailableError)) throw err
      const hint = 'prompt' in source ? `: give ${flags.fd} N or ${flags.credential} NAME, or run it on a terminal` : ''
      throw new UsageError(`${err.message}${hint}`)
    }
  }
}

/** Where an owner's PKCS#11 module may be: $FLEET_PKCS11_PROVIDERS (comma-separated patterns) or the default. */
export function modulePatterns(env: Record<string, string | undefined> = process.env): readonly string[] {
  const text = env[PROVIDERS_VARIABLE]
  if (text === undefined || text === '') return DEFAULT_MODULE_PATTERNS
  const patterns = text.split(',')
  if (patterns.some((pattern) => !pattern.startsWith('/')))
    throw new UsageError(`${PROVIDERS_VARIABLE} must be a comma-separated list of absolute path patterns`)
  return patterns
}

export interface OpenedOwner {
  state: OwnerState
  fleetId: Uint8Array
  /** The TPM of this machine: the owner's feed's clock and rollback counter. */
  tpm: EsysTpm
  signer: HybridSigner
  /** Closes the token session (if any), then the TPM. */
  close(): Promise<void>
}

/**
 * Reads owner.json, opens this machine's TPM (--tcti, else the one recorded) and unlocks the
 * owner's signer. PIN options are refused for a TPM-held owner. close() the result.
 */
export async function openOwner(options: { state: string; tcti?: string } & PinOptions): Promise<OpenedOwner> {
  const state = await readOwnerState(options.state)
  const holder = ownerKeyHolder(state)
  if (holder === 'tpm' && pinGiven(options))
    throw new UsageError(
      `the owner in ${options.state} holds its keys in a TPM: --pin-fd and --pin-credential are for tokens`
    )
  const pin = pinReader(
    options,
    (token) => `PIN of token "${token.label}" (serial ${token.serial}) for the owner of fleet "${state.name}": `
  )
  const patterns = holder === 'pkcs11' ? modulePatterns() : DEFAULT_MODULE_PATTERNS
  const tpm = await openTpm(options.tcti ?? state.tcti)
  try {
    const owner = await unlockOwner(state, { tpm, pin, modulePatterns: patterns })
    return {
      state,
      fleetId: new Uint8Array(Buffer.from(state.fleetId, 'hex')),
      tpm,
      signer: owner.signer,
      close: async () => {
        try {
          await owner.close()
        } finally {
          await tpm.close()
        }
      }
    }
  } catch (err) {
    await tpm.close()
    throw err
  }
}
