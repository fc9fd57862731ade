/**
 * Where a fleet owner's PKCS#11 module may be loaded from. The module runs inside the process
 * that holds the owner's PIN, and its path comes from owner.json, a file in the owner's state
 * directory: whoever can edit that file must not be able to name a library of their own. As
 * ssh-agent does for PKCS#11 providers (its -P option), the library must lie in a system library
 * location, by default anywhere under /usr/lib… or /usr/local/lib…, where only root installs files; the
 * pkcs11 module's own checks (absolute path, a regular file owned by root or this user, writable
 * by no one else) apply as well.
 */
import { realpathSync } from 'node:fs'
import path from 'node:path'
import { OwnerModuleRefusedError } from './errors.js'

/** ssh-agent's default allowlist of PKCS#11 provider paths: `*` matches any characters, `/` included. */
export const DEFAULT_MODULE_PATTERNS: readonly string[] = ['/usr/lib*/*', '/usr/local/lib*/*']

/**
 * The real path of `modulePath` (symbolic links resolved) if it matches one of `patterns`; refused
 * otherwise. Load the path returned, not the one given, so that a link changed after this check
 * changes nothing.
 */
export function allowedModulePath(modulePath: string, patterns: readonly string[]): string {
  const refuse = (reason: string): never => {
    throw new OwnerModuleRefusedError(modulePath, reason, patterns)
  }
  if (!path.isAbsolute(modulePath)) refuse('the path must be absolute')
  let real = ''
  try {
    real = realpathSync(modulePath)
  } catch (err) {
    refuse(`no such file (${(err as NodeJS.ErrnoException).code ?? String(err)})`)
  }
  if (!patterns.some((pattern) => globPattern(pattern).test(real)))
    refuse(`${real} is not in an allowed location (${patterns.join(', ')}; set FLEET_PKCS11_PROVIDERS to change them)`)
  return real
}

/** A pattern with `*` (any characters) and `?` (one character) as a whole-string regular expression. */
function globPattern(pattern: string): RegExp {
  const source = [...pattern]
    .map((char) => (char === '*' ? '.*' : char === '?' ? '.' : char.replace(/[\\^$.|+()[\]{}]/g, '\\$&')))
    .join('')
  return new RegExp(`^${source}$`, 's')
}
