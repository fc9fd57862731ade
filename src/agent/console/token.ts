/**
 * Who may use the console: whoever holds the token kept in the state directory (0600, made on
 * first start), signed in to a browser session kept in memory (an HttpOnly, SameSite=Strict
 * cookie), as a notebook server on loopback does.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { chmod, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { FleetError, toBase64url, type Clock } from '../../common/index.js'
import { CONSOLE_LIMITS } from './limits.js'
import { CONSOLE_TOKEN_FILE } from './address.js'

export const SESSION_COOKIE = 'fleet_console'

/** The console's token in `dir` (made, 0600, when there is none). */
export async function consoleToken(dir: string): Promise<string> {
  const path = join(dir, CONSOLE_TOKEN_FILE)
  try {
    const token = (await readFile(path, 'utf8')).trim()
    if (!/^[A-Za-z0-9_-]{43}$/.test(token))
      throw new FleetError(`${path} is not a console token`, { code: 'ERR_CONSOLE_TOKEN' })
    await chmod(path, 0o600)
    return token
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const token = toBase64url(randomBytes(32))
  await writeFile(path, `${token}\n`, { mode: 0o600, flag: 'wx' })
  return token
}

/** Signed-in sessions: random ids, each until it expires; the oldest is dropped when full. */
export class ConsoleSessions {
  private readonly sessions = new Map<string, number>()
  private readonly token: Buffer

  constructor(
    token: string,
    private readonly clock: Clock
  ) {
    this.token = Buffer.from(token)
  }

  /** A new session id when `offered` is the token, else undefined. */
  signIn(offered: string): string | undefined {
    const bytes = Buffer.from(offered)
    if (bytes.length !== this.token.length || !timingSafeEqual(bytes, this.token)) return undefined
    if (this.sessions.size >= CONSOLE_LIMITS.maxSessions) this.sessions.delete(this.sessions.keys().next().value!)
    const id = toBase64url(randomBytes(32))
    this.sessions.set(id, this.clock.now() + CONSOLE_LIMITS.sessionMs)
    return id
  }

  /** Whether the request's cookie names a live session. */
  allows(cookieHeader: string | undefined): boolean {
    const id = sessionOf(cookieHeader)
    if (id === undefined) return false
    const until = this.sessions.get(id)
    if (until === undefined) return false
    if (until <= this.clock.now()) {
      this.sessions.delete(id)
      return false
    }
    return true
  }
}

function sessionOf(cookieHeader: string | undefined): string | undefined {
  for (const part of (cookieHeader ?? '').split(';')) {
    const [name, value] = part.trim().split('=', 2)
    if (name === SESSION_COOKIE && value !== undefined && /^[A-Za-z0-9_-]{43}$/.test(value)) return value
  }
  return undefined
}
