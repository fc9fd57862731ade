/**
 * A workload's secrets (a database password, a model-weights key), sealed in this device's TPM
 * alike with the device's own keys: released under exactly the boot states that release those
 * (the PCR values at fleet init, or the owner's approvals with PolicyAuthorize), and to nobody on
 * another TPM.
 *
 * One file a secret, DIR/secrets/NAME.json, 0600: the value encrypted with AES-256-GCM under a
 * fresh 32-byte data key (the additional data binds the device and the name), and the data key
 * sealed in the TPM. Nothing readable is left on disk: without this TPM in an approved boot state
 * the file is noise. Frozen format (version 1):
 *   {version: 1, name, deviceId, sealedTo: 'boot-pcrs' | 'owner', authority?: P-256 point (hex),
 *    key: {public, private} (the TPM's sealed object, base64), nonce, ciphertext, tag (base64),
 *    bytes, sealedAt (ISO time)}
 * Version 2 adds, for a device whose keys are still sealed to its PCR values at fleet init and
 * which is enrolled, the data key sealed once more to the fleet owner (`ownerKey`, to the P-256
 * point `ownerAuthority`, policyRef fleet-release-v2), as the device's owner copy holds its keys
 * (device/owner-copy.ts): the owner's first approval then moves the secret from any boot state.
 * The policy itself is the device state's (device.json): a file sealed before the owner's first
 * approval moved the device's keys to the owner no longer matches, and says so (reseal.ts moves
 * the secrets with the keys, so none is left behind).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto'
import { readdir, rm } from 'node:fs/promises'
import path from 'node:path'
import { fromBase64, readBoundedFile, toBase64, toHex, writeFileDurably } from '../../common/index.js'
import type { PcrApproval, SealedSecret, Tpm, TpmCallOptions } from '../../attest/index.js'
import { releaseSecret, sealToAuthority, sealedFromJson } from '../../attest/index.js'
import { releasePolicyRef } from '../release/index.js'
import { releaseLikeDeviceKeys, sealLikeDeviceKeys, type DeviceState } from '../device/index.js'
import { SecretFileError, SecretNameError, SecretSizeError, SecretUnknownError, TooManySecretsError } from './errors.js'
import { GATE_LIMITS } from './limits.js'

export const SECRETS_DIR = 'secrets'
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/
const FIELDS = [
  'version',
  'name',
  'deviceId',
  'sealedTo',
  'authority',
  'key',
  'nonce',
  'ciphertext',
  'tag',
  'bytes',
  'sealedAt'
]
const FIELDS_V2 = [...FIELDS, 'ownerKey', 'ownerAuthority']

/** What `fleet secret list` shows of a secret: never its value. */
export interface SecretListing {
  name: string
  bytes: number
  /** 'boot-pcrs': the PCR values at fleet init; 'owner': any boot state the owner approved. */
  sealedTo: 'boot-pcrs' | 'owner'
  /** The PCRs the policy covers (sha256 bank). */
  pcrs: number[]
  sealedAt: string
}

/** A secret file as written (frozen format, versions 1 and 2). */
export interface SecretFile {
  version: 1 | 2
  name: string
  deviceId: string
  sealedTo: 'boot-pcrs' | 'owner'
  authority?: string
  key: { public: string; private: string }
  nonce: string
  ciphertext: string
  tag: string
  bytes: number
  sealedAt: string
  /** Version 2: the data key sealed to the fleet owner too (device state version 1, enrolled). */
  ownerKey?: { public: string; private: string }
  /** Version 2: the owner's P-256 point (hex) `ownerKey` is sealed to. */
  ownerAuthority?: string
}

/** Where a secret is opened from when a device's keys move to the owner from its owner copy. */
export interface OwnerRelease {
  /** The owner's approval of the boot state running now, as releaseSecret takes it. */
  approval: PcrApproval
  /** The owner's P-256 point (hex). */
  point: string
}

/** Refuses a name no secret can have (SecretNameError). */
export function checkSecretName(name: string): void {
  if (!NAME.test(name) || name.includes('..')) throw new SecretNameError(name)
}

/** The file of secret `name` in state directory `dir`. */
export function secretFile(dir: string, name: string): string {
  return path.join(dir, SECRETS_DIR, `${name}.json`)
}

function additionalData(deviceId: string, name: string): Buffer {
  return Buffer.from(`fleet-secret-v1\0${deviceId}\0${name}`)
}

/** The device's keys' policy, as a secret file names it. */
function policyOf(state: DeviceState): { sealedTo: 'boot-pcrs' | 'owner'; authority?: string } {
  const authority = state.mldsa.sealed.authority?.point
  return authority === undefined ? { sealedTo: 'boot-pcrs' } : { sealedTo: 'owner', authority }
}

/**
 * Seals `value` as secret `name` of this device. An existing secret of that name is replaced
 * only with `replace`. The file is written to a temporary name, synced, then renamed: a crash
 * leaves the old secret or the new one, never half of one.
 */
export async function sealSecret(
  tpm: Tpm,
  state: DeviceState,
  dir: string,
  name: string,
  value: Uint8Array,
  options: TpmCallOptions & { replace?: boolean; now: Date; owner?: Uint8Array }
): Promise<SecretListing> {
  checkSecretName(name)
  if (value.length === 0 || value.length > GATE_LIMITS.maxSecretBytes)
    throw new SecretSizeError(value.length, GATE_LIMITS.maxSecretBytes)
  const held = await secretNames(dir)
  if (held.includes(name) && options.replace !== true)
    throw new SecretFileError(
      secretFile(dir, name),
      'a secret of that name is sealed already (give --replace to replace it)'
    )
  if (!held.includes(name) && held.length >= GATE_LIMITS.maxSecrets)
    throw new TooManySecretsError(GATE_LIMITS.maxSecrets)
  return await writeSealedSecret(tpm, state, path.join(dir, SECRETS_DIR), name, value, options)
}

/**
 * Seals `value` as secret `name` under the policy of `state` into FOLDER/NAME.json, durably; no
 * checks of the name, size or count (the callers make them). The re-seal stages into a folder
 * of its own with it.
 */
export async function writeSealedSecret(
  tpm: Tpm,
  state: DeviceState,
  folder: string,
  name: string,
  value: Uint8Array,
  options: TpmCallOptions & { now: Date; owner?: Uint8Array }
): Promise<SecretListing> {
  const { owner, now, ...tpmOptions } = options
  options = { ...tpmOptions, now }
  // The data key mixes the TPM's RNG with the host's, so neither alone decides it.
  const key = createHash('sha256')
    .update(await tpm.getRandom(32, options))
    .update(randomBytes(32))
    .digest()
  try {
    const nonce = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', key, nonce)
    cipher.setAAD(additionalData(state.deviceId, name))
    const ciphertext = Buffer.concat([cipher.update(value), cipher.final()])
    const sealed = await sealLikeDeviceKeys(tpm, state, new Uint8Array(key), tpmOptions)
    const ownerKey =
      state.version === 1 && owner !== undefined
        ? await sealToAuthority(
            tpm,
            new Uint8Array(key),
            state.sealing.selection,
            owner,
            releasePolicyRef(state.deviceId),
            tpmOptions
          )
        : undefined
    const file: SecretFile = {
      version: ownerKey === undefined ? 1 : 2,
      name,
      deviceId: state.deviceId,
      ...policyOf(state),
      key: { public: toBase64(sealed.blob.public), private: toBase64(sealed.blob.private) },
      nonce: nonce.toString('base64'),
      ciphertext: ciphertext.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
      bytes: value.length,
      sealedAt: options.now.toISOString(),
      ...(ownerKey === undefined
        ? {}
        : {
            ownerKey: { public: toBase64(ownerKey.blob.public), private: toBase64(ownerKey.blob.private) },
            ownerAuthority: toHex(owner!)
          })
    }
    await writeFileDurably(path.join(folder, `${name}.json`), `${JSON.stringify(file)}\n`)
    return listing(file, state)
  } finally {
    key.fill(0)
  }
}

/** The secrets this device holds, by name; never their values. A file that is not a secret file is an error. */
export async function listSecrets(dir: string, state: DeviceState): Promise<SecretListing[]> {
  const out: SecretListing[] = []
  for (const name of await secretNames(dir)) out.push(listing(await readSecretFile(dir, name, state), state))
  return out
}

/**
 * The value of secret `name`, unsealed in this TPM under the boot state it holds now. Refused
 * (KeyReleaseRefusedError naming the PCRs) in a boot state the owner did not approve, and
 * (SecretFileError) for a file altered or written for another device or name.
 */
export async function openSecret(
  tpm: Tpm,
  state: DeviceState,
  dir: string,
  name: string,
  options: TpmCallOptions & { ownerRelease?: OwnerRelease } = {}
): Promise<Uint8Array> {
  const { ownerRelease, ...tpmOptions } = options
  checkSecretName(name)
  const file = await readSecretFile(dir, name, state)
  let key: Uint8Array
  if (ownerRelease !== undefined) {
    // The device's keys move to the owner from their owner copy: so does this secret, from its own.
    if (file.ownerKey === undefined || file.ownerAuthority !== ownerRelease.point)
      throw new SecretFileError(
        secretFile(dir, name),
        file.ownerKey === undefined
          ? 'it has no copy sealed to the owner (the agent gives one to each secret when it starts enrolled in the boot of fleet init): remove it (fleet secret remove), install the approval, then seal it again; or boot the state of fleet init once'
          : 'its owner copy is sealed to another authority'
      )
    const sealed: SealedSecret = {
      blob: { public: fromBase64(file.ownerKey.public), private: fromBase64(file.ownerKey.private) },
      selection: state.sealing.selection,
      authority: { point: ownerRelease.point, policyRef: toHex(releasePolicyRef(state.deviceId)) }
    }
    key = await releaseSecret(tpm, sealed, ownerRelease.approval, tpmOptions)
  } else {
    const like = sealedFromJson(state.mldsa.sealed)
    const sealed: SealedSecret = {
      ...like,
      blob: { public: fromBase64(file.key.public), private: fromBase64(file.key.private) }
    }
    key = await releaseLikeDeviceKeys(tpm, state, sealed, tpmOptions)
  }
  try {
    if (key.length !== 32) throw new SecretFileError(secretFile(dir, name), 'the sealed data key is not 32 bytes')
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(file.nonce, 'base64'))
    decipher.setAAD(additionalData(state.deviceId, name))
    decipher.setAuthTag(Buffer.from(file.tag, 'base64'))
    try {
      return new Uint8Array(Buffer.concat([decipher.update(Buffer.from(file.ciphertext, 'base64')), decipher.final()]))
    } catch {
      throw new SecretFileError(secretFile(dir, name), 'its value does not decrypt under its sealed key (altered)')
    }
  } finally {
    key.fill(0)
  }
}

/** Removes secret `name` (SecretUnknownError if there is none). */
export async function removeSecret(dir: string, name: string): Promise<void> {
  checkSecretName(name)
  if (!(await secretNames(dir)).includes(name)) throw new SecretUnknownError(name)
  await rm(secretFile(dir, name))
}

export async function secretNames(dir: string): Promise<string[]> {
  return await secretNamesIn(path.join(dir, SECRETS_DIR))
}

/** The names of the secret files in `folder` (none when it is missing), sorted, at most GATE_LIMITS.maxSecrets. */
export async function secretNamesIn(folder: string): Promise<string[]> {
  let names: string[]
  try {
    names = await readdir(folder)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  return names
    .filter((file) => file.endsWith('.json') && NAME.test(file.slice(0, -5)))
    .map((file) => file.slice(0, -5))
    .sort()
    .slice(0, GATE_LIMITS.maxSecrets)
}

export async function readSecretFile(dir: string, name: string, state: DeviceState): Promise<SecretFile> {
  const file = secretFile(dir, name)
  const read = await readSecretFileIn(path.join(dir, SECRETS_DIR), name, state.deviceId)
  const policy = policyOf(state)
  if (!sealedAlikeWith(read, state))
    throw new SecretFileError(
      file,
      policy.sealedTo === 'owner' && read.sealedTo === 'boot-pcrs'
        ? "it was sealed before the owner's first release approval moved this device's keys to the owner: seal it again"
        : "it is sealed to another authority than this device's keys"
    )
  return read
}

/** Whether `file` names the policy the keys of `state` are sealed to (only then can it open under it). */
export function sealedAlikeWith(file: Pick<SecretFile, 'sealedTo' | 'authority'>, state: DeviceState): boolean {
  const policy = policyOf(state)
  return file.sealedTo === policy.sealedTo && file.authority === policy.authority
}

/**
 * Secret file FOLDER/NAME.json of device `deviceId`, every field checked but not its policy
 * (readSecretFile checks that against the device state; the re-seal compares it).
 */
export async function readSecretFileIn(folder: string, name: string, deviceId: string): Promise<SecretFile> {
  const file = path.join(folder, `${name}.json`)
  // Not through a symlink, and without blocking on a FIFO: only a regular file, read up to the cap.
  const read = await readBoundedFile(file, GATE_LIMITS.maxSecretFileBytes)
  if (read === undefined) throw new SecretUnknownError(name)
  if ('problem' in read)
    throw new SecretFileError(
      file,
      { symlink: 'a symbolic link, not a secret file', 'not-regular': 'not a regular file', 'too-large': 'too large' }[
        read.problem
      ]
    )
  const { text } = read
  let value: Record<string, unknown>
  try {
    value = JSON.parse(text) as Record<string, unknown>
  } catch {
    throw new SecretFileError(file, 'not JSON')
  }
  const fail = (why: string): never => {
    throw new SecretFileError(file, why)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('not a secret file')
  if (value.version !== 1 && value.version !== 2)
    fail(`version ${String(value.version).slice(0, 16)} is not one this agent reads`)
  for (const key of Object.keys(value))
    if (!(value.version === 1 ? FIELDS : FIELDS_V2).includes(key)) fail(`unknown field "${key}"`)
  if (value.version === 2) {
    const ownerKey = value.ownerKey as Record<string, unknown> | undefined
    if (typeof ownerKey !== 'object' || ownerKey === null || Object.keys(ownerKey).length !== 2)
      fail('bad field "ownerKey"')
    for (const part of ['public', 'private']) {
      const text = ownerKey![part]
      if (typeof text !== 'string' || text.length === 0 || text.length > 4096 || !BASE64.test(text))
        fail(`bad field "ownerKey.${part}"`)
    }
    if (typeof value.ownerAuthority !== 'string' || !/^04[0-9a-f]{128}$/.test(value.ownerAuthority))
      fail('bad field "ownerAuthority"')
  }
  if (value.name !== name) fail(`it is secret ${String(value.name).slice(0, 64)}'s, not ${name}'s`)
  if (value.deviceId !== deviceId) fail('it was sealed on another device (this TPM cannot open it)')
  const base64 = (field: string, max: number): void => {
    const text = value[field]
    if (typeof text !== 'string' || text.length === 0 || text.length > max || !BASE64.test(text))
      fail(`bad field "${field}"`)
  }
  const key = value.key as Record<string, unknown> | undefined
  if (typeof key !== 'object' || key === null) fail('bad field "key"')
  for (const part of ['public', 'private']) {
    const text = key![part]
    if (typeof text !== 'string' || text.length === 0 || text.length > 4096 || !BASE64.test(text))
      fail(`bad field "key.${part}"`)
  }
  base64('nonce', 16)
  base64('tag', 24)
  if (Buffer.from(value.nonce as string, 'base64').length !== 12) fail('bad field "nonce"')
  if (Buffer.from(value.tag as string, 'base64').length !== 16) fail('bad field "tag"')
  base64('ciphertext', 4 * Math.ceil(GATE_LIMITS.maxSecretBytes / 3))
  if (
    !Number.isInteger(value.bytes) ||
    (value.bytes as number) < 1 ||
    (value.bytes as number) > GATE_LIMITS.maxSecretBytes
  )
    fail('bad field "bytes"')
  if (typeof value.sealedAt !== 'string' || value.sealedAt.length > 64) fail('bad field "sealedAt"')
  if (value.sealedTo !== 'boot-pcrs' && value.sealedTo !== 'owner') fail('bad field "sealedTo"')
  if (
    value.authority !== undefined &&
    (typeof value.authority !== 'string' || !/^[0-9a-f]{1,256}$/.test(value.authority))
  )
    fail('bad field "authority"')
  return value as unknown as SecretFile
}

function listing(file: SecretFile, state: DeviceState): SecretListing {
  return {
    name: file.name,
    bytes: file.bytes,
    sealedTo: file.sealedTo,
    pcrs: state.sealing.selection.flatMap((bank) => bank.pcrs),
    sealedAt: file.sealedAt
  }
}
