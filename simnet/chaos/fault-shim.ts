/**
 * Faults of the machine under one agent: simnet/chaos/fault-shim.c, built here with the machine's
 * C compiler and preloaded into each agent of a campaign, makes its syncs wait (a slow disk) and
 * moves its wall clock (a clock stepped), as files beside its state directory say
 * (ProcessFleet.slowDisk / fastDisk, stepClock / setClock).
 */
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { projectRoot } from '../../src/common/index.js'

const SOURCE = path.join(projectRoot(import.meta.url), 'simnet/chaos/fault-shim.c')

/** Whether a C compiler is here to build the preloaded library. */
export function canShimFaults(): boolean {
  return spawnSync('sh', ['-c', 'command -v cc'], { stdio: 'ignore' }).status === 0
}

/** Builds the preloaded library into `dir`; its path. Throws with the compiler's words if it fails. */
export function buildFaultShim(dir: string): string {
  const library = path.join(dir, 'fault-shim.so')
  const built = spawnSync('cc', ['-shared', '-fPIC', '-O2', '-o', library, SOURCE, '-ldl'], { encoding: 'utf8' })
  if (built.status !== 0) throw new Error(`cannot build ${SOURCE}: ${built.stderr.trim()}`)
  return library
}
