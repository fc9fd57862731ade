/**
 * One agent per state directory: `fleet run` holds an advisory lock (flock) on DIR/agent.lock for
 * its whole life, with its pid written in the file for the message a second one gets. The kernel
 * drops the lock with the process, also on kill -9, so a stale file never blocks a start; the pid
 * in it is only ever shown, never trusted.
 */
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { FleetError } from '../common/index.js'
import { tryLockFile, type HeldLock } from './gate/index.js'

export const AGENT_LOCK = 'agent.lock'

/** Thrown when another agent runs on this state directory. Exit 1. */
export class AgentAlreadyRunningError extends FleetError {
  readonly dir: string
  readonly pid: number | undefined
  constructor(dir: string, pid: number | undefined) {
    super(
      `an agent is already running on ${dir}${pid === undefined ? '' : ` (pid ${pid})`}: stop it first, or ask it (fleet status --state ${dir})`,
      { code: 'ERR_AGENT_RUNNING' }
    )
    this.dir = dir
    this.pid = pid
  }
}

/** Takes DIR's agent lock, or throws AgentAlreadyRunningError naming the holder's pid when it shows one. */
export async function lockAgent(dir: string, pid: number): Promise<HeldLock> {
  const file = path.join(dir, AGENT_LOCK)
  const held = await tryLockFile(file, true)
  if (held === undefined) {
    const text = await readFile(file, 'utf8').catch(() => '')
    throw new AgentAlreadyRunningError(dir, /^\d{1,10}$/.test(text.trim()) ? Number(text.trim()) : undefined)
  }
  await writeFile(file, `${pid}\n`)
  return held
}
