/**
 * Who may use the gate socket, and with which secrets: a table of local users (uids, as the
 * kernel names the caller of a Unix socket) each granted a list of secret names. A workload that
 * runs as its own user asks the gate through the gate socket (not the agent's control socket,
 * which only the agent's user reaches) and gets only the secrets granted to its uid; a uid without
 * a grant is refused everything.
 *
 * DIR/gate-grants.json, 0600, written by the state directory's owner (`fleet gate allow|deny`),
 * read by the agent at each request (a change holds from the next one). Frozen format (version 1):
 *   {version: 1, grants: [{uid, secrets: [name…]}…]}   written sorted by uid, names sorted; a uid twice is refused
 * A file that is not exactly that refuses every gate-socket request (fail closed) until mended.
 */
import { lstat } from 'node:fs/promises'
import path from 'node:path'
import { readBoundedFile, writeFileDurably } from '../../common/index.js'
import { GrantsBusyError, GrantsFileError, TooManyGrantsError } from './errors.js'
import { tryLockFile } from './lock.js'
import { GATE_LIMITS } from './limits.js'
import { checkSecretName } from './secrets.js'

export const GRANTS_FILE = 'gate-grants.json'
/** Held (flock) while the grants change. */
export const GRANTS_LOCK = 'gate-grants.lock'

/** The secrets each uid is granted (an empty set: the uid may run gated workloads, with no secret). */
export type GateGrants = ReadonlyMap<number, ReadonlySet<string>>

const MAX_UID = 4_294_967_294

/** The grants of state directory `dir`: none when there is no file; GrantsFileError when it is not a grants file. */
export async function readGrants(dir: string): Promise<GateGrants> {
  const file = path.join(dir, GRANTS_FILE)
  const read = await readBoundedFile(file, GATE_LIMITS.maxGrantsFileBytes)
  if (read === undefined) return new Map()
  if ('problem' in read) throw new GrantsFileError(file, read.problem.replace('-', ' '))
  let value: unknown
  try {
    value = JSON.parse(read.text)
  } catch {
    throw new GrantsFileError(file, 'not JSON')
  }
  const fail = (why: string): never => {
    throw new GrantsFileError(file, why)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('not a grants file')
  const record = value as Record<string, unknown>
  for (const key of Object.keys(record)) if (key !== 'version' && key !== 'grants') fail(`unknown field "${key}"`)
  if (record.version !== 1) fail(`version ${String(record.version).slice(0, 16)} is not one this agent reads`)
  if (!Array.isArray(record.grants)) fail('bad field "grants"')
  const grants = record.grants as unknown[]
  if (grants.length > GATE_LIMITS.maxGrantUids) fail(`more than ${GATE_LIMITS.maxGrantUids} users`)
  const table = new Map<number, Set<string>>()
  for (const grant of grants) {
    const { uid, secrets, ...rest } = (grant ?? {}) as { uid?: unknown; secrets?: unknown }
    if (Object.keys(rest).length > 0) fail(`unknown field "${Object.keys(rest)[0]}" in a grant`)
    if (typeof uid !== 'number' || !Number.isInteger(uid) || uid < 0 || uid > MAX_UID) fail('bad uid in a grant')
    if (table.has(uid as number)) fail(`uid ${String(uid)} granted twice`)
    if (!Array.isArray(secrets) || secrets.length > GATE_LIMITS.maxSecrets) fail(`bad secrets of uid ${String(uid)}`)
    const names = new Set<string>()
    for (const name of secrets as unknown[]) {
      if (typeof name !== 'string') fail(`bad secret name for uid ${String(uid)}`)
      try {
        checkSecretName(name as string)
      } catch {
        fail(`bad secret name for uid ${String(uid)}`)
      }
      names.add(name as string)
    }
    table.set(uid as number, names)
  }
  return table
}

async function writeGrants(dir: string, grants: GateGrants): Promise<void> {
  const list = [...grants.entries()]
    .sort(([a], [b]) => a - b)
    .map(([uid, secrets]) => ({ uid, secrets: [...secrets].sort() }))
  await writeFileDurably(path.join(dir, GRANTS_FILE), `${JSON.stringify({ version: 1, grants: list }, null, 2)}\n`)
}

/**
 * Runs a change of the grants holding DIR/gate-grants.lock (flock) exclusive, so that two changes
 * at once never lose one (a withdrawal undone by a grant written from an older read). Refused at
 * once (GrantsBusyError) while another holds it.
 */
async function changingGrants<T>(dir: string, change: () => Promise<T>): Promise<T> {
  const lock = await tryLockFile(path.join(dir, GRANTS_LOCK), true)
  if (lock === undefined) throw new GrantsBusyError(dir)
  try {
    return await change()
  } finally {
    await lock.release()
  }
}

/** Grants `uid` the gate socket and secrets `names` (added to what it holds). Returns its grant. */
export async function allowGrant(dir: string, uid: number, names: readonly string[]): Promise<string[]> {
  for (const name of names) checkSecretName(name)
  return await changingGrants(dir, async () => await addGrant(dir, uid, names))
}

async function addGrant(dir: string, uid: number, names: readonly string[]): Promise<string[]> {
  const grants = new Map([...(await readGrants(dir))].map(([u, s]) => [u, new Set(s)]))
  const held = grants.get(uid) ?? new Set<string>()
  if (!grants.has(uid) && grants.size >= GATE_LIMITS.maxGrantUids)
    throw new TooManyGrantsError(`${GATE_LIMITS.maxGrantUids} users hold grants already (the most kept)`)
  for (const name of names) held.add(name)
  if (held.size > GATE_LIMITS.maxSecrets)
    throw new TooManyGrantsError(`a user is granted at most ${GATE_LIMITS.maxSecrets} secrets`)
  grants.set(uid, held)
  await writeGrants(dir, grants)
  return [...held].sort()
}

/**
 * Withdraws secrets `names` from `uid`, or, with none named, its whole grant (the gate socket
 * refuses it from then on). Returns what it still holds (undefined: nothing, not even the socket).
 */
export async function denyGrant(dir: string, uid: number, names: readonly string[]): Promise<string[] | undefined> {
  for (const name of names) checkSecretName(name)
  return await changingGrants(dir, async () => await withdrawGrant(dir, uid, names))
}

async function withdrawGrant(dir: string, uid: number, names: readonly string[]): Promise<string[] | undefined> {
  const grants = new Map([...(await readGrants(dir))].map(([u, s]) => [u, new Set(s)]))
  const held = grants.get(uid)
  if (held === undefined) return undefined
  if (names.length === 0) grants.delete(uid)
  else for (const name of names) held.delete(name)
  await writeGrants(dir, grants)
  return names.length === 0 ? undefined : [...held].sort()
}

/**
 * The grants as the gate socket reads them at each request: read again only when the file changed
 * (its inode, size or modification time), so a watch asking twice a second costs a stat.
 */
export class GrantsReader {
  readonly #dir: string
  #held: { key: string; grants: GateGrants } | undefined

  constructor(dir: string) {
    this.#dir = dir
  }

  async read(): Promise<GateGrants> {
    let key: string
    try {
      const stats = await lstat(path.join(this.#dir, GRANTS_FILE), { bigint: true })
      key = `${stats.ino}:${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}`
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      key = 'none'
    }
    if (this.#held?.key === key) return this.#held.grants
    const grants = await readGrants(this.#dir)
    this.#held = { key, grants }
    return grants
  }
}
