/**
 * The fleet owner: the genesis statement that founds a fleet, and the owner's TPM-held keys.
 */
export {
  GenesisError,
  OWNER_STATE_FILE,
  fleetIdOf,
  initOwner,
  readOwnerState,
  unlockOwner,
  verifyGenesis,
  writeOwnerState,
  type GenesisStatement,
  type OwnerState
} from './genesis.js'
