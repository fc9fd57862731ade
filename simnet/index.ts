/**
 * simnet: simulated devices for tests and demos. So far: the boot simulator.
 */
export {
  simulatedBootEvents,
  simulatedBootLog,
  simulatedBootPolicy,
  bootDevice,
  BOOT_VARIANTS
} from '../src/attest/index.js'
export type { BootVariant } from '../src/attest/index.js'
export { SimFleet, SEALING } from './fleet.js'
export type { SimOwner, SimDevice } from './fleet.js'
