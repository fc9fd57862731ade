import { createInterface } from 'node:readline/promises'
import { UsageError } from '../common/index.js'

/** Asks the person at this terminal a yes/no question (default no). */
export async function askYesNo(question: string): Promise<boolean> {
  if (!process.stdin.isTTY)
    throw new UsageError('no terminal to confirm on: run interactively, or pass --yes with the expected identity')
  const rl = createInterface({ input: process.stdin, output: process.stderr })
  try {
    const answer = await rl.question(`${question} [y/N] `)
    return /^y(es)?$/i.test(answer.trim())
  } finally {
    rl.close()
  }
}

/** Parses a positive whole number of seconds. */
export function parseSeconds(text: string, flag: string): number {
  if (!/^\d{1,6}$/.test(text) || Number(text) === 0) throw new UsageError(`${flag} must be a whole number of seconds`)
  return Number(text)
}
