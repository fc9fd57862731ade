/** Runs the `fleet` CLI as a user does: bin/fleet in its own process. */
import { spawnSync } from 'node:child_process'
import path from 'node:path'

export const FLEET = path.resolve('bin/fleet')

export function runFleet(args: string[]): { status: number; stdout: string; stderr: string } {
  const result = spawnSync(FLEET, args, { encoding: 'utf8', timeout: 60_000 })
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr }
}
