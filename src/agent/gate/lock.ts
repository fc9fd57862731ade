/**
 * Who may touch the workload secrets at once, by an advisory lock (flock) on DIR/workload-secrets.lock:
 * the re-seal of `fleet release install` holds it exclusive, from before it stages the secrets
 * to the end of the swap; everyone else who reads or writes them holds it shared (the running
 * agent for its whole life, `fleet secret` offline for its command). So a re-seal never runs
 * beside a seal, a removal or an agent, whose files it would judge by a state not yet committed
 * (or drop with the old folder), and none of them starts while it runs. The kernel drops a lock
 * with its holder's last descriptor, also when the process dies: no stale lock, no pid to trust.
 * Never waits: a lock held against the asker is a typed refusal.
 */
import { constants } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import path from 'node:path'
import { flockNonBlocking } from '../../attest/index.js'
import { SecretResealBusyError, SecretsInUseError } from './errors.js'

export const SECRETS_LOCK = 'workload-secrets.lock'

/** A lock held: released by release() (or by the process's end). */
export interface HeldLock {
  release(): Promise<void>
}

/** Opens `file` (made 0600 if missing, never through a link) and locks it without waiting; undefined when it is held against us. */
export async function tryLockFile(file: string, exclusive: boolean): Promise<HeldLock | undefined> {
  const handle: FileHandle = await open(file, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600)
  let taken = false
  try {
    taken = flockNonBlocking(handle.fd, exclusive)
  } finally {
    if (!taken) await handle.close()
  }
  if (!taken) return undefined
  let released = false
  return {
    release: async () => {
      if (released) return
      released = true
      await handle.close()
    }
  }
}

/**
 * Locks the secrets of state directory `dir`: 'exclusive' for a re-seal (SecretsInUseError while
 * anyone holds it), 'shared' for everyone else (SecretResealBusyError while a re-seal runs).
 */
export async function lockSecrets(dir: string, mode: 'shared' | 'exclusive'): Promise<HeldLock> {
  const held = await tryLockFile(path.join(dir, SECRETS_LOCK), mode === 'exclusive')
  if (held !== undefined) return held
  throw mode === 'exclusive' ? new SecretsInUseError(dir) : new SecretResealBusyError(dir)
}
