/**
 * Who may use the console: whoever holds the token kept in the state directory (0600, made on
 * first start), signed in to a session kept in memory, which the page holds in its own storage
 * and sends as `Authorization: Bearer` (no cookie: a cookie of 127.0.0.1 goes to every port).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { lstat, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { toBase64url, type Clock } from '../../common/index.js'
import { CONSOLE_LIMITS } from './limits.js'
import { CONSOLE_TOKEN_FILE } from './address.js'

/**
 * The console's token in `dir`: made (256 random bits) when there is none, or when the file is
 * not a token, not a regular file of this user, or readable by others (a token others could
 * read is no secret: a new one is made). Written to a temporary file renamed into place.
 */
export async function consoleToken(dir: string): Promise<string> {
  const file = join(dir, CONSOLE_TOKEN_FILE)
  const kept = await keptToken(file)
  if (kept !== undefined) return kept
  const token = toBase64url(randomBytes(32))
  const temp = `${file}.${process.pid}.tmp`
  await writeFile(temp, `${token}\n`, { mode: 0o600 })
  await rename(temp, file)
  return token
}

async function keptToken(file: string): Promise<string | undefined> {
  let info: Awaited<ReturnType<typeof lstat>>
  try {
    info = await lstat(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  if (!info.isFile() || info.uid !== process.getuid?.() || (info.mode & 0o077) !== 0) return undefined
  const token = (await readFile(file, 'utf8')).trim()
  return /^[A-Za-z0-9_-]{43}$/.test(token) ? token : undefined
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
    return this.open()
  }

  /** A new session id, for a sign-in proved otherwise (an operator's security key). */
  open(): string {
    if (this.sessions.size >= CONSOLE_LIMITS.maxSessions) this.sessions.delete(this.sessions.keys().next().value!)
    const id = toBase64url(randomBytes(32))
    this.sessions.set(id, this.clock.now() + CONSOLE_LIMITS.sessionMs)
    return id
  }

  /** Whether the request's Authorization header names a live session. */
  allows(authorization: string | undefined): boolean {
    const match = /^Bearer ([A-Za-z0-9_-]{43})$/.exec(authorization ?? '')
    if (match === null) return false
    const until = this.sessions.get(match[1]!)
    if (until === undefined) return false
    if (until <= this.clock.now()) {
      this.sessions.delete(match[1]!)
      return false
    }
    return true
  }
}
