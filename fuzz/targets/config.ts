/** Input: an agent config file, read by loadConfig (no environment, no flags). */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { loadConfig } from '../../src/agent/ops/config.js'
import { scratchDir, typedAsync } from '../common.js'

export async function fuzz(data: Buffer): Promise<void> {
  const file = path.join(scratchDir(), 'config.json')
  writeFileSync(file, data)
  await typedAsync(() => loadConfig({ file, env: {} }))
}
