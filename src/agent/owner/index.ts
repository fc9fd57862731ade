/**
 * The fleet owner: the genesis statement that founds a fleet, and the owner's keys, held in the
 * TPM of the owner's machine or on a PKCS#11 token (HSM, smartcard). Every owner command reads
 * owner.json with readOwnerState and gets its signer from unlockOwner, whichever holds the keys.
 *
 * @example
 * const state = await readOwnerState(dir)
 * const owner = await unlockOwner(state, { tpm, pin: async () => await readPin({ fd: 3 }) })
 * try {
 *   const signature = await owner.signer.sign(DOMAIN.statement, bytes)
 * } finally {
 *   await owner.close()
 * }
 */
export { GenesisError, OwnerStateError, OwnerModuleRefusedError, OwnerTokenMismatchError } from './errors.js'
export { OwnerKeyMismatchError, OwnerAccessMissingError } from './errors.js'
export { fleetIdOf, signGenesis, verifyGenesis, type GenesisJson, type GenesisStatement } from './genesis.js'
export {
  OWNER_STATE_FILE,
  ownerKeyHolder,
  parseOwnerState,
  readOwnerState,
  writeOwnerState,
  type OwnerState,
  type TokenOwnerKeys,
  type TokenOwnerState,
  type TpmOwnerState
} from './state.js'
export { initOwner } from './tpm-owner.js'
export {
  DEFAULT_OWNER_KEY_LABEL,
  OWNER_KEY_LABEL_MAX_BYTES,
  WRAP_KEY_LABEL_SUFFIX,
  initTokenOwner,
  isOwnerKeyLabel,
  type TokenAccess,
  type TokenOwnerInit,
  type UnlockedOwner
} from './token-owner.js'
export { DEFAULT_MODULE_PATTERNS, allowedModulePath } from './module-location.js'
export { unlockOwner, type OwnerAccess } from './unlock.js'
