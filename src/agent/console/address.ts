/**
 * Where a running agent's console listens (DIR/console.port, written while it does) and its token
 * (DIR/console.token): what `fleet console` prints. No server code here: the CLI reads it.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { FleetError } from '../../common/index.js'

export const CONSOLE_PORT_FILE = 'console.port'
export const CONSOLE_TOKEN_FILE = 'console.token'

/** What the console answers on /api/hello: HMAC-SHA256 keyed by its token over the caller's nonce. */
export function consoleHelloProof(token: string, nonce: string): string {
  return createHmac('sha256', token).update(`fleet-console-hello:${nonce}`).digest('hex')
}

/** No console is running for a state directory. */
export class NoConsoleError extends FleetError {
  constructor(dir: string) {
    super(
      `no console is running for ${dir}: set "console": {"port": N} in the agent's config and start it (fleet run)`,
      { code: 'ERR_NO_CONSOLE' }
    )
  }
}

/**
 * The address of the console of the agent running on `dir`, with its token in the fragment (which
 * a browser never sends to the server). NoConsoleError when none is written or none answers there.
 */
export async function readConsoleAddress(dir: string): Promise<{ url: string; port: number }> {
  let port: number
  let token: string
  try {
    port = Number.parseInt(await readFile(join(dir, CONSOLE_PORT_FILE), 'utf8'), 10)
    token = (await readFile(join(dir, CONSOLE_TOKEN_FILE), 'utf8')).trim()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NoConsoleError(dir)
    throw err
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new NoConsoleError(dir)
  // A port file left by an agent that was killed: nobody, or another program, answers there. The
  // address (with the token) is printed only when the server there proves it holds the token.
  const nonce = randomBytes(32).toString('hex')
  const proof = await fetch(`http://127.0.0.1:${port}/api/hello?nonce=${nonce}`, {
    signal: AbortSignal.timeout(5_000)
  }).then(
    async (response) => (response.ok ? String(((await response.json()) as { proof?: unknown }).proof) : ''),
    () => ''
  )
  const expected = Buffer.from(consoleHelloProof(token, nonce))
  const got = Buffer.from(proof)
  if (got.length !== expected.length || !timingSafeEqual(got, expected)) throw new NoConsoleError(dir)
  return { url: `http://127.0.0.1:${port}/#token=${token}`, port }
}
