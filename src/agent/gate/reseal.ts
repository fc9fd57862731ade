/**
 * The workload secrets follow the device's keys to a new policy (the owner's first release
 * approval moves them from PCR values to the owner) without a moment at which a crash, a SIGKILL
 * or a power cut leaves secrets that open under neither policy:
 *   1. stage: every secret is opened under the old state and sealed under the new one into a
 *      folder of its own, renamed to DIR/secrets.next once whole and synced. DIR/secrets is not
 *      touched; a secret that does not open or seal aborts it all and nothing staged is left.
 *   2. commit: the caller writes the new device state durably. This is the instant the new
 *      policy holds: before it the files in DIR/secrets match the state on disk, after it those
 *      in DIR/secrets.next do.
 *   3. swap: secrets → secrets.old, secrets.next → secrets, secrets.old removed, the state
 *      directory synced after each rename.
 * settleSecretReseal finishes what an interruption left, deciding by the policy the staged files
 * name (every secret file records it) against the device state on disk: matching, it rolls the
 * swap forward; not matching (the state was never committed), it rolls back to the old folder.
 * It runs wherever the secrets are read or written (the agent's start, `fleet secret`, `fleet
 * release install`), is idempotent, and never removes a folder holding a secret sealed alike with
 * the keys of the state on disk unless the folder kept holds it too.
 *
 * Every function here is called holding the secrets' lock (lock.ts): a re-seal exclusive, a
 * settle at least shared, so that no other process settles, seals or removes meanwhile.
 */
import { randomBytes } from 'node:crypto'
import { lstat, mkdir, readdir, rename, rm } from 'node:fs/promises'
import path from 'node:path'
import type { TpmCallOptions } from '../../attest/index.js'
import { syncFolder } from '../../common/index.js'
import type { DeviceState } from '../device/index.js'
import type { Tpm } from '../../attest/index.js'
import { SecretFileError, SecretResealError, SecretResealStuckError, SecretUnknownError } from './errors.js'
import { GATE_LIMITS } from './limits.js'
import {
  SECRETS_DIR,
  openSecret,
  readSecretFileIn,
  sealedAlikeWith,
  secretNamesIn,
  writeSealedSecret,
  type OwnerRelease
} from './secrets.js'

/** The secrets sealed under the new state, whole, waiting for the state to be committed and swapped in. */
export const STAGED_SECRETS_DIR = 'secrets.next'
/** The secrets under the old state, set aside while the staged ones are swapped in. */
export const REPLACED_SECRETS_DIR = 'secrets.old'
/** A staging folder being filled: never read, removed by the next re-seal. */
const BUILDING_PREFIX = 'secrets.next.tmp-'
/**
 * The points between steps at which a re-seal can be interrupted, in order: staged (before the
 * state is written), committed (state written, nothing swapped), set-aside (secrets renamed to
 * secrets.old, secrets.next not yet renamed), swapped (secrets.next renamed, secrets.old not yet
 * removed).
 */
export type ResealStep = 'staged' | 'committed' | 'set-aside' | 'swapped'

/** What settleSecretReseal found and did. */
export type SettleOutcome = 'clean' | 'rolled-forward' | 'rolled-back'

export interface SettleOptions {
  /** Told of each step of the swap as it is done; what it throws stops the swap right there, as a crash would. */
  onStep?: (step: ResealStep) => void | Promise<void>
}

export interface ResealOptions extends TpmCallOptions, SettleOptions {
  now: Date
  /** Writes the new device state durably: the commit point. MUST resolve only once it survives a power cut. */
  commit: () => Promise<void>
  /** The keys moved from their owner copy: each secret is opened from its own, under this approval. */
  ownerRelease?: OwnerRelease
}

/**
 * Seals every secret again under the policy of `to`, after the device's keys moved there: each is
 * opened under `from` (the state on disk, whose policy it is sealed to) in the boot state that
 * holds now and staged; then `commit` writes `to`, and the staged secrets are swapped in. Returns
 * the names re-sealed. Throws SecretResealError, before `commit` is called and with nothing
 * changed, when a secret does not open or seal.
 */
export async function resealSecrets(
  tpm: Tpm,
  from: DeviceState,
  to: DeviceState,
  dir: string,
  options: ResealOptions
): Promise<string[]> {
  const names = await stageResealedSecrets(tpm, from, to, dir, options)
  await options.onStep?.('staged')
  await options.commit()
  await options.onStep?.('committed')
  await settleSecretReseal(dir, to, options)
  return names
}

/**
 * Phase 1: the secrets of `dir`, sealed under `to`, staged whole in DIR/secrets.next; DIR/secrets
 * unchanged. An interrupted re-seal is settled first under `from`, the state on disk. Returns the
 * names staged (none staged, and no folder, when there are no secrets).
 */
export async function stageResealedSecrets(
  tpm: Tpm,
  from: DeviceState,
  to: DeviceState,
  dir: string,
  options: TpmCallOptions & { now: Date; ownerRelease?: OwnerRelease }
): Promise<string[]> {
  const { ownerRelease, ...sealOptions } = options
  await settleSecretReseal(dir, from)
  // Folders of stagings that never finished (only this function fills them).
  for (const entry of await readdir(dir))
    if (entry.startsWith(BUILDING_PREFIX)) await rm(path.join(dir, entry), { recursive: true, force: true })
  const names = await secretNamesIn(path.join(dir, SECRETS_DIR))
  if (names.length === 0) return []
  // The swap replaces the whole folder: a secret file beyond the cap would not be staged, and go.
  const files = (await readdir(path.join(dir, SECRETS_DIR))).filter((file) => file.endsWith('.json'))
  if (files.length > names.length)
    throw new SecretResealError(
      files.find((file) => !names.includes(file.slice(0, -5)))!.slice(0, 80),
      new Error(
        `DIR/secrets holds ${files.length} files, more than the ${GATE_LIMITS.maxSecrets} secrets kept or with names no secret has: remove them first`
      )
    )
  // Filled under a name of its own and renamed when whole: secrets.next is never half a set.
  const building = path.join(dir, `${BUILDING_PREFIX}${randomBytes(8).toString('hex')}`)
  await mkdir(building, { mode: 0o700 })
  try {
    for (const name of names) {
      let value: Uint8Array
      try {
        value = await openSecret(tpm, from, dir, name, { ...sealOptions, ownerRelease })
      } catch (err) {
        throw new SecretResealError(name, err)
      }
      try {
        await writeSealedSecret(tpm, to, building, name, value, sealOptions)
      } catch (err) {
        throw new SecretResealError(name, err)
      } finally {
        value.fill(0)
      }
    }
    await rename(building, path.join(dir, STAGED_SECRETS_DIR))
    await syncFolder(dir)
  } catch (err) {
    await rm(building, { recursive: true, force: true })
    throw err
  }
  return names
}

/**
 * Finishes a re-seal that was interrupted, under `state`, the device state on disk (see the
 * module's comment); 'clean' when none was. Throws SecretResealStuckError, touching nothing, when
 * the folders are in a state no interruption leaves.
 */
export async function settleSecretReseal(
  dir: string,
  state: DeviceState,
  options: SettleOptions = {}
): Promise<SettleOutcome> {
  for (let round = 0; round < GATE_LIMITS.maxSettleRounds; round++) {
    try {
      return await settleOnce(dir, state, options)
    } catch (err) {
      // Another process settling at the same time moved a folder first: look again.
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'ENOENT' && code !== 'EEXIST' && code !== 'ENOTEMPTY') throw err
    }
  }
  throw new SecretResealStuckError(dir, 'the folders kept changing while they were settled')
}

async function settleOnce(dir: string, state: DeviceState, options: SettleOptions): Promise<SettleOutcome> {
  const current = path.join(dir, SECRETS_DIR)
  const staged = path.join(dir, STAGED_SECRETS_DIR)
  const replaced = path.join(dir, REPLACED_SECRETS_DIR)
  const [hasCurrent, hasStaged, hasReplaced] = await Promise.all([
    isFolder(current),
    isFolder(staged),
    isFolder(replaced)
  ])
  if (!hasStaged && !hasReplaced) return 'clean'
  const moved = async (from: string, to: string): Promise<void> => {
    await rename(from, to)
    await syncFolder(dir)
  }
  const removed = async (folder: string): Promise<void> => {
    await rm(folder, { recursive: true, force: true })
    await syncFolder(dir)
  }
  if (hasStaged) {
    if (hasCurrent && hasReplaced)
      throw new SecretResealStuckError(
        dir,
        `${SECRETS_DIR}, ${STAGED_SECRETS_DIR} and ${REPLACED_SECRETS_DIR} are all present (no interrupted re-seal leaves that)`
      )
    if (await holdsSecretSealedAlike(staged, state)) {
      // Committed: the staged secrets are the ones the state on disk opens.
      if (hasCurrent) {
        await moved(current, replaced)
        await options.onStep?.('set-aside')
      }
      await moved(staged, current)
      await options.onStep?.('swapped')
      await removed(replaced)
      return 'rolled-forward'
    }
    // Never committed (or staged for another state): the old secrets stay.
    if (hasReplaced) await moved(replaced, current)
    await removed(staged)
    return 'rolled-back'
  }
  // secrets.old alone: set aside with the staged secrets not yet moved in, or moved in and the old not yet removed.
  if (!hasCurrent) {
    await moved(replaced, current)
    return 'rolled-back'
  }
  if (!(await holdsSecretSealedAlike(current, state)) && (await holdsSecretSealedAlike(replaced, state))) {
    await removed(current)
    await moved(replaced, current)
    return 'rolled-back'
  }
  await removed(replaced)
  return 'rolled-forward'
}

/** Whether `folder` holds a secret file of this device sealed alike with the keys of `state` (opens under it). */
async function holdsSecretSealedAlike(folder: string, state: DeviceState): Promise<boolean> {
  for (const name of await secretNamesIn(folder)) {
    try {
      if (sealedAlikeWith(await readSecretFileIn(folder, name, state.deviceId), state)) return true
    } catch (err) {
      // An unreadable file decides nothing: it opens under no state.
      if (!(err instanceof SecretFileError) && !(err instanceof SecretUnknownError)) throw err
    }
  }
  return false
}

async function isFolder(folder: string): Promise<boolean> {
  try {
    return (await lstat(folder)).isDirectory()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
}
