/** What a process has used so far, from Linux's /proc (for simnet's reports and the benches). */
import { readFile } from 'node:fs/promises'

/** Linux reports CPU time in /proc in units of USER_HZ, 100 a second on every architecture. */
const USER_HZ = 100

export interface Usage {
  cpuSec: number
  minorFaults: number
}

/** CPU time (user + system) and minor page faults of a process so far, all its threads, from /proc/PID/stat. */
export async function processUsage(pid: number): Promise<Usage> {
  // Fields after "pid (comm) ": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime …
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ')
  const [minorFaults, utime, stime] = [fields[7], fields[11], fields[12]].map(Number) as [number, number, number]
  if (![minorFaults, utime, stime].every(Number.isFinite))
    throw new Error(`cannot read the CPU time or faults of process ${pid}`)
  return { cpuSec: (utime + stime) / USER_HZ, minorFaults }
}
