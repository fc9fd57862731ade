/**
 * Whether process `pid` exists, by signal 0: it is there when the signal could be sent, or when
 * sending it was refused (EPERM: it is another user's); gone on ESRCH.
 */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
