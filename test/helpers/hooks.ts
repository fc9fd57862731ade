/**
 * Mocha root hooks (loaded with --require): whatever a test file did, its software TPMs are
 * stopped and its temp folders removed when the run ends.
 */
import { stopAllDevices } from './devices.js'

export const mochaHooks = {
  async afterAll (): Promise<void> {
    await stopAllDevices()
  }
}
