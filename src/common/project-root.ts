import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** Folders walked up from a module to the project's package.json. */
const MAX_LEVELS = 8

/**
 * The project's root folder, found from a module's own URL: the nearest folder above it whose
 * package.json names this project. The same whether the module runs compiled (dist/src/…, at
 * any depth) or from the one-file bundle (dist/src/cli/fleet.mjs).
 */
export function projectRoot(moduleUrl: string): string {
  let dir = path.dirname(fileURLToPath(moduleUrl))
  for (let level = 0; level < MAX_LEVELS; level++) {
    try {
      const manifest = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown }
      if (manifest.name === 'fleet-agent') return dir
    } catch {
      // no package.json here (or not JSON): look further up
    }
    dir = path.dirname(dir)
  }
  throw new Error(`no fleet-agent package.json within ${MAX_LEVELS} folders above ${fileURLToPath(moduleUrl)}`)
}
