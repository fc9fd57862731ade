/**
 * Key release under the owner's approvals: the approval for the boot state running now, secrets
 * sealed and released alike with the device's keys, and the install of a new approval (which
 * withdraws earlier epochs, or moves the keys to the owner, from the owner copy after an update).
 */
import { FleetError, bytesEqual, toHex, toBase64, fromBase64 } from '../../common/index.js'
import {
  extendAgentMeasurement,
  sealToAuthority,
  sealAlike,
  releaseSecret,
  differingPcrs,
  KeyReleaseRefusedError,
  sealedFromJson,
  sealedToJson,
  type AgentMeasurement,
  type PcrValues,
  type PcrApproval,
  type SealedSecret,
  type Tpm,
  type TpmCallOptions
} from '../../attest/index.js'
import type { HybridPublicKey } from '../../identity/index.js'
import { MAX_STORED_APPROVALS, type DeviceState } from './state.js'
import { OwnerCopyMismatchError, ownerCopySealed, seedsAreDevices, type OwnerCopy } from './owner-copy.js'
import {
  decodeReleaseApproval,
  verifyReleaseApproval,
  toPcrApproval,
  releasePolicyRef,
  approvalSelection,
  approvalValues,
  approvalEpoch,
  ReleaseApprovalError,
  RELEASE_LIMITS,
  type ReleaseApproval,
  type SignedReleaseApproval
} from '../release/index.js'

/**
 * Seals `secret` (≤128 bytes) in this device's TPM under the policy its own keys are sealed to
 * now (PCR values at fleet init, or the owner's approvals): released exactly when they are.
 */
export async function sealLikeDeviceKeys(
  tpm: Tpm,
  state: DeviceState,
  secret: Uint8Array,
  options: TpmCallOptions = {}
): Promise<SealedSecret> {
  return await sealAlike(tpm, secret, sealedFromJson(state.mldsa.sealed), options)
}

/**
 * Unseals a secret sealed alike with the device's keys, under the owner's approval for the boot
 * state the TPM holds now (KeyReleaseRefusedError naming the PCRs that differ otherwise).
 */
export async function releaseLikeDeviceKeys(
  tpm: Tpm,
  state: DeviceState,
  sealed: SealedSecret,
  options: TpmCallOptions = {}
): Promise<Uint8Array> {
  const approval = sealed.authority === undefined ? undefined : await approvalForNow(tpm, state, options)
  return await releaseSecret(tpm, sealed, approval, options)
}

/**
 * Of the owner's approvals in the state, the one for the PCR values the TPM holds now. None: the
 * keys stay sealed, naming the PCRs that differ from the newest approval. Whether its epoch has
 * been withdrawn is for the TPM to say (ApprovalWithdrawnError).
 */
export async function approvalForNow(
  tpm: Tpm,
  state: DeviceState,
  options: TpmCallOptions
): Promise<ReturnType<typeof toPcrApproval>> {
  const approvals = (state.approvals ?? []).map((a) => decodeReleaseApproval(fromBase64(a.approval)))
  const current = await tpm.readPcrs(state.sealing.selection, options)
  const differences = (a: ReleaseApproval): ReturnType<typeof differingPcrs> =>
    differingPcrs(approvalSelection(a), current, approvalValues(a))
  const found = approvals.findLast((a) => differences(a).length === 0)
  if (found !== undefined) return toPcrApproval(found)
  const newest = approvals.at(-1)
  throw new KeyReleaseRefusedError(
    newest === undefined ? [] : differences(newest),
    'no owner approval covers this boot state',
    'if this is a legitimate update, have the owner approve it: fleet release request, then fleet release approve and fleet release install'
  )
}

/**
 * Installs an owner-signed release approval (after checking both halves of the owner's signature
 * and everything else verifyReleaseApproval checks). Returns the new state, which the caller
 * writes; nothing is written here.
 *
 * - An approval of an epoch this device's counter has passed is refused: it is withdrawn.
 * - An approval of a later epoch withdraws every earlier one: the approval-epoch counter is raised
 *   to its epoch, which is done only while running the boot state it approves, and proved by
 *   releasing the keys under it.
 * - The first version-2 approval re-seals the device's seeds to the owner with the version-2
 *   policyRef (from their PCR values at fleet init, or from the version-1 approval of the state
 *   running now), so that no version-1 approval, which cannot be withdrawn, releases them again.
 *   That needs the keys to be releasable now and the approval to cover this boot state, which is
 *   proved by releasing them with it.
 */
export async function installReleaseApproval(
  tpm: Tpm,
  state: DeviceState,
  owner: { key: HybridPublicKey; fleetId: Uint8Array },
  signed: SignedReleaseApproval,
  measurement: AgentMeasurement,
  options: TpmCallOptions & { ownerCopy?: () => Promise<OwnerCopy | undefined> } = {}
): Promise<{
  state: DeviceState
  resealed: boolean
  withdrawn: boolean
  /** When the keys moved from the owner copy: the approval the workload secrets move from theirs under. */
  ownerRelease?: { approval: PcrApproval; point: string }
}> {
  const { ownerCopy: loadOwnerCopy, ...tpmOptions } = options
  options = tpmOptions
  const approval = verifyReleaseApproval(signed, owner, {
    deviceId: state.deviceId,
    selection: state.sealing.selection
  })
  const entry = { approval: toBase64(signed.approval), p256: toBase64(signed.p256), mldsa65: toBase64(signed.mldsa65) }
  const epoch = approvalEpoch(approval)!
  const counter = await tpm.readCounter(epoch.nvIndex, options)
  if (epoch.epoch < counter)
    throw new ReleaseApprovalError(
      `it is for approval epoch ${epoch.epoch}, which this device has withdrawn (its counter is at ${counter}): ask the owner for a new one`
    )
  if (epoch.epoch - counter > RELEASE_LIMITS.maxEpochStep)
    throw new ReleaseApprovalError(
      `it would raise this device's approval epoch from ${counter} to ${epoch.epoch}, more than ${RELEASE_LIMITS.maxEpochStep} at once`
    )
  const raises = epoch.epoch > counter
  // Kept: the approvals still valid once this one is installed (withdrawn ones are dropped).
  const keep = (list: DeviceState['approvals'] & object): DeviceState['approvals'] & object => {
    const after = raises ? epoch.epoch : counter
    const others = list.filter((a) => {
      const kept = decodeReleaseApproval(fromBase64(a.approval))
      const keptEpoch = approvalEpoch(kept)
      return (
        keptEpoch !== undefined && keptEpoch.epoch >= after && !bytesEqual(kept.approvedPolicy, approval.approvedPolicy)
      )
    })
    return [...others, entry].slice(-MAX_STORED_APPROVALS)
  }
  if (state.version !== 1) {
    const authority = state.mldsa.sealed.authority
    if (authority?.point !== toHex(owner.key.p256))
      throw new ReleaseApprovalError("this device's keys are sealed to another authority")
  }
  if (state.version === 3 && !raises)
    return {
      state: { ...state, approvals: keep(state.approvals ?? []) },
      resealed: false,
      withdrawn: false
    }

  await extendAgentMeasurement(tpm, measurement, state.sealing.agentPcr, options)
  const current = await tpm.readPcrs(state.sealing.selection, options)
  const differ = differingPcrs(approvalSelection(approval), current, approvalValues(approval))
  if (differ.length > 0) {
    throw new ReleaseApprovalError(
      `it approves another boot state than this one (PCR ${differ.map((d) => d.pcr).join(', ')} differ): ` +
        (state.version === 3
          ? 'an approval that withdraws earlier ones is installed while running the state it approves'
          : 'to move the keys to the owner, approve the state the device runs now')
    )
  }
  // A device of version 1 booted in another state than at fleet init (a kernel update came before
  // the owner's first approval): its keys are released from the owner copy under this approval.
  const initBoot = state.version !== 1 || bootIsInitBoot(state, current)
  const ownerCopy = initBoot ? undefined : await loadOwnerCopy?.()
  if (!initBoot && ownerCopy === undefined)
    throw new ReleaseApprovalError(
      "this device's keys are still sealed to its boot state at fleet init, which is not the one running, and it has no owner copy of them " +
        '(the agent makes one when it first starts enrolled): boot the state of fleet init and install an approval of that state'
    )
  if (!initBoot && ownerCopy !== undefined) {
    if (
      ownerCopy.authority.point !== toHex(owner.key.p256) ||
      ownerCopy.authority.policyRef !== toHex(releasePolicyRef(state.deviceId))
    )
      throw new ReleaseApprovalError("the owner copy of this device's keys is sealed to another authority")
    const copied = ownerCopySealed(state, ownerCopy)
    const seeds = [
      await releaseSecret(tpm, copied.mldsa, toPcrApproval(approval), options),
      await releaseSecret(tpm, copied.peer, toPcrApproval(approval), options)
    ]
    try {
      if (!(await seedsAreDevices(state, seeds[0]!, seeds[1]!))) throw new OwnerCopyMismatchError()
      for (let value = counter; value < epoch.epoch; ) value = await tpm.incrementCounter(epoch.nvIndex, options)
      return {
        state: {
          ...state,
          version: 3,
          mldsa: { ...state.mldsa, sealed: sealedToJson(copied.mldsa) },
          peer: { ...state.peer, sealed: sealedToJson(copied.peer) },
          approvals: [entry]
        },
        resealed: true,
        withdrawn: raises,
        ownerRelease: { approval: toPcrApproval(approval), point: toHex(owner.key.p256) }
      }
    } finally {
      for (const seed of seeds) seed.fill(0)
    }
  }
  // The seeds are released with what they are sealed to now, before the counter moves: a device
  // sealed for version 1 does not depend on it.
  const source =
    state.version === 3
      ? toPcrApproval(approval)
      : state.version === 2
        ? await approvalForNow(tpm, state, options)
        : undefined
  const seeds = [
    await releaseSecret(tpm, sealedFromJson(state.mldsa.sealed), source, options),
    await releaseSecret(tpm, sealedFromJson(state.peer.sealed), source, options)
  ]
  try {
    // Every approval of an earlier epoch is withdrawn from here on, for good.
    for (let value = counter; value < epoch.epoch; ) value = await tpm.incrementCounter(epoch.nvIndex, options)
    const check = async (sealed: SealedSecret, seed: Uint8Array): Promise<void> => {
      const back = await releaseSecret(tpm, sealed, toPcrApproval(approval), options)
      const same = bytesEqual(back, seed)
      back.fill(0)
      if (!same)
        throw new FleetError('the key released under the new approval is not the one sealed', { code: 'ERR_RESEAL' })
    }
    if (state.version === 3) {
      await check(sealedFromJson(state.mldsa.sealed), seeds[0]!)
      await check(sealedFromJson(state.peer.sealed), seeds[1]!)
      return {
        state: { ...state, approvals: keep(state.approvals ?? []) },
        resealed: false,
        withdrawn: true
      }
    }
    const reseal = async (seed: Uint8Array): Promise<SealedSecret> => {
      const sealed = await sealToAuthority(
        tpm,
        seed,
        state.sealing.selection,
        owner.key.p256,
        releasePolicyRef(state.deviceId),
        options
      )
      await check(sealed, seed)
      return sealed
    }
    const mldsaSealed = await reseal(seeds[0]!)
    const peerSealed = await reseal(seeds[1]!)
    return {
      state: {
        ...state,
        version: 3,
        mldsa: { ...state.mldsa, sealed: sealedToJson(mldsaSealed) },
        peer: { ...state.peer, sealed: sealedToJson(peerSealed) },
        approvals: [entry]
      },
      resealed: true,
      withdrawn: raises
    }
  } finally {
    for (const seed of seeds) seed.fill(0)
  }
}

/** Whether the TPM holds the PCR values the keys of a version-1 state were sealed to at fleet init. */
function bootIsInitBoot(state: DeviceState, current: PcrValues): boolean {
  const expected = state.mldsa.sealed.expected ?? {}
  return state.sealing.selection.every((bank) =>
    bank.pcrs.every((pcr) => {
      const value = current[bank.hash]?.get(pcr)
      return value !== undefined && expected[String(pcr)] === toHex(value)
    })
  )
}
