/**
 * simnet: simulated devices for tests and demos. So far: the boot simulator.
 */
export { simulatedBootEvents, simulatedBootLog, simulatedBootPolicy, bootDevice, BOOT_VARIANTS } from './boot.js'
export type { BootVariant } from './boot.js'
export { SimFleet, SEALING } from './fleet.js'
export type { SimOwner, SimDevice } from './fleet.js'
