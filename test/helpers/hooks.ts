/**
 * Mocha root hooks (loaded with --require): whatever a test file did, its software TPMs are
 * stopped and its temp folders removed when the run ends; tests on ../shared/testdata are skipped
 * in a clone without it.
 */
import { stopAllDevices } from './devices.js'
import { skipWithoutSharedTestdata } from './shared.js'

export const mochaHooks = {
  beforeEach(this: Mocha.Context): void {
    skipWithoutSharedTestdata(this)
  },
  async afterAll(): Promise<void> {
    await stopAllDevices()
  }
}
