/** Input: a device state file (device.json), read by readDeviceState. */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { DEVICE_STATE_FILE, readDeviceState } from '../../src/agent/device/state.js'
import { scratchDir, typedAsync } from '../common.js'

export async function fuzz(data: Buffer): Promise<void> {
  const dir = scratchDir()
  writeFileSync(path.join(dir, DEVICE_STATE_FILE), data)
  await typedAsync(() => readDeviceState(dir))
}
