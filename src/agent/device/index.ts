/**
 * This device: its state file, its TPM-bound identity (init, clone check, self-measurement, key
 * release) and the hybrid signer made from its TPM key and its sealed ML-DSA-65 seed.
 */
export {
  CloneDetectedError,
  agentMeasurement,
  measurementOf,
  deviceSigner,
  initDevice,
  unlockDevice,
  type InitDeviceOptions,
  type UnlockedDevice
} from './identity.js'
export { installReleaseApproval, releaseLikeDeviceKeys, sealLikeDeviceKeys } from './key-release.js'
export { DEVICE_STATE_FILE, DeviceStateError, readDeviceState, writeDeviceState, type DeviceState } from './state.js'
export {
  OWNER_COPY_FILE,
  OwnerCopyError,
  OwnerCopyMismatchError,
  keepOwnerCopy,
  readOwnerCopy,
  removeOwnerCopy,
  type OwnerCopy
} from './owner-copy.js'
