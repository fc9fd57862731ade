/** Input: a device state file (device.json), read by readDeviceState; and as an owner copy (owner-sealed.json), read by readOwnerCopy. */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { DEVICE_STATE_FILE, readDeviceState, type DeviceState } from '../../src/agent/device/state.js'
import { OWNER_COPY_FILE, readOwnerCopy } from '../../src/agent/device/owner-copy.js'
import { scratchDir, typedAsync } from '../common.js'

const device = { deviceId: 'a'.repeat(52), sealing: { selection: [{ hash: 'sha256', pcrs: [7, 23] }], agentPcr: 23 } }

export async function fuzz(data: Buffer): Promise<void> {
  const dir = scratchDir()
  writeFileSync(path.join(dir, DEVICE_STATE_FILE), data)
  await typedAsync(() => readDeviceState(dir))
  writeFileSync(path.join(dir, OWNER_COPY_FILE), data)
  await typedAsync(() => readOwnerCopy(dir, device as unknown as DeviceState))
}
