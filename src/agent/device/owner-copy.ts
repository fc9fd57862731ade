/**
 * The owner copy: for an enrolled device whose keys are still sealed to its PCR values at fleet
 * init (state version 1), its two seeds sealed once more, to the fleet owner (TPM2_PolicyAuthorize,
 * policyRef fleet-release-v2), in DIR/owner-sealed.json. The owner's first approval can then be
 * installed in a boot state the device was not initialised in (after a kernel update that came
 * before any approval): the keys are released from the copy under that approval, and the copy
 * becomes the device's sealed keys (state version 3). Without it, the keys of such a device stay
 * sealed until the old kernel boots again.
 *
 * The copy releases nothing the owner has not approved (every approval names PCR values and an
 * approval epoch, as for a device of version 3), and a copy that does not hold this device's own
 * seeds is refused (anyone can seal to the owner's public key). Frozen format (version 1):
 *   {version: 1, kind: 'owner-sealed', deviceId, authority: {point, policyRef} (hex),
 *    mldsa: {public, private}, peer: {public, private} (the TPM's sealed objects, base64)}
 */
import { rm } from 'node:fs/promises'
import path from 'node:path'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import {
  FleetError,
  MalformedInputError,
  bytesEqual,
  fromBase64,
  readBoundedFile,
  toBase64,
  toHex,
  writeFileDurably
} from '../../common/index.js'
import {
  releaseSecret,
  sealToAuthority,
  sealedFromJson,
  type SealedSecret,
  type Tpm,
  type TpmCallOptions
} from '../../attest/index.js'
import { defaultMlDsa65 } from '../../identity/index.js'
import { releasePolicyRef } from '../release/index.js'
import { DEVICE_LIMITS } from './limits.js'
import type { DeviceState } from './state.js'

export const OWNER_COPY_FILE = 'owner-sealed.json'

export interface OwnerCopy {
  version: 1
  kind: 'owner-sealed'
  deviceId: string
  authority: { point: string; policyRef: string }
  mldsa: { public: string; private: string }
  peer: { public: string; private: string }
}

/** DIR/owner-sealed.json is not a valid owner copy. Exit 2. */
export class OwnerCopyError extends MalformedInputError {
  constructor(file: string, reason: string) {
    super(`owner copy ${file}: ${reason}`, { code: 'ERR_OWNER_COPY' })
  }
}

/** The owner copy does not release this device's own keys (it was replaced). Exit 1. */
export class OwnerCopyMismatchError extends FleetError {
  constructor() {
    super(
      `the owner copy (${OWNER_COPY_FILE}) does not hold this device's keys: it was replaced, and is not used (remove it)`,
      { code: 'ERR_OWNER_COPY_MISMATCH' }
    )
  }
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/
const FIELDS = ['authority', 'deviceId', 'kind', 'mldsa', 'peer', 'version'].join(',')

/** The owner copy of DIR, strictly checked; undefined when there is none. */
export async function readOwnerCopy(dir: string, state: DeviceState): Promise<OwnerCopy | undefined> {
  const file = path.join(dir, OWNER_COPY_FILE)
  const read = await readBoundedFile(file, DEVICE_LIMITS.maxOwnerCopyBytes)
  if (read === undefined) return undefined
  if ('problem' in read)
    throw new OwnerCopyError(
      file,
      { symlink: 'a symbolic link', 'not-regular': 'not a regular file', 'too-large': 'too large' }[read.problem]
    )
  const fail = (reason: string): never => {
    throw new OwnerCopyError(file, reason)
  }
  let value: Record<string, unknown>
  try {
    value = JSON.parse(read.text) as Record<string, unknown>
  } catch {
    return fail('not JSON')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('not an object')
  if (Object.keys(value).sort().join(',') !== FIELDS) fail('not the fields of a version-1 owner copy')
  if (value.version !== 1 || value.kind !== 'owner-sealed') fail('not a version-1 owner copy')
  if (value.deviceId !== state.deviceId) fail("it is another device's")
  const authority = value.authority as Record<string, unknown> | null
  if (
    typeof authority !== 'object' ||
    authority === null ||
    Object.keys(authority).sort().join(',') !== 'point,policyRef' ||
    typeof authority.point !== 'string' ||
    !/^04[0-9a-f]{128}$/.test(authority.point) ||
    typeof authority.policyRef !== 'string' ||
    !/^[0-9a-f]{64}$/.test(authority.policyRef)
  )
    fail('bad field "authority"')
  for (const field of ['mldsa', 'peer']) {
    const blob = value[field] as Record<string, unknown> | null
    if (typeof blob !== 'object' || blob === null || Object.keys(blob).sort().join(',') !== 'private,public')
      fail(`bad field "${field}"`)
    for (const part of ['public', 'private']) {
      const text = blob![part]
      if (typeof text !== 'string' || text.length === 0 || text.length > 4096 || !BASE64.test(text))
        fail(`bad field "${field}.${part}"`)
    }
  }
  return value as unknown as OwnerCopy
}

export async function removeOwnerCopy(dir: string): Promise<void> {
  await rm(path.join(dir, OWNER_COPY_FILE), { force: true })
}

/** The copy's sealed objects, as releaseSecret takes them. */
export function ownerCopySealed(state: DeviceState, copy: OwnerCopy): { mldsa: SealedSecret; peer: SealedSecret } {
  const sealed = (blob: { public: string; private: string }): SealedSecret => ({
    blob: { public: fromBase64(blob.public), private: fromBase64(blob.private) },
    selection: state.sealing.selection,
    authority: { ...copy.authority }
  })
  return { mldsa: sealed(copy.mldsa), peer: sealed(copy.peer) }
}

/** Whether the two seeds are the ones of this device's state (its ML-DSA-65 key and its PeerId). */
export async function seedsAreDevices(
  state: DeviceState,
  mldsaSeed: Uint8Array,
  peerSeed: Uint8Array
): Promise<boolean> {
  const mldsa = defaultMlDsa65().fromSeed(mldsaSeed)
  const peerId = peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', peerSeed)).toString()
  return bytesEqual(mldsa.publicKey, fromBase64(state.mldsa.publicKey)) && peerId === state.peer.peerId
}

/**
 * Makes the owner copy of an enrolled device of state version 1, in a boot state its keys are
 * released in now (the agent measured this boot), unless one sealed to this owner is there.
 * Returns whether one was written. Devices of versions 2 and 3 are sealed to the owner already.
 */
export async function keepOwnerCopy(
  tpm: Tpm,
  state: DeviceState,
  dir: string,
  ownerPoint: Uint8Array,
  options: TpmCallOptions & { renew?: boolean } = {}
): Promise<boolean> {
  const { renew, ...tpmOptions } = options
  options = tpmOptions
  // Sealed to the owner already: a copy left by an install interrupted after its commit goes.
  if (state.version !== 1) {
    await removeOwnerCopy(dir)
    return false
  }
  const policyRef = releasePolicyRef(state.deviceId)
  // Kept unless `renew` (fleet join writes its own, whatever was planted before it).
  const existing = renew === true ? undefined : await readOwnerCopy(dir, state).catch(() => undefined)
  if (existing?.authority.point === toHex(ownerPoint) && existing.authority.policyRef === toHex(policyRef)) return false
  const seeds = [
    await releaseSecret(tpm, sealedFromJson(state.mldsa.sealed), undefined, options),
    await releaseSecret(tpm, sealedFromJson(state.peer.sealed), undefined, options)
  ]
  try {
    if (!(await seedsAreDevices(state, seeds[0]!, seeds[1]!)))
      throw new FleetError('the unsealed keys do not match the state file (it was altered)', {
        code: 'ERR_DEVICE_STATE_MISMATCH'
      })
    const seal = async (seed: Uint8Array): Promise<{ public: string; private: string }> => {
      const sealed = await sealToAuthority(tpm, seed, state.sealing.selection, ownerPoint, policyRef, options)
      return { public: toBase64(sealed.blob.public), private: toBase64(sealed.blob.private) }
    }
    const copy: OwnerCopy = {
      version: 1,
      kind: 'owner-sealed',
      deviceId: state.deviceId,
      authority: { point: toHex(ownerPoint), policyRef: toHex(policyRef) },
      mldsa: await seal(seeds[0]!),
      peer: await seal(seeds[1]!)
    }
    await writeFileDurably(path.join(dir, OWNER_COPY_FILE), `${JSON.stringify(copy, null, 2)}\n`)
    return true
  } finally {
    for (const seed of seeds) seed.fill(0)
  }
}
