/**
 * Who is calling on a Unix socket, from the kernel alone: SO_PEERCRED names the process that
 * connected (pid, uid, gid), and the agent measures the executable that process runs through
 * /proc/PID/exe. Nothing the caller says is used, except the script an interpreter was started
 * with, which is recorded as the caller's own word (interpreter.ts).
 *
 * A pid is only a name until the process exits and another takes it. The identity is bound to the
 * process's start time, read before the measurement and again after it: a changed start time means
 * the pid changed hands mid-way and the measurement is refused. A process that started after the
 * connection was accepted cannot be the one that connected, and is refused too.
 */
import type { Socket } from 'node:net'
import { AbortedError } from '../../common/index.js'
import { peerCredentials as nativePeerCredentials, type PeerCredentials } from '../../attest/index.js'
import {
  CallerExitedError,
  CallerNotVisibleError,
  CallerPidReusedError,
  CallerStartedAfterAcceptError,
  ExecutableDeletedError,
  ExecutableTooLargeError,
  ExecutableUnreadableError,
  ProcFormatError
} from './errors.js'
import { CALLER_LIMITS, type CallerLimits } from './limits.js'
import { linuxProcessFiles, type OpenFile, type ProcessFiles } from './process-files.js'
import { parseProcessStat, parseUptimeTicks, type ProcessStat } from './proc-stat.js'
import { DigestCache } from './digest-cache.js'
import { digestOpenFile } from './file-digest.js'
import { isInterpreter, parseCommandLine, scriptArgument } from './interpreter.js'
import { unixSocketDescriptor } from './socket-descriptor.js'

/** The script an interpreter says it runs: the process's own word, not a measurement of what it runs. */
export interface ClaimedScript {
  /** argv[1], as the process gives it (relative to its working directory when not absolute). */
  path: string
  /** SHA-256 of that file as it is now; undefined when it cannot be read, is not a regular file or is too large. */
  digest?: Uint8Array | undefined
}

export interface CallerIdentity {
  pid: number
  uid: number
  gid: number
  /**
   * The executable's path as the kernel shows it (/proc/PID/exe): where it was when the process
   * started, followed by " (deleted)" if that path has since been unlinked or renamed over.
   */
  exe: string
  /** SHA-256 of the bytes of the file the process was started from (not of what its path names now). */
  exeDigest: Uint8Array
  /** When the process started, in clock ticks after boot (field 22 of /proc/PID/stat): with pid, names it. */
  startTime: number
  /** Set when exe is a known interpreter and argv[1] names a script. */
  script?: ClaimedScript | undefined
}

export interface CallerIdentifierInit {
  /** Default: the host's /proc. */
  processFiles?: ProcessFiles
  /** Default: the native binding's SO_PEERCRED. */
  peerCredentials?: (fd: number) => PeerCredentials
  /** Default: CALLER_LIMITS. */
  limits?: Partial<CallerLimits>
  /** The agent's effective uid, to tell a caller gone from one hidden from it. Default: process.geteuid(). */
  agentUid?: number
}

function errnoOf(err: unknown): string {
  const code = (err as { code?: unknown }).code
  return typeof code === 'string' ? code : 'EIO'
}

function checkSignal(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new AbortedError('caller identification was aborted')
}

/**
 * Identifies the callers of one server; holds the table of digests already measured, so a program
 * that calls often is hashed once per version of its executable.
 */
export class CallerIdentifier {
  readonly #files: ProcessFiles
  readonly #credentials: (fd: number) => PeerCredentials
  readonly #limits: CallerLimits
  readonly #digests: DigestCache
  readonly #agentUid: number

  constructor(init: CallerIdentifierInit = {}) {
    this.#agentUid = init.agentUid ?? process.geteuid?.() ?? -1
    this.#files = init.processFiles ?? linuxProcessFiles
    this.#credentials = init.peerCredentials ?? nativePeerCredentials
    this.#limits = { ...CALLER_LIMITS, ...init.limits }
    this.#digests = new DigestCache(this.#limits.digestCacheEntries)
  }

  /** Digests held (at most CALLER_LIMITS.digestCacheEntries). */
  get cachedDigests(): number {
    return this.#digests.size
  }

  /**
   * The identity of the process at the other end of `socket`, an accepted connection on a Unix
   * socket server. Call it as soon as the connection is accepted: the descriptor is read at once,
   * while it surely is this connection's. Throws (each a FleetError with a code) CallerSocketError,
   * the peerCredentials errors of src/attest, CallerExitedError, CallerNotVisibleError,
   * CallerStartedAfterAcceptError,
   * CallerPidReusedError, ExecutableDeletedError, ExecutableUnreadableError, ExecutableTooLargeError,
   * FileChangedError, ProcFormatError, AbortedError.
   */
  async identify(socket: Socket, options: { signal?: AbortSignal } = {}): Promise<CallerIdentity> {
    const { pid, uid, gid } = this.#credentials(unixSocketDescriptor(socket))
    const acceptedAt = parseUptimeTicks(await this.#files.uptime())
    const before = await this.#stat(pid).catch((err: unknown) => {
      throw err instanceof CallerExitedError && uid !== this.#agentUid
        ? new CallerNotVisibleError(pid, uid, this.#agentUid)
        : err
    })
    if (before.startTime > acceptedAt) throw new CallerStartedAfterAcceptError(pid, before.startTime, acceptedAt)
    checkSignal(options.signal)
    const { exe, exeDigest } = await this.#measureExecutable(pid)
    checkSignal(options.signal)
    const script = isInterpreter(exe) ? await this.#claimedScript(pid) : undefined
    const after = await this.#stat(pid)
    if (after.startTime !== before.startTime) throw new CallerPidReusedError(pid, before.startTime, after.startTime)
    return { pid, uid, gid, exe, exeDigest, startTime: before.startTime, script }
  }

  async #stat(pid: number): Promise<ProcessStat> {
    let text: string
    try {
      text = await this.#files.stat(pid)
    } catch (err) {
      if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ESRCH') throw new CallerExitedError(pid)
      throw err
    }
    const stat = parseProcessStat(text, `/proc/${pid}/stat`)
    if (stat.pid !== pid) throw new ProcFormatError(`/proc/${pid}/stat`, text.slice(0, 64))
    return stat
  }

  /** Why /proc/PID/exe could not be read: the caller has gone, or it may not be inspected. */
  async #unreadable(pid: number, err: unknown): Promise<Error> {
    if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ESRCH') {
      const exited = await this.#stat(pid).then(
        (stat) => stat.state === 'Z' || stat.state === 'X',
        (statError: unknown) => statError instanceof CallerExitedError
      )
      if (exited) return new CallerExitedError(pid)
    }
    return new ExecutableUnreadableError(pid, errnoOf(err))
  }

  async #measureExecutable(pid: number): Promise<{ exe: string; exeDigest: Uint8Array }> {
    let exe: string
    let file: OpenFile
    try {
      exe = await this.#files.executablePath(pid)
      file = await this.#files.openExecutable(pid)
    } catch (err) {
      throw await this.#unreadable(pid, err)
    }
    try {
      const status = await file.status()
      if (status.links === 0) throw new ExecutableDeletedError(pid, exe)
      if (status.size > BigInt(this.#limits.maxExecutableBytes))
        throw new ExecutableTooLargeError(pid, exe, Number(status.size), this.#limits.maxExecutableBytes)
      const exeDigest = await this.#digests.digest(status, () =>
        digestOpenFile(file, status, exe, this.#limits.readChunkBytes)
      )
      return { exe, exeDigest }
    } finally {
      await file.close().catch(() => undefined)
    }
  }

  /** The script an interpreter names, and its digest when it can be read; never a refusal. */
  async #claimedScript(pid: number): Promise<ClaimedScript | undefined> {
    let path: string | undefined
    try {
      path = scriptArgument(parseCommandLine(await this.#files.commandLine(pid, this.#limits.maxCommandLineBytes)))
    } catch {
      return undefined
    }
    if (path === undefined) return undefined
    let file: OpenFile
    try {
      file = await this.#files.openInProcess(pid, path)
    } catch {
      return { path, digest: undefined }
    }
    try {
      const status = await file.status()
      if (!status.regular || status.size > BigInt(this.#limits.maxScriptBytes)) return { path, digest: undefined }
      const digest = await this.#digests.digest(status, () =>
        digestOpenFile(file, status, path, this.#limits.readChunkBytes)
      )
      return { path, digest }
    } catch {
      return { path, digest: undefined }
    } finally {
      await file.close().catch(() => undefined)
    }
  }
}

/**
 * identify() with a fresh CallerIdentifier: nothing is remembered between calls. A server keeps
 * one CallerIdentifier for all its connections instead.
 */
export async function identifyCaller(
  socket: Socket,
  options: { signal?: AbortSignal; identifier?: CallerIdentifier } = {}
): Promise<CallerIdentity> {
  return await (options.identifier ?? new CallerIdentifier()).identify(socket, { signal: options.signal })
}
