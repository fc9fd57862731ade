/**
 * Callers of the agent's local sockets, named by the kernel: the process at the other end of a
 * Unix socket (SO_PEERCRED) and a measurement of the executable it runs (SHA-256 through
 * /proc/PID/exe), bound to the process's start time so that a reused pid is refused. What this
 * names and what it does not (interpreters, a caller that execs after connecting) is in
 * docs/security.md.
 *
 * @example
 * const identifier = new CallerIdentifier()
 * net.createServer((socket) => {
 *   const caller = identifier.identify(socket) // at once: the descriptor is read synchronously
 *   caller.then((c) => log.info({ pid: c.pid, uid: c.uid, exe: c.exe, exeDigest: toHex(c.exeDigest) }))
 * })
 */
export { CallerIdentifier, identifyCaller } from './identify.js'
export { callerWorkloadProof } from './workload-proof.js'
export type { CallerIdentity, CallerIdentifierInit, ClaimedScript } from './identify.js'
export {
  CallerSocketError,
  CallerExitedError,
  CallerNotVisibleError,
  CallerStartedAfterAcceptError,
  CallerPidReusedError,
  ExecutableDeletedError,
  ExecutableUnreadableError,
  ExecutableTooLargeError,
  FileChangedError,
  ProcFormatError
} from './errors.js'
export { CALLER_LIMITS, type CallerLimits } from './limits.js'
export { linuxProcessFiles } from './process-files.js'
export type { ProcessFiles, OpenFile, FileStatus, FileIdentity } from './process-files.js'
export { CLOCK_TICKS_PER_SECOND, parseProcessStat, parseUptimeTicks, type ProcessStat } from './proc-stat.js'
export { DigestCache } from './digest-cache.js'
export { isInterpreter, parseCommandLine, scriptArgument } from './interpreter.js'
export { unixSocketDescriptor } from './socket-descriptor.js'
