/** Runs `simnet` as a child process (its log to this stderr) and returns its JSON summary, or undefined. */
import { spawn } from 'node:child_process'
import path from 'node:path'

const SIMNET = path.join(import.meta.dirname, '../simnet/cli.js')

export async function simnetSummary<T>(args: string[]): Promise<T | undefined> {
  const child = spawn(process.execPath, [SIMNET, ...args, '--json'], { stdio: ['ignore', 'pipe', 'inherit'] })
  let stdout = ''
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString()
  })
  await new Promise((resolve) => child.once('close', resolve))
  try {
    return JSON.parse(stdout.trim().split('\n').pop() ?? '') as T
  } catch {
    return undefined
  }
}
