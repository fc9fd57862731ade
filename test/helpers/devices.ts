/**
 * Real software TPM devices for tests: each in its own temp folder, stopped and removed when the
 * suite ends (also when it fails), so no swtpm process is left behind.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { SwtpmDevice } from '../../src/attest/index.js'

const started: SwtpmDevice[] = []
const folders: string[] = []

export function haveSwtpm(): boolean {
  try {
    execFileSync('swtpm', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

export async function tempDir(prefix = 'fleet-test-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix))
  folders.push(dir)
  return dir
}

/** A started, provisioned swtpm in a fresh folder. `caDir` shares one EK CA between devices. */
export async function startDevice(options: { caDir?: string } = {}): Promise<SwtpmDevice> {
  const dir = await tempDir('fleet-swtpm-')
  const device = new SwtpmDevice(options.caDir === undefined ? { dir } : { dir, caDir: options.caDir })
  started.push(device)
  await device.start()
  return device
}

export async function stopAllDevices(): Promise<void> {
  for (const device of started.splice(0)) await device.stop().catch(() => undefined)
  for (const dir of folders.splice(0)) await rm(dir, { recursive: true, force: true }).catch(() => undefined)
}

// Backstop for a run that ends without reaching its after() hooks.
process.on('exit', () => {
  for (const device of started) {
    try {
      const pid = Number.parseInt(readFileSync(device.pidFile, 'utf8').trim(), 10)
      if (pid > 1) process.kill(pid, 'SIGTERM')
    } catch {}
  }
})
