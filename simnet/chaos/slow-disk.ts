/**
 * The slow-disk fault: simnet/chaos/slow-sync.c, built here with the machine's C compiler and
 * preloaded into each agent, makes every fsync and fdatasync of that agent wait as long as a file
 * beside its state directory says (ProcessFleet.slowDisk / fastDisk).
 */
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { projectRoot } from '../../src/common/index.js'

const SOURCE = path.join(projectRoot(import.meta.url), 'simnet/chaos/slow-sync.c')

/** Whether a C compiler is here to build the preloaded library. */
export function canSlowDisks(): boolean {
  return spawnSync('sh', ['-c', 'command -v cc'], { stdio: 'ignore' }).status === 0
}

/** Builds the preloaded library into `dir`; its path. Throws with the compiler's words if it fails. */
export function buildSlowSync(dir: string): string {
  const library = path.join(dir, 'slow-sync.so')
  const built = spawnSync('cc', ['-shared', '-fPIC', '-O2', '-o', library, SOURCE, '-ldl'], { encoding: 'utf8' })
  if (built.status !== 0) throw new Error(`cannot build ${SOURCE}: ${built.stderr.trim()}`)
  return library
}
