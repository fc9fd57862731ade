/**
 * What an enrolled device still sealed to its PCR values at fleet init keeps for the owner's first
 * approval: its keys' owner copy (device/owner-copy.ts) and each workload secret's (secrets.ts).
 */
import type { Tpm, TpmCallOptions } from '../../attest/index.js'
import { sealToAuthority, sealedFromJson } from '../../attest/index.js'
import { fromBase64, toBase64, toHex, writeFileDurably } from '../../common/index.js'
import { keepOwnerCopy, releaseLikeDeviceKeys, type DeviceState } from '../device/index.js'
import { releasePolicyRef } from '../release/index.js'
import { SecretFileError, SecretsInUseError } from './errors.js'
import { lockSecrets } from './lock.js'
import { settleSecretReseal } from './reseal.js'
import { readSecretFile, secretFile, secretNames, type SecretFile } from './secrets.js'

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

/**
 * Gives each secret of an enrolled device whose keys are still sealed to its PCR values at fleet
 * init (state version 1) its data key sealed to the owner too (version 2), in a boot state the
 * keys are released in now, as keepOwnerCopy does for the keys. Returns the names given one.
 * Called holding the secrets' lock exclusive (a removal meanwhile would be undone).
 */
export async function keepSecretOwnerKeys(
  tpm: Tpm,
  state: DeviceState,
  dir: string,
  owner: Uint8Array,
  options: TpmCallOptions = {}
): Promise<string[]> {
  if (state.version !== 1) return []
  const given: string[] = []
  for (const name of await secretNames(dir)) {
    // A file that is no secret of this device is refused wherever it is used; the others go on.
    const file = await readSecretFile(dir, name, state).catch((err: unknown) => {
      if (err instanceof SecretFileError) return undefined
      throw err
    })
    if (file === undefined || file.ownerAuthority === toHex(owner)) continue
    const key = await releaseLikeDeviceKeys(
      tpm,
      state,
      {
        ...sealedFromJson(state.mldsa.sealed),
        blob: { public: fromBase64(file.key.public), private: fromBase64(file.key.private) }
      },
      options
    )
    try {
      const ownerKey = await sealToAuthority(
        tpm,
        key,
        state.sealing.selection,
        owner,
        releasePolicyRef(state.deviceId),
        options
      )
      const next: SecretFile = {
        ...file,
        version: 2,
        ownerKey: { public: toBase64(ownerKey.blob.public), private: toBase64(ownerKey.blob.private) },
        ownerAuthority: toHex(owner)
      }
      await writeFileDurably(secretFile(dir, name), `${JSON.stringify(next)}\n`)
      given.push(name)
    } finally {
      key.fill(0)
    }
  }
  return given
}
