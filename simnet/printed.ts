/** Waiting on what a spawned command prints, as it prints it (tests and simnet's process fleet). */
import type { ChildProcess } from 'node:child_process'

/**
 * Resolves with everything `child` printed on stdout (or `stream`) from now on, once it includes
 * `text` (or satisfies it, when a function). Rejects when the command exits first, or after `ms`
 * (a deadline, not a pause). Call it before the command can print what is waited for.
 */
export async function printed(
  child: ChildProcess,
  text: string | ((output: string) => boolean),
  ms: number,
  stream: 'stdout' | 'stderr' = 'stdout'
): Promise<string> {
  const output = child[stream]
  const what = typeof text === 'string' ? text : 'what was waited for'
  if (output === null) throw new Error(`the command's ${stream} is not piped`)
  const ended = child.exitCode ?? child.signalCode
  if (ended !== null) throw new Error(`the command exited (${ended}) before printing ${what}`)
  const done = typeof text === 'string' ? (seen: string) => seen.includes(text) : text
  let seen = ''
  return await new Promise<string>((resolve, reject) => {
    const stop = (): void => {
      clearTimeout(deadline)
      output.off('data', onData)
      child.off('close', onExit)
    }
    const onData = (chunk: Buffer): void => {
      seen += chunk.toString()
      if (!done(seen)) return
      stop()
      resolve(seen)
    }
    const onExit = (code: number | null, signal: string | null): void => {
      stop()
      reject(new Error(`the command exited (${code ?? signal}) before printing ${what}: ${seen}`))
    }
    const deadline = setTimeout(() => {
      stop()
      reject(new Error(`the command did not print ${what} within ${ms} ms: ${seen}`))
    }, ms)
    output.on('data', onData)
    child.once('close', onExit)
  })
}
