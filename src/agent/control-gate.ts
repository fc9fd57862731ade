/**
 * The workload-gate commands (src/agent/gate): secret.seal, gate.check, gate.admit, gate.stop, as
 * `fleet secret` and `fleet exec` send them to the control socket (the agent's own user: every
 * secret), and gate.check/admit/stop to the gate socket (any local user, with the secrets granted
 * to its uid only). Refused with ERR_GATE_OFF on an agent that runs no gate (not enrolled).
 */
import { toBase64 } from '../common/index.js'
import { ControlError } from './control-error.js'
import {
  checkQuorum,
  checkSecretName,
  NotGrantedError,
  type Gate,
  type GateGrants,
  type SecretListing
} from './gate/index.js'

/** What the control socket serves of the gate. */
export interface ControlGate {
  gate: Pick<Gate, 'admit' | 'reasons' | 'stopped' | 'isAdmitted'>
  seal: (name: string, value: Uint8Array, replace: boolean) => Promise<SecretListing>
}

/** The caller of a gate command, as the kernel names it (SO_PEERCRED). */
export interface GateCaller {
  pid: number
  uid: number
}

/**
 * Where a gate command comes from: its caller, how to log what it asked, and on the gate socket
 * what its uid is granted (without: the control socket, whose caller is the agent's own user).
 */
export interface GateRequestContext {
  caller: GateCaller
  log: (fields: Record<string, unknown>, message: string) => void
  gateSocket?: {
    /** The grants of the moment (read only when a command needs them). */
    grants: () => Promise<GateGrants>
    /** Counts an admission asked by `uid`; throws when it asks too often. */
    countAdmission: (uid: number) => void
  }
}

/** A gate request's quorum (0 when not given). */
function quorumOf(request: Record<string, unknown>): number {
  const quorum = request.quorum ?? 0
  checkQuorum(quorum as number)
  return quorum as number
}

/** A gate request's program: its path and digest as `fleet exec` read them; pid and uid are the caller's, as the kernel names them. */
function workloadOf(
  request: Record<string, unknown>,
  caller: GateCaller
): { exe: string; exeDigest: Uint8Array; pid: number; uid: number } {
  const { exe, exeDigest } = request
  if (typeof exe !== 'string' || exe.length === 0 || typeof exeDigest !== 'string' || !/^[0-9a-f]{64}$/.test(exeDigest))
    throw new ControlError('a gate request needs exe and exeDigest (64 hex digits)', 'ERR_BAD_REQUEST')
  return { exe, exeDigest: new Uint8Array(Buffer.from(exeDigest, 'hex')), pid: caller.pid, uid: caller.uid }
}

/** On the gate socket: the caller's grant (NotGrantedError without one), and each secret asked for in it. */
async function checkGrant(context: GateRequestContext, secrets: readonly string[]): Promise<void> {
  if (context.gateSocket === undefined) return
  const granted = (await context.gateSocket.grants()).get(context.caller.uid)
  if (granted === undefined) throw new NotGrantedError(context.caller.uid, [])
  const missing = [...new Set(secrets)].filter((name) => !granted.has(name))
  if (missing.length > 0) throw new NotGrantedError(context.caller.uid, missing)
}

/** Answers gate command `cmd`. */
export async function gateCommand(
  cmd: 'secret.seal' | 'gate.check' | 'gate.admit' | 'gate.stop',
  request: Record<string, unknown>,
  context: GateRequestContext,
  gate: ControlGate | undefined
): Promise<Record<string, unknown>> {
  if (gate === undefined)
    throw new ControlError('this agent runs no workload gate (it is not enrolled)', 'ERR_GATE_OFF')
  const { caller } = context
  switch (cmd) {
    case 'secret.seal': {
      if (context.gateSocket !== undefined)
        throw new ControlError('secrets are sealed through the control socket only', 'ERR_BAD_REQUEST')
      const { name, value, replace } = request
      if (typeof name !== 'string' || typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value))
        throw new ControlError('secret.seal needs a name and a base64 value', 'ERR_BAD_REQUEST')
      const bytes = new Uint8Array(Buffer.from(value, 'base64'))
      try {
        context.log({ secretName: name }, 'a secret sealed through the control socket')
        return { ok: true, secret: await gate.seal(name, bytes, replace === true) }
      } finally {
        bytes.fill(0)
      }
    }
    case 'gate.check': {
      const quorum = quorumOf(request)
      // A workload admitted goes on being watched whatever becomes of its user's grant (a grant
      // withdrawn, or a grants file being mended, refuses the next start, not a running workload).
      if (!gate.gate.isAdmitted(caller.pid, caller.uid)) await checkGrant(context, [])
      return { ok: true, reasons: await gate.gate.reasons(quorum) }
    }
    case 'gate.admit': {
      const workload = workloadOf(request, context.caller)
      if (!Array.isArray(request.secrets) || !request.secrets.every((n) => typeof n === 'string'))
        throw new ControlError('gate.admit needs secrets: a list of names', 'ERR_BAD_REQUEST')
      // Names first: a name no secret can have is refused as input, never quoted back at length.
      for (const name of request.secrets as string[]) checkSecretName(name)
      await checkGrant(context, request.secrets as string[])
      context.gateSocket?.countAdmission(caller.uid)
      const secrets = await gate.gate.admit({
        ...workload,
        secrets: request.secrets as string[],
        quorum: quorumOf(request)
      })
      context.log({ exe: workload.exe.slice(0, 256), secrets: [...secrets.keys()] }, 'a workload admitted by the gate')
      const answer: Record<string, string> = {}
      for (const [name, value] of secrets) {
        answer[name] = toBase64(value)
        value.fill(0)
      }
      return { ok: true, secrets: answer }
    }
    case 'gate.stop': {
      const { reason, exitCode, signal } = request
      if (typeof reason !== 'string') throw new ControlError('gate.stop needs a reason', 'ERR_BAD_REQUEST')
      await gate.gate.stopped({
        pid: context.caller.pid,
        uid: context.caller.uid,
        reason,
        exitCode:
          typeof exitCode === 'number' && Number.isSafeInteger(exitCode) && exitCode >= 0 ? exitCode : undefined,
        signal: typeof signal === 'string' ? signal : undefined
      })
      return { ok: true }
    }
  }
}
