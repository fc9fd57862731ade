/** Runs the `fleet` CLI as a user does: bin/fleet in its own process. */
import { spawn, spawnSync } from 'node:child_process'
import path from 'node:path'

export const FLEET = path.resolve('bin/fleet')

export function runFleet(args: string[]): { status: number; stdout: string; stderr: string } {
  const result = spawnSync(FLEET, args, { encoding: 'utf8', timeout: 60_000 })
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr }
}

/**
 * runFleet without blocking this process: for a CLI that talks to a server running in the test
 * itself (spawnSync would stop that server answering). Resolves once it exited, with its pid.
 */
export async function runFleetAsync(
  args: string[]
): Promise<{ status: number | null; stdout: string; stderr: string; pid: number }> {
  const child = spawn(FLEET, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString()
  })
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const status = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  return { status, stdout, stderr, pid: child.pid! }
}
