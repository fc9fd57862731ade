import type net from 'node:net'
import path from 'node:path'
import { MalformedInputError, systemClock, toBase64, toHex, type Clock } from '../common/index.js'
import { multiaddr } from '@multiformats/multiaddr'
import { BASE_ONTOLOGY, LedgerWriteError, ROLES, type Ontology, type Role } from '../ledger/index.js'
import type { Agent } from './agent.js'
import {
  ApprovalsOffError,
  prepareAction,
  proofFromText,
  type Approvals,
  type PreparedAction
} from './approvals/index.js'
import { CallerIdentifier, callerWorkloadProof, type CallerIdentity } from './caller/index.js'
import type { Logger } from './ops/index.js'
import { agentStatus } from './status.js'
import { ControlError } from './control-error.js'
import { gateCommand, type ControlGate } from './control-gate.js'
import { earCommand } from './control-ear.js'
import { errorAnswer, lineRequest, serveLines, type LineHandler } from './line-socket.js'

export { ControlError } from './control-error.js'

/** The running agent's local control socket: DIR/agent.sock, owner-only (0600). */
export const CONTROL_SOCKET = 'agent.sock'
/** How long measuring a caller may take (a caller running an unmeasured 121 MiB Node: about 0.15 s). */
const IDENTIFY_TIMEOUT_MS = 30_000

/** JSON body → entry body: hex strings become bytes where the action's schema wants bytes. */
export function bodyFromJson(
  type: string,
  value: unknown,
  ontology: Ontology = BASE_ONTOLOGY
): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new MalformedInputError('the body must be a JSON object', { code: 'ERR_BAD_BODY' })
  const spec = Object.hasOwn(ontology.actions, type) ? ontology.actions[type] : undefined
  const body: Record<string, unknown> = {}
  for (const [key, field] of Object.entries(value as Record<string, unknown>)) {
    if (spec !== undefined && Object.hasOwn(spec.body, key) && spec.body[key]!.kind === 'bytes') {
      if (typeof field !== 'string' || !/^([0-9a-f]{2})*$/i.test(field))
        throw new MalformedInputError(`body.${key} must be hex (it is a byte field)`, { code: 'ERR_BAD_BODY' })
      body[key] = new Uint8Array(Buffer.from(field, 'hex'))
    } else {
      body[key] = field
    }
  }
  return body
}

/** What a request comes with besides its text: who sent it, as the kernel names it (src/agent/caller). */
export interface ControlRequestContext {
  caller: CallerIdentity
  /** Aborted when the caller hangs up before its answer: an approval it waits for is withdrawn. */
  signal: AbortSignal
}

export interface ControlServerInit {
  logger?: Logger
  /** Names each connection's caller. Default: a CallerIdentifier on the host's /proc. */
  identifier?: Pick<CallerIdentifier, 'identify'>
  /** The agent's clock: the time a prepared action is signed at. Default: the system clock. */
  clock?: Clock
  /** The approval page (src/agent/approvals), when the agent's config enables it; without, `approve` is refused. */
  approvals?: Pick<Approvals, 'request' | 'url'>
  /** The workload gate and the secrets (src/agent/gate); without, `gate.*` and `secret.seal` are refused. */
  gate?: ControlGate
}

/** The roles of persons, who sign their own actions (prepare, approve, append with a proof). */
const PERSONS: readonly string[] = ['operator', 'auditor']

/** The action a request names: its type and actor (the body is converted with the ontology). */
function askedAction(request: Record<string, unknown>): { type: string; actor: { id: string; role: Role } } {
  const actor = request.actor as { id?: unknown; role?: unknown } | undefined
  if (
    typeof request.type !== 'string' ||
    typeof actor?.id !== 'string' ||
    actor.id.length === 0 ||
    actor.id.length > 128 ||
    !(ROLES as readonly string[]).includes(actor.role as string)
  ) {
    throw new ControlError(`${String(request.cmd)} needs type, actor {id, role}, body`, 'ERR_BAD_REQUEST')
  }
  return { type: request.type, actor: { id: actor.id, role: actor.role as Role } }
}

/** The answer to every request of a connection whose caller could not be identified. */
function refusal(err: unknown): Record<string, unknown> {
  return {
    ...errorAnswer(err, 'ERR_CALLER_UNIDENTIFIED'),
    error: `the caller could not be identified: ${err instanceof Error ? err.message : String(err)}`
  }
}

/**
 * Serves the control socket: one JSON request line per connection, one JSON answer line.
 *   {cmd: 'status'}                                     with `approvalPage` when approvals are on
 *   {cmd: 'prepare', type, actor: {id, role}, body}     → {statement (base64), at, fleet (hex), device}:
 *                                                         the statement the actor signs (checked first)
 *   {cmd: 'append', type, actor: {id, role}, body, proof?}  roles operator, auditor (with their
 *                                                         proof) and service (the agent's
 *                                                         measurement of the caller is its proof)
 *                                                       resolves once the entry is sealed; `proof`: the
 *                                                         actor's proof (base64), checked by the ledger
 *   {cmd: 'approve', type, actor: {id, role}, body}     waits for the actor's security key on the
 *                                                         approval page, then appends as `append` does
 *   {cmd: 'secret.seal', name, value (base64), replace?}  seals a workload secret in the TPM (gate/)
 *   {cmd: 'gate.check', quorum?}                        → {reasons}: why a workload may not run now (none: it may)
 *   {cmd: 'gate.admit', exe, exeDigest, secrets, quorum?}  → {secrets: {name: base64}}, the start recorded;
 *                                                         refused with every reason (ERR_GATE_REFUSED)
 *   {cmd: 'gate.stop', exe, exeDigest, reason, exitCode?, signal?}  records the workload's stop
 *   {cmd: 'attest.result', device, nonce?, audience?}  → {token, status, expiresAt, cached}: a signed
 *                                                         EAR about a device this agent attested (ear/)
 *   {cmd: 'attest.keys'}                                → {jwks}: the enrolled, unrevoked devices' DSKs
 *   {cmd: 'dial', address} / {cmd: 'hangup', peerId}
 *   {cmd: 'block', peerId} / {cmd: 'unblock', peerId}   keep a peer out (maintenance, partitions)
 * Each connection's caller is identified once, when it is accepted, from the kernel (the process
 * and the digest of its executable); a connection whose caller cannot be is refused on its first
 * request with the reason's code. A refusal answers {ok: false, error, code}, with the code of the
 * typed error (the ledger's, the approvals').
 */
export async function startControlServer(
  runtime: Agent,
  dir: string,
  deviceId: string,
  init: ControlServerInit = {}
): Promise<{ close: () => Promise<void> }> {
  const file = path.join(dir, CONTROL_SOCKET)
  const { logger, approvals } = init
  const clock = init.clock ?? systemClock
  const identifier = init.identifier ?? new CallerIdentifier()
  const accept = (socket: net.Socket): LineHandler => {
    // Before anything it sends is read: the descriptor is taken while it surely is this connection's.
    // Whatever identify() throws, even synchronously, becomes a refusal, never a crash of the agent.
    const identified = new Promise<CallerIdentity>((resolve) =>
      resolve(identifier.identify(socket, { signal: AbortSignal.timeout(IDENTIFY_TIMEOUT_MS) }))
    ).then(
      (caller): { caller: CallerIdentity } => ({ caller }),
      (error: unknown): { error: unknown } => {
        logger?.warn(
          { code: (error as { code?: unknown }).code, err: (error as Error).message },
          'a control connection was refused: its caller could not be identified'
        )
        return { error }
      }
    )
    return async (line, signal) => {
      const outcome = await identified
      return 'error' in outcome ? refusal(outcome.error) : await handle(line, { ...outcome, signal })
    }
  }
  /** Logs a request that writes or signs, with its caller as the kernel names it. */
  const logCaller = (context: ControlRequestContext, fields: Record<string, unknown>, message: string): void => {
    const { caller } = context
    logger?.info(
      { ...fields, uid: caller.uid, pid: caller.pid, exe: caller.exe, exeDigest: toHex(caller.exeDigest) },
      message
    )
  }
  /** The request's action, checked as an entry of the own feed, with the statement its actor signs now. */
  const prepare = (
    request: Record<string, unknown>,
    context: ControlRequestContext,
    message: string
  ): PreparedAction => {
    const { type, actor } = askedAction(request)
    if (!PERSONS.includes(actor.role))
      throw new ControlError(
        `only an operator or auditor signs an action; a ${actor.role} does not (a service appends: the agent measures it)`,
        'ERR_CONTROL_ROLE'
      )
    const { ontology, fleetId } = runtime.membership
    const body = bodyFromJson(type, request.body, ontology)
    const prepared = prepareAction({ fleet: fleetId, device: deviceId, ontology }, { type, actor, body }, clock.now())
    logCaller(context, { type, actor: actor.id }, message)
    return prepared
  }
  const handle = async (line: string, context: ControlRequestContext): Promise<Record<string, unknown>> => {
    try {
      const request = JSON.parse(line) as Record<string, unknown>
      switch (request.cmd) {
        case 'status': {
          const status = await agentStatus(runtime, deviceId)
          if (approvals?.url !== undefined) status.approvalPage = approvals.url
          return { ok: true, status }
        }
        case 'prepare': {
          const prepared = prepare(request, context, 'an action prepared for its actor to sign')
          return {
            ok: true,
            statement: toBase64(prepared.statement),
            at: prepared.at,
            fleet: toHex(runtime.membership.fleetId),
            device: deviceId
          }
        }
        case 'append': {
          const { type, actor } = askedAction(request)
          let proof: Uint8Array | undefined
          if (actor.role === 'service') {
            // A service's word about itself counts for nothing: the agent's measurement of it is its proof.
            if (request.proof !== undefined)
              throw new ControlError(
                "a service's append carries no proof: the agent measures the caller",
                'ERR_BAD_REQUEST'
              )
            proof = callerWorkloadProof(context.caller, clock.now())
          } else if (actor.role === 'owner')
            throw new ControlError(
              "the control socket takes no owner statement: they are written by the owner's own commands",
              'ERR_CONTROL_ROLE'
            )
          else proof = request.proof === undefined ? undefined : proofFromText(request.proof)
          logCaller(
            context,
            { type, role: actor.role, signed: proof !== undefined },
            'append through the control socket'
          )
          try {
            const { seq, hash } = await runtime.feed.ledger.append({
              type,
              actor,
              attest: null,
              body: bodyFromJson(type, request.body, runtime.membership.ontology),
              proof
            })
            await runtime.feed.ledger.whenSealed(seq, { signal: AbortSignal.timeout(30_000) })
            return { ok: true, feed: deviceId, seq, hash: toHex(hash), sealed: true }
          } catch (err) {
            // The caller is told; the operator must be too (a full disk is theirs to fix).
            if (err instanceof LedgerWriteError)
              logger?.warn(
                { code: err.code, err: err.message },
                'an append was refused: the store could not be written'
              )
            throw err
          }
        }
        case 'approve': {
          if (approvals === undefined) throw new ApprovalsOffError()
          const prepared = prepare(request, context, 'an approval asked through the control socket')
          const { seq, hash } = await approvals.request(prepared, { signal: context.signal })
          await runtime.feed.ledger.whenSealed(seq, { signal: AbortSignal.timeout(30_000) })
          return { ok: true, feed: deviceId, seq, hash: toHex(hash), sealed: true }
        }
        case 'secret.seal':
        case 'gate.check':
        case 'gate.admit':
        case 'gate.stop':
          return await gateCommand(
            request.cmd,
            request,
            { caller: context.caller, log: (fields, message) => logCaller(context, fields, message) },
            init.gate
          )
        case 'attest.result':
        case 'attest.keys':
          return await earCommand(request.cmd, request, runtime, { signal: context.signal })
        case 'dial':
          if (typeof request.address !== 'string') throw new ControlError('dial needs an address', 'ERR_BAD_REQUEST')
          await runtime.node.dial(multiaddr(request.address), { signal: AbortSignal.timeout(10_000) })
          return { ok: true }
        case 'hangup':
        case 'block':
        case 'unblock': {
          if (typeof request.peerId !== 'string')
            throw new ControlError(`${request.cmd} needs a peerId`, 'ERR_BAD_REQUEST')
          if (request.cmd === 'block') runtime.block(request.peerId)
          if (request.cmd === 'unblock') runtime.unblock(request.peerId)
          // Who this agent talks to changed by hand: the journal says so (a partition starts or ends here).
          if (request.cmd !== 'hangup')
            logger?.warn(
              { peerId: request.peerId },
              request.cmd === 'block' ? 'a peer was blocked through the control socket' : 'a peer was unblocked'
            )
          if (request.cmd !== 'unblock')
            for (const c of runtime.node.getConnections())
              if (c.remotePeer.toString() === request.peerId) await c.close().catch(() => undefined)
          return { ok: true }
        }
        default:
          throw new ControlError(`unknown command ${JSON.stringify(request.cmd)?.slice(0, 32)}`, 'ERR_BAD_REQUEST')
      }
    } catch (err) {
      return errorAnswer(err)
    }
  }
  return await serveLines({ file, mode: 0o600, accept })
}

/** Sends one request to the running agent of state directory `dir`; ControlError when no agent answers. */
export async function controlRequest(
  dir: string,
  request: Record<string, unknown>,
  timeoutMs = 35_000
): Promise<Record<string, unknown>> {
  return await lineRequest(path.join(dir, CONTROL_SOCKET), request, {
    timeoutMs,
    absent: `no agent is running for ${dir} (fleet run)`
  })
}
