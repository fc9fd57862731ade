import type { IncomingMessage, ServerResponse } from 'node:http'
import { toBase64url, toHex, systemClock, FleetError, UsageError, type Clock } from '../common/index.js'
import { checkNotAborted } from './abort.js'
import { actionChallenge, verifyActionAssertion } from './assertion.js'
import type { AttestationPolicy } from './attestation-policy.js'
import { displayValue, type PageContent, type PageItem } from './approval-page.js'
import type { StoredCredential } from './credential.js'
import { ceremonyTimeout, registrationOptions, verifyEnrolment, type EnrolledCredential } from './enrolment.js'
import { AlreadyInProgressError, MalformedWebAuthnError, NotPendingError } from './errors.js'
import { sendJson, sendPage, statusOf } from './http-answers.js'
import { jsonObject, onlyMembers } from './fields.js'
import { APPROVAL_SERVER_LIMITS } from './limits.js'
import { startLoopbackServer } from './loopback-server.js'
import { checkHost, checkJsonContentType, checkRequestOrigin, ownHosts, readJsonBody } from './request-guard.js'
import { decodeAuthenticationResponse } from './response-json.js'
import { encodeStoredAssertion, type StoredAssertion } from './stored-assertion.js'

/** An action waiting for its actor's approval. */
export interface PendingAction {
  /** Stable id the page posts back (letters, digits, `_`, `-`, `.`, `:`; at most 128). */
  readonly id: string
  /** The action type, as the ledger names it. */
  readonly type: string
  /** Who approves it. */
  readonly actor: string
  /** The action's fields, shown to the approver in plain words (bytes as hex). */
  readonly body: Readonly<Record<string, unknown>>
  /** The exact bytes the approval signs: the challenge is their SHA-256. */
  readonly signingBytes: Uint8Array
  /** The actor's enrolled credential, with its last recorded counter. */
  readonly credential: StoredCredential
}

/** An actor waiting to enrol a security key. */
export interface PendingEnrolment {
  /** Stable id the page posts back (as for PendingAction). */
  readonly id: string
  readonly actorId: string
  /** 16 to 64 random bytes, fresh for this enrolment. */
  readonly challenge: Uint8Array
  /** The actor's credentials already enrolled (the same key is not enrolled twice). */
  readonly excludeCredentialIds?: readonly Uint8Array[]
}

/** A verified approval, handed to onAssertion. */
export interface Approval {
  readonly action: PendingAction
  readonly credentialId: Uint8Array
  readonly assertion: StoredAssertion
  /** The stored form of the assertion (encodeStoredAssertion), for the ledger. */
  readonly stored: Uint8Array
  /** The counter to record for the credential. */
  readonly newCounter: number
  readonly userVerified: boolean
}

/** A refused request, handed to onRefusal: the error carries the evidence (ClonedAuthenticatorError → an alert). */
export interface Refusal {
  readonly error: FleetError
  readonly method: string
  readonly path: string
  /** The pending action the request answered, when it named one. */
  readonly action: PendingAction | undefined
}

export interface ApprovalServerInit {
  /** TCP port on 127.0.0.1; 0 picks a free one. */
  readonly port: number
  /** Only '127.0.0.1': the server never listens beyond loopback. */
  readonly host?: '127.0.0.1'
  /** The relying party id; browsers allow WebAuthn on http:// only for `localhost`. */
  readonly rpId: string
  /** The relying party's name for enrolment prompts (default "fleet"). */
  readonly rpName?: string
  /** The actions waiting now (read on every page load and every approval). */
  readonly pending: () => readonly PendingAction[] | Promise<readonly PendingAction[]>
  /**
   * Called with each verified approval before the page is told; a throw refuses the approval.
   * It MUST record newCounter only if the stored counter is still the one the approval was
   * verified against (approvals of two actions by one key may be verified at the same time).
   */
  readonly onAssertion: (approval: Approval) => void | Promise<void>
  /** Told of every refused request (bad host, origin, body, or a verification refusal). */
  readonly onRefusal?: (refusal: Refusal) => void
  /** Refuse approvals without user verification. Default true. */
  readonly requireUserVerification?: boolean
  /** How long the page's ceremony waits for the key, milliseconds. */
  readonly ceremonyTimeoutMs?: number
  /** Serve the enrolment page (/enrol) too. */
  readonly enrolment?: {
    readonly pending: () => readonly PendingEnrolment[] | Promise<readonly PendingEnrolment[]>
    readonly allow: AttestationPolicy
    readonly onEnrolment: (enrolment: PendingEnrolment, credential: EnrolledCredential) => void | Promise<void>
  }
  /** Time for certificate checks of enrolments. */
  readonly clock?: Clock
}

/** A running approval server. */
export interface ApprovalServer {
  readonly port: number
  /** The approval page: http://localhost:PORT/ (the name browsers run WebAuthn on). */
  readonly url: string
  /** The enrolment page (served when `enrolment` was given). */
  readonly enrolUrl: string
  /** The origin of its pages, as clientDataJSON names it. */
  readonly origin: string
  /** Stops listening and closes every connection; idempotent. */
  close: () => Promise<void>
}

const ID_PATTERN = new RegExp(`^[A-Za-z0-9_.:-]{1,${APPROVAL_SERVER_LIMITS.maxItemId}}$`)
const ROUTES = { approvalPage: '/', enrolmentPage: '/enrol', approve: '/api/approve', enrol: '/api/enrol' } as const

/**
 * Starts the loopback approval server: one page that lists the pending actions in plain words
 * and lets the actor approve each with their security key, one JSON endpoint that verifies the
 * assertion (verifyActionAssertion) before onAssertion hears of it, and, with `enrolment`, the
 * same pair for enrolling a key. Every request MUST name the server's own host and port and, when
 * it has an Origin, its own origin (posts MUST have one); bodies are JSON within their bounds.
 * Pages run under a Content-Security-Policy that lets only their own inline script and style run.
 * No CORS: nothing is shared with other origins.
 */
export async function startApprovalServer(
  init: ApprovalServerInit,
  options: { signal?: AbortSignal } = {}
): Promise<ApprovalServer> {
  if ((init.host ?? '127.0.0.1') !== '127.0.0.1') throw new UsageError('the approval server listens on 127.0.0.1 only')
  if (!Number.isInteger(init.port) || init.port < 0 || init.port > 65535) throw new UsageError('port must be 0..65535')
  const timeoutMs = ceremonyTimeout(init.ceremonyTimeoutMs)
  checkNotAborted(options.signal)

  const { server, port, close } = await startLoopbackServer(init.port, APPROVAL_SERVER_LIMITS)
  const handler = new RequestHandler(init, ownHosts(port), timeoutMs)
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    void handler.handle(request, response)
  })

  options.signal?.addEventListener(
    'abort',
    () => {
      void close()
    },
    { once: true }
  )
  return {
    port,
    url: `http://localhost:${port}${ROUTES.approvalPage}`,
    enrolUrl: `http://localhost:${port}${ROUTES.enrolmentPage}`,
    origin: `http://localhost:${port}`,
    close
  }
}

/** Answers requests: the routes, the guards, and the refusals. */
class RequestHandler {
  /** Ids being verified now: another answer for the same id meanwhile is refused (AlreadyInProgressError). */
  private readonly inFlight = new Set<string>()

  constructor(
    private readonly init: ApprovalServerInit,
    private readonly hosts: readonly string[],
    private readonly timeoutMs: number
  ) {}

  async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const method = request.method ?? ''
    const path = (request.url ?? '').split('?')[0] ?? ''
    const answered: { action: PendingAction | undefined } = { action: undefined }
    try {
      const host = checkHost(request, this.hosts)
      const origin = `http://${host}`
      const posting = method === 'POST'
      checkRequestOrigin(request, origin, posting)
      if (method === 'GET' && path === ROUTES.approvalPage) return sendPage(response, await this.approvalPage(origin))
      if (method === 'GET' && path === ROUTES.enrolmentPage && this.init.enrolment !== undefined) {
        return sendPage(response, await this.enrolmentPage())
      }
      if (posting && path === ROUTES.approve) {
        return sendJson(response, 200, await this.approve(request, origin, answered))
      }
      if (posting && path === ROUTES.enrol && this.init.enrolment !== undefined) {
        return sendJson(response, 200, await this.enrol(request, origin))
      }
      const served = this.init.enrolment === undefined ? [ROUTES.approvalPage, ROUTES.approve] : Object.values(ROUTES)
      const known = (served as string[]).includes(path)
      sendJson(response, known ? 405 : 404, { ok: false, message: known ? 'method not allowed' : 'not found' })
    } catch (error) {
      this.refuse(response, error, { method, path: path.slice(0, 256), action: answered.action })
    }
  }

  private async approvalPage(origin: string): Promise<PageContent> {
    const actions = await this.init.pending()
    const shown = actions.slice(0, APPROVAL_SERVER_LIMITS.maxListed)
    const items = shown.map(
      (action): PageItem => ({
        id: action.id,
        title: action.type,
        fields: [
          ['Actor', action.actor],
          ...Object.entries(action.body).map(([name, value]): [string, string] => [name, displayValue(value)]),
          ['Signs (SHA-256 of the action)', toHex(actionChallenge(action.signingBytes))]
        ],
        options: {
          challenge: toBase64url(actionChallenge(action.signingBytes)),
          rpId: this.init.rpId,
          allowCredentials: [{ type: 'public-key', id: toBase64url(action.credential.credentialId) }],
          userVerification: this.requireUserVerification ? 'required' : 'discouraged',
          timeout: this.timeoutMs
        },
        button: 'Approve with my security key'
      })
    )
    return {
      kind: 'approval',
      heading: `Actions waiting for approval on ${origin}`,
      endpoint: ROUTES.approve,
      items,
      notShown: actions.length - shown.length,
      empty: 'No action is waiting for approval.'
    }
  }

  private async enrolmentPage(): Promise<PageContent> {
    const enrolments = await this.init.enrolment!.pending()
    const shown = enrolments.slice(0, APPROVAL_SERVER_LIMITS.maxListed)
    const items: PageItem[] = []
    for (const enrolment of shown) {
      items.push({
        id: enrolment.id,
        title: 'Enrol a security key',
        fields: [['Actor', enrolment.actorId]],
        options: await registrationOptions({
          rpId: this.init.rpId,
          rpName: this.init.rpName ?? 'fleet',
          actorId: enrolment.actorId,
          challenge: enrolment.challenge,
          excludeCredentialIds: enrolment.excludeCredentialIds,
          requireUserVerification: this.requireUserVerification,
          timeoutMs: this.timeoutMs
        }),
        button: 'Enrol my security key'
      })
    }
    return {
      kind: 'enrolment',
      heading: 'Security keys waiting to be enrolled',
      endpoint: ROUTES.enrol,
      items,
      notShown: enrolments.length - shown.length,
      empty: 'No enrolment is waiting.'
    }
  }

  private async approve(
    request: IncomingMessage,
    origin: string,
    answered: { action: PendingAction | undefined }
  ): Promise<unknown> {
    const { id, credential } = await readAnswer(request, APPROVAL_SERVER_LIMITS.maxApprovalBody)
    const action = (await this.init.pending()).find((candidate) => candidate.id === id)
    if (action === undefined) throw new NotPendingError('action', id)
    answered.action = action
    return await this.exclusively('action', id, async () => {
      const assertion = decodeAuthenticationResponse(credential)
      const verified = await verifyActionAssertion(assertion, {
        signingBytes: action.signingBytes,
        credential: action.credential,
        origin,
        rpId: this.init.rpId,
        requireUserVerification: this.requireUserVerification
      })
      const stored = {
        authenticatorData: assertion.authenticatorData,
        clientDataJSON: assertion.clientDataJSON,
        signature: assertion.signature
      }
      await this.init.onAssertion({
        action,
        credentialId: assertion.credentialId,
        assertion: stored,
        stored: encodeStoredAssertion(stored),
        newCounter: verified.newCounter,
        userVerified: verified.userVerified
      })
      return { ok: true, message: 'Approved.', newCounter: verified.newCounter }
    })
  }

  private async enrol(request: IncomingMessage, origin: string): Promise<unknown> {
    const enrolment = this.init.enrolment!
    const { id, credential } = await readAnswer(request, APPROVAL_SERVER_LIMITS.maxEnrolmentBody)
    const pending = (await enrolment.pending()).find((candidate) => candidate.id === id)
    if (pending === undefined) throw new NotPendingError('enrolment', id)
    return await this.exclusively('enrolment', id, async () => {
      const enrolled = await verifyEnrolment(credential, {
        expectedChallenge: pending.challenge,
        origin,
        rpId: this.init.rpId,
        allow: enrolment.allow,
        requireUserVerification: this.requireUserVerification,
        clock: this.init.clock ?? systemClock
      })
      await enrolment.onEnrolment(pending, enrolled)
      const credentialId = toBase64url(enrolled.credentialId)
      return { ok: true, message: 'Enrolled.', credentialId, aaguid: enrolled.aaguid }
    })
  }

  private get requireUserVerification(): boolean {
    return this.init.requireUserVerification !== false
  }

  private async exclusively<T>(kind: 'action' | 'enrolment', id: string, work: () => Promise<T>): Promise<T> {
    const key = `${kind}:${id}`
    if (this.inFlight.has(key)) throw new AlreadyInProgressError(kind, id)
    this.inFlight.add(key)
    try {
      return await work()
    } finally {
      this.inFlight.delete(key)
    }
  }

  private refuse(response: ServerResponse, error: unknown, context: Omit<Refusal, 'error'>): void {
    const known = error instanceof FleetError
    const refusal = known
      ? error
      : new FleetError('the request failed', { code: 'ERR_WEBAUTHN_INTERNAL', cause: error })
    try {
      this.init.onRefusal?.({ error: refusal, ...context })
    } catch {}
    if (response.headersSent) {
      response.destroy()
      return
    }
    // An unexpected failure says nothing of its cause to the page (its message is generic).
    sendJson(response, statusOf(refusal), { ok: false, code: refusal.code, message: refusal.message })
  }
}

async function readAnswer(request: IncomingMessage, limit: number): Promise<{ id: string; credential: unknown }> {
  checkJsonContentType(request)
  const body = jsonObject(await readJsonBody(request, limit), 'request body')
  onlyMembers(body, 'request body', ['id', 'credential'])
  if (typeof body.id !== 'string' || !ID_PATTERN.test(body.id)) {
    throw new MalformedWebAuthnError('request body.id', 'must be a pending id')
  }
  return { id: body.id, credential: body.credential }
}
