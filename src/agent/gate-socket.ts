/**
 * The gate socket: where a workload that runs as its own user asks the gate (gate.check,
 * gate.admit, gate.stop; `fleet exec --gate FILE`). The control socket admits the agent's user
 * only, and a workload running as that user could ask it anything (every secret, the agent's
 * appends); the gate socket is for the others. Anyone may connect (mode 0666: the folder it is in
 * may narrow that); what a caller may do is its uid's grant (DIR/gate-grants.json, `fleet gate
 * allow`), with the uid as the kernel names it (SO_PEERCRED), never as the caller says. A uid
 * without a grant is refused everything, and a workload gets only the secrets granted to its uid.
 */
import { lstat } from 'node:fs/promises'
import type net from 'node:net'
import path from 'node:path'
import { peerCredentials as nativePeerCredentials, type PeerCredentials } from '../attest/index.js'
import { makeDirectory, steadyClock, type Clock } from '../common/index.js'
import { unixSocketDescriptor } from './caller/index.js'
import { ControlError } from './control-error.js'
import { gateCommand, type ControlGate } from './control-gate.js'
import { GATE_LIMITS, GrantsReader } from './gate/index.js'
import { errorAnswer, lineRequest, serveLines, type LineHandler } from './line-socket.js'
import { ConfigError, type Logger } from './ops/index.js'

const COMMANDS = ['gate.check', 'gate.admit', 'gate.stop'] as const

export interface GateSocketInit {
  /** The gate; without one (not enrolled) every request is refused with ERR_GATE_OFF. */
  gate: ControlGate | undefined
  /** The state directory, whose gate-grants.json says who may do what. */
  dir: string
  logger?: Logger
  /** Default: the native binding's SO_PEERCRED. */
  peerCredentials?: (fd: number) => PeerCredentials
  /** For the admission rate. Default: steadyClock (it never steps). */
  clock?: Clock
}

/**
 * Counts by key in the current minute (a fixed window), allowing `perMinute` a key. Bounded: at
 * most `maxKeys` keys are counted (a key beyond is allowed, not remembered), and a new minute
 * starts a new table.
 */
class MinuteCounts {
  #window = -1
  readonly #counts = new Map<number, number>()
  constructor(
    private readonly perMinute: number,
    private readonly maxKeys: number
  ) {}
  /** Counts one for `key` at `now`; false when that passes the allowance. */
  take(key: number, now: number): boolean {
    const window = Math.floor(now / 60_000)
    if (window !== this.#window) {
      this.#window = window
      this.#counts.clear()
    }
    const used = (this.#counts.get(key) ?? 0) + 1
    if (this.#counts.size < this.maxKeys || this.#counts.has(key)) this.#counts.set(key, used)
    return used <= this.perMinute
  }
}

/** Serves the gate socket at `file` (its folder made 0755 when missing) until close(). */
export async function startGateSocket(file: string, init: GateSocketInit): Promise<{ close: () => Promise<void> }> {
  const { logger } = init
  const credentials = init.peerCredentials ?? nativePeerCredentials
  const clock = init.clock ?? steadyClock
  const grants = new GrantsReader(init.dir)
  // A user granted the gate socket cannot fill the device's feed with workload.start and
  // workload.stop entries (only granted uids, at most GATE_LIMITS.maxGrantUids, get that far).
  const admissions = new MinuteCounts(GATE_LIMITS.admissionsPerUidPerMinute, GATE_LIMITS.maxGrantUids)
  const countAdmission = (uid: number): void => {
    if (!admissions.take(uid, clock.now()))
      throw new ControlError(
        `uid ${uid} asked for ${GATE_LIMITS.admissionsPerUidPerMinute} workload starts this minute already (the most a minute)`,
        'ERR_GATE_RATE'
      )
  }
  // Anyone may be refused, as often as they like: the log says so a bounded number of times a minute.
  const refusalLogs = new MinuteCounts(GATE_LIMITS.refusalLogsPerMinute, 1)
  // Open connections by uid: one user cannot hold the socket from the others (a workload's watch
  // that cannot connect would stop it).
  const open = new Map<number, number>()
  await makeDirectory(path.dirname(file), { mode: 0o755 })
  // In a folder others may write to, another user could put a file or link where the socket goes.
  const folder = await lstat(path.dirname(file))
  if (!folder.isDirectory() || (folder.mode & 0o022) !== 0)
    throw new ConfigError(
      'gateSocket',
      `${path.dirname(file)} is not a folder only its owner writes to (it is ${(folder.mode & 0o777).toString(8)}): put the gate socket in one, as /run/fleet-agent`
    )
  const accept = (socket: net.Socket): LineHandler | { answer: Record<string, unknown> } => {
    // Taken before anything is read, while the descriptor surely is this connection's.
    let caller: PeerCredentials | { error: unknown }
    try {
      caller = credentials(unixSocketDescriptor(socket))
    } catch (error) {
      caller = { error }
    }
    if (!('error' in caller)) {
      const { uid } = caller
      const count = open.get(uid) ?? 0
      if (count >= GATE_LIMITS.gateConnectionsPerUid)
        return {
          answer: errorAnswer(
            new ControlError(
              `uid ${uid} has ${count} gate-socket connections open already (the most at once)`,
              'ERR_GATE_BUSY'
            )
          )
        }
      open.set(uid, count + 1)
      socket.once('close', () => {
        const left = (open.get(uid) ?? 1) - 1
        if (left === 0) open.delete(uid)
        else open.set(uid, left)
      })
    }
    return async (line) => {
      try {
        if ('error' in caller) throw caller.error
        const { pid, uid } = caller
        let request: Record<string, unknown>
        try {
          request = JSON.parse(line) as Record<string, unknown>
        } catch {
          throw new ControlError('the request is not JSON', 'ERR_BAD_REQUEST')
        }
        if (typeof request !== 'object' || request === null || !COMMANDS.includes(request.cmd as never))
          throw new ControlError(
            `the gate socket answers ${COMMANDS.join(', ')} only, not ${JSON.stringify(request?.cmd)?.slice(0, 32)}`,
            'ERR_BAD_REQUEST'
          )
        return await gateCommand(
          request.cmd as (typeof COMMANDS)[number],
          request,
          {
            caller: { pid, uid },
            gateSocket: { grants: async () => await grants.read(), countAdmission },
            log: (fields, message) => logger?.info({ ...fields, uid, pid, socket: 'gate' }, message)
          },
          init.gate
        )
      } catch (err) {
        if (!(err instanceof ControlError && err.code === 'ERR_BAD_REQUEST') && refusalLogs.take(0, clock.now()))
          logger?.warn(
            {
              code: (err as { code?: unknown }).code,
              err: (err as Error).message.slice(0, 256),
              uid: 'error' in caller ? undefined : caller.uid,
              socket: 'gate'
            },
            'a gate-socket request was refused'
          )
        return errorAnswer(err)
      }
    }
  }
  return await serveLines({
    file,
    mode: 0o666,
    maxConnections: GATE_LIMITS.gateSocketConnections,
    requestIdleMs: GATE_LIMITS.gateRequestIdleMs,
    accept
  })
}

/** Sends one request to the gate socket `file`; ControlError when no agent answers there. */
export async function gateRequest(
  file: string,
  request: Record<string, unknown>,
  timeoutMs = 35_000
): Promise<Record<string, unknown>> {
  return await lineRequest(file, request, { timeoutMs, absent: `no agent serves the gate socket ${file}` })
}
