/**
 * The two /proc texts that date a process (proc(5)): /proc/PID/stat, whose field 22 is the
 * process's start time, and /proc/uptime. Both count from boot on the same clock (CLOCK_BOOTTIME,
 * shifted alike inside a time namespace), so a start time can be compared with a moment read here.
 */
import { ProcFormatError } from './errors.js'

/**
 * Clock ticks per second of the times in /proc: USER_HZ, which Linux fixes at 100 for user space
 * on every architecture (sysconf(_SC_CLK_TCK)).
 */
export const CLOCK_TICKS_PER_SECOND = 100

export interface ProcessStat {
  pid: number
  /** Field 3: R, S, D, Z (zombie: exited, not yet reaped), X (dead), … */
  state: string
  /** Field 22: when the process started, in clock ticks after boot. */
  startTime: number
}

/**
 * Parses /proc/PID/stat. Field 2 is the command name in parentheses and may itself hold spaces
 * and parentheses (a process names itself), so fields are counted after the last ')'.
 */
export function parseProcessStat(text: string, file = '/proc/PID/stat'): ProcessStat {
  const open = text.indexOf(' (')
  const close = text.lastIndexOf(')')
  const pid = text.slice(0, open)
  if (open < 1 || close < open || !/^[1-9]\d{0,9}$/.test(pid)) throw new ProcFormatError(file, text.slice(0, 64))
  // After ") " come fields 3, 4, …: field 22 is the 20th.
  const fields = text.slice(close + 2).split(' ')
  const state = fields[0] ?? ''
  const startTime = fields[19] ?? ''
  if (text[close + 1] !== ' ' || !/^[A-Za-z]$/.test(state) || !/^(0|[1-9]\d{0,17})$/.test(startTime))
    throw new ProcFormatError(file, text.slice(0, 64))
  return { pid: Number(pid), state, startTime: Number(startTime) }
}

/**
 * /proc/uptime's first field, the seconds since boot with two decimals, in clock ticks. Both it
 * and a start time truncate to the tick, so a process that started before this moment has a start
 * time no greater than the value returned.
 */
export function parseUptimeTicks(text: string): number {
  const match = /^(0|[1-9]\d{0,12})\.(\d\d) (0|[1-9]\d{0,14})\.\d\d\n?$/.exec(text)
  if (match === null) throw new ProcFormatError('/proc/uptime', text.slice(0, 64))
  return Number(match[1]) * CLOCK_TICKS_PER_SECOND + Number(match[2])
}
