/**
 * Why a caller could not be identified. Each is a refusal: the control socket answers the
 * connection's first request with the error's code and serves nothing on it.
 */
import { FleetError } from '../../common/index.js'

/** Thrown when the connection has no descriptor of a Unix socket to ask the kernel about. */
export class CallerSocketError extends FleetError {
  constructor(readonly reason: string) {
    super(`the caller cannot be identified: ${reason}`, { code: 'ERR_CALLER_SOCKET' })
  }
}

/** Thrown when the caller exited before it was measured (its pid is gone or a zombie). */
export class CallerExitedError extends FleetError {
  constructor(readonly pid: number) {
    super(`the caller (pid ${pid}) exited before it could be measured`, { code: 'ERR_CALLER_EXITED' })
  }
}

/**
 * Thrown when the caller's /proc entry cannot be found and it runs as another user than the
 * agent: it exited, or /proc hides other users' processes from the agent (mounted with hidepid,
 * as systemd's ProtectProc=invisible does). Run the client as the agent's user.
 */
export class CallerNotVisibleError extends FleetError {
  constructor(
    readonly pid: number,
    readonly uid: number,
    readonly agentUid: number
  ) {
    super(
      `the caller (pid ${pid}, uid ${uid}) cannot be seen by the agent (uid ${agentUid}): it exited, or /proc ` +
        `hides other users' processes (hidepid, ProtectProc=invisible); run it as the agent's user`,
      { code: 'ERR_CALLER_NOT_VISIBLE' }
    )
  }
}

/**
 * Thrown when the process that holds the caller's pid started after the connection was accepted:
 * it cannot be the process that connected, so the pid was reused.
 */
export class CallerStartedAfterAcceptError extends FleetError {
  constructor(
    readonly pid: number,
    /** Its start time, in clock ticks after boot. */
    readonly startTime: number,
    /** The uptime when the connection was being identified, in clock ticks. */
    readonly acceptedAt: number
  ) {
    super(`pid ${pid} started (tick ${startTime}) after the connection was accepted (tick ${acceptedAt})`, {
      code: 'ERR_CALLER_PID_REUSED'
    })
  }
}

/**
 * Thrown when the pid's start time changed while it was measured: another process took the pid,
 * and the executable read may be that process's.
 */
export class CallerPidReusedError extends FleetError {
  constructor(
    readonly pid: number,
    readonly startTimeBefore: number,
    readonly startTimeAfter: number
  ) {
    super(`pid ${pid} changed hands while it was measured (start tick ${startTimeBefore}, then ${startTimeAfter})`, {
      code: 'ERR_CALLER_PID_REUSED'
    })
  }
}

/**
 * Thrown when the caller runs from a file with no name left (unlinked or replaced by a rename
 * after it started, or a memfd): nobody can find those bytes again to check or audit them.
 */
export class ExecutableDeletedError extends FleetError {
  constructor(
    readonly pid: number,
    /** The path the kernel shows, with its " (deleted)". */
    readonly exe: string
  ) {
    super(`the caller (pid ${pid}) runs a deleted executable: ${exe}`, { code: 'ERR_EXECUTABLE_DELETED' })
  }
}

/** Thrown when /proc/PID/exe cannot be read (a kernel thread, or a process we may not inspect). */
export class ExecutableUnreadableError extends FleetError {
  constructor(
    readonly pid: number,
    /** The error code of the failed read (EACCES, ENOENT, …). */
    readonly errno: string
  ) {
    super(`the executable of the caller (pid ${pid}) cannot be read: ${errno}`, { code: 'ERR_EXECUTABLE_UNREADABLE' })
  }
}

/** Thrown when the executable is larger than the agent measures (CALLER_LIMITS.maxExecutableBytes). */
export class ExecutableTooLargeError extends FleetError {
  constructor(
    readonly pid: number,
    readonly exe: string,
    readonly size: number,
    readonly limit: number
  ) {
    super(`the executable of the caller (pid ${pid}) is ${size} bytes, over the limit of ${limit}: ${exe}`, {
      code: 'ERR_EXECUTABLE_TOO_LARGE'
    })
  }
}

/** Thrown when a file changed (size, times or identity) while it was hashed: the digest names no one version. */
export class FileChangedError extends FleetError {
  constructor(
    readonly file: string,
    readonly detail: string
  ) {
    super(`${file} changed while it was measured: ${detail}`, { code: 'ERR_FILE_CHANGED' })
  }
}

/** Thrown when a /proc file does not have the format the kernel documents (proc(5)). */
export class ProcFormatError extends FleetError {
  constructor(
    readonly file: string,
    /** The start of what was read. */
    readonly text: string
  ) {
    super(`${file} is not in the format of proc(5): ${JSON.stringify(text)}`, { code: 'ERR_PROC_FORMAT' })
  }
}
