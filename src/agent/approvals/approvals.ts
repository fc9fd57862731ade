/**
 * The agent's approval page: actions waiting for their actor's security key (WebAuthn). A caller
 * asks for an approval (the control socket's `approve`); the action waits, listed in plain words
 * on the loopback page (src/webauthn startApprovalServer, http://localhost:PORT/, RP ID
 * `localhost`), until its actor approves it there — then it is appended to the own feed with the
 * assertion as its actor proof — or the approval timeout passes, or the caller hangs up. The
 * ledger checks the proof again when it appends (the enrolled key, and the counter along the
 * feed): the page's own check is against a counter of 0, it knows no history.
 */
import { AbortedError, UsageError, toHex, type Random } from '../../common/index.js'
import { encodeActorProof, type AppendInput } from '../../ledger/index.js'
import {
  ClonedAuthenticatorError,
  NotPendingError,
  startApprovalServer,
  type Approval,
  type ApprovalServer,
  type PendingAction,
  type Refusal
} from '../../webauthn/index.js'
import { ActorRoleMismatchError, type EnrolledActor } from '../membership/index.js'
import type { Logger } from '../ops/index.js'
import {
  ApprovalsFullError,
  ApprovalsOffError,
  ApprovalTimeoutError,
  ApproverKindError,
  ApproverRevokedError,
  ApproverRpIdError,
  ApproverUnknownError
} from './errors.js'
import { APPROVALS_LIMITS } from './limits.js'
import type { PreparedAction } from './prepared-action.js'

/** The relying party of the loopback page: browsers run WebAuthn over plain http only on localhost. */
export const APPROVAL_RP_ID = 'localhost'

export interface ApprovalsComponents {
  /** The owner's enrolled actors (Membership.actors). */
  actors: { get(actorId: string): EnrolledActor | undefined }
  /** The own feed: an approved action is appended there with its proof (and checked again). */
  ledger: { append(input: AppendInput): Promise<{ seq: number; hash: Uint8Array }> }
  random: Random
  logger?: Logger
}

export interface ApprovalsInit {
  /** TCP port of the page on 127.0.0.1; 0 picks a free one (`url` names it). */
  port: number
  /** How long an action waits for its approval, ms (default and most: APPROVALS_LIMITS.approvalTimeoutMs). */
  timeoutMs?: number
  /** How long the page's ceremony waits for the key, ms (the webauthn module's default). */
  ceremonyTimeoutMs?: number
}

/** Where an approved action goes: its entry's place in the own feed. */
export interface Placed {
  seq: number
  hash: Uint8Array
}

interface Waiting {
  readonly pending: PendingAction
  readonly action: PreparedAction
  /** Takes it off the page and stops its timer and abort listener. */
  readonly settle: () => void
  readonly resolve: (placed: Placed) => void
  readonly reject: (error: unknown) => void
}

export class Approvals {
  private readonly components: ApprovalsComponents
  private readonly init: ApprovalsInit
  private readonly timeoutMs: number
  private readonly waiting = new Map<string, Waiting>()
  private server: ApprovalServer | undefined
  private state: 'new' | 'started' | 'stopped' = 'new'

  constructor(components: ApprovalsComponents, init: ApprovalsInit) {
    this.components = components
    this.init = init
    const timeoutMs = init.timeoutMs ?? APPROVALS_LIMITS.approvalTimeoutMs
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > APPROVALS_LIMITS.approvalTimeoutMs)
      throw new UsageError(`the approval timeout must be 1..${APPROVALS_LIMITS.approvalTimeoutMs} ms`)
    this.timeoutMs = timeoutMs
  }

  /** The approval page, while it runs. */
  get url(): string | undefined {
    return this.state === 'started' ? this.server?.url : undefined
  }

  /** Actions waiting for their approval now. */
  get pendingCount(): number {
    return this.waiting.size
  }

  /** Starts the page. Idempotent. */
  async start(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.state !== 'new') return
    this.server = await startApprovalServer(
      {
        port: this.init.port,
        rpId: APPROVAL_RP_ID,
        ceremonyTimeoutMs: this.init.ceremonyTimeoutMs,
        pending: () => [...this.waiting.values()].map((waiting) => waiting.pending),
        onAssertion: async (approval) => await this.approved(approval),
        onRefusal: (refusal) => this.refused(refusal)
      },
      options
    )
    this.state = 'started'
  }

  /** Stops the page; every action still waiting is refused (AbortedError), nothing of it appended. Idempotent. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return
    this.state = 'stopped'
    for (const waiting of [...this.waiting.values()]) {
      waiting.settle()
      waiting.reject(new AbortedError('the agent stopped before the action was approved'))
    }
    await this.server?.close()
  }

  /**
   * Puts `action` on the page for its actor and resolves once it is approved and appended (the
   * ledger's refusal of it, if any, rejects). Refused at once: approvals not running
   * (ApprovalsOffError), an actor unknown, revoked, in another role, without a security key or
   * with one for another relying party, too many actions waiting. Later: ApprovalTimeoutError,
   * or AbortedError when `signal` aborts (the caller hung up) or the page stops.
   */
  async request(action: PreparedAction, options: { signal?: AbortSignal } = {}): Promise<Placed> {
    if (this.state !== 'started') throw new ApprovalsOffError()
    options.signal?.throwIfAborted()
    const credential = this.credentialOf(action.actor)
    if (this.waiting.size >= APPROVALS_LIMITS.maxPending) throw new ApprovalsFullError(APPROVALS_LIMITS.maxPending)
    const id = toHex(this.components.random.bytes(16))
    const pending: PendingAction = {
      id,
      type: action.type,
      actor: action.actor.id,
      body: action.body,
      signingBytes: action.statement,
      credential
    }
    const { signal } = options
    return await new Promise<Placed>((resolve, reject) => {
      const timer = setTimeout(() => {
        settle()
        reject(new ApprovalTimeoutError(id, action.actor.id, this.timeoutMs))
      }, this.timeoutMs)
      const onAbort = (): void => {
        settle()
        reject(new AbortedError('the caller withdrew the action before it was approved'))
      }
      const settle = (): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        this.waiting.delete(id)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.waiting.set(id, { pending, action, settle, resolve, reject })
      this.components.logger?.info(
        { id, type: action.type, actor: action.actor.id },
        'an action waits for its approval on the page'
      )
    })
  }

  /** The actor's enrolled security key, as the page verifies against it; refused with the reason. */
  private credentialOf(actor: PreparedAction['actor']): PendingAction['credential'] {
    const enrolled = this.components.actors.get(actor.id)
    if (enrolled === undefined) throw new ApproverUnknownError(actor.id)
    if (enrolled.revoked !== undefined) throw new ApproverRevokedError(actor.id, enrolled.revoked.reason)
    if (enrolled.role !== actor.role) throw new ActorRoleMismatchError(actor.id, enrolled.role, actor.role)
    if (enrolled.kind !== 'webauthn' || enrolled.credentialId === undefined)
      throw new ApproverKindError(actor.id, enrolled.kind)
    if (enrolled.rpId !== APPROVAL_RP_ID) throw new ApproverRpIdError(actor.id, enrolled.rpId ?? '', APPROVAL_RP_ID)
    return { credentialId: enrolled.credentialId, publicKey: enrolled.publicKey, counter: 0 }
  }

  /**
   * A verified approval: the action leaves the page (a second answer finds it no longer pending)
   * and is appended with the assertion as its proof. The ledger's refusal refuses the approval on
   * the page too, and answers the caller.
   */
  private async approved(approval: Approval): Promise<void> {
    const waiting = this.waiting.get(approval.action.id)
    if (waiting === undefined) throw new NotPendingError('action', approval.action.id)
    waiting.settle()
    const { action } = waiting
    try {
      const placed = await this.components.ledger.append({
        type: action.type,
        actor: action.actor,
        attest: null,
        body: action.body,
        proof: encodeActorProof({ kind: 'webauthn', at: action.at, sig: approval.stored })
      })
      waiting.resolve(placed)
      this.components.logger?.info(
        { id: approval.action.id, type: action.type, actor: action.actor.id, seq: placed.seq },
        'an approved action was appended'
      )
    } catch (error) {
      waiting.reject(error)
      throw error
    }
  }

  private refused(refusal: Refusal): void {
    const { error } = refusal
    const context = { code: error.code, id: refusal.action?.id, actor: refusal.action?.actor, err: error.message }
    if (error instanceof ClonedAuthenticatorError) {
      this.components.logger?.warn(
        {
          ...context,
          credentialId: error.credentialId,
          storedCounter: error.storedCounter,
          receivedCounter: error.receivedCounter
        },
        'an approval was refused: the security key may be cloned'
      )
    } else this.components.logger?.info(context, 'an approval was refused')
  }
}
