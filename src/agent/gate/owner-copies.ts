/**
 * What an enrolled device still sealed to its PCR values at fleet init keeps for the owner's first
 * approval: its keys' owner copy (device/owner-copy.ts) and each workload secret's (secrets.ts).
 */
import type { Tpm, TpmCallOptions } from '../../attest/index.js'
import { keepOwnerCopy, type DeviceState } from '../device/index.js'
import { SecretsInUseError } from './errors.js'
import { lockSecrets } from './lock.js'
import { settleSecretReseal } from './reseal.js'
import { keepSecretOwnerKeys } from './secrets.js'

export interface OwnerCopies {
  /** Whether the keys' owner copy was written now (false: there was one, or none is needed). */
  keys: boolean
  /** The secrets given an owner copy now; undefined when their lock was held by another process. */
  secrets?: string[]
}

/**
 * Makes the owner copies of a device of state version 1 in a boot state its keys are released in
 * now (the agent measured this boot). The secrets are done under their lock held exclusive; when
 * another process holds it they are left, and later seals get their copy as they are written.
 */
export async function keepOwnerCopies(
  tpm: Tpm,
  state: DeviceState,
  dir: string,
  owner: Uint8Array,
  options: TpmCallOptions & { renew?: boolean } = {}
): Promise<OwnerCopies> {
  const { renew, ...tpmOptions } = options
  options = tpmOptions
  const keys = await keepOwnerCopy(tpm, state, dir, owner, { ...options, renew })
  if (state.version !== 1) return { keys, secrets: [] }
  let lock: Awaited<ReturnType<typeof lockSecrets>>
  try {
    lock = await lockSecrets(dir, 'exclusive')
  } catch (err) {
    if (err instanceof SecretsInUseError) return { keys }
    throw err
  }
  try {
    await settleSecretReseal(dir, state)
    return { keys, secrets: await keepSecretOwnerKeys(tpm, state, dir, owner, options) }
  } finally {
    await lock.release()
  }
}
