/**
 * The agent's web console, on 127.0.0.1 only: the page and its assets (static, no sign-in
 * needed, nothing in them), and a JSON API for the sessions signed in with the console token or
 * an enrolled operator's security key (key-sign-in.ts) (`Authorization: Bearer`, never a cookie):
 * the overview, a feed's timeline, an entry's inclusion proof, and a live stream (server-sent
 * events) that says when any of it changed. Every request must name the server's own host and
 * port (no DNS rebinding) and, when it has an Origin, its own origin (a sign-in must have one).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { FleetError, MalformedInputError, UsageError, steadyClock, type Clock } from '../../common/index.js'
import { ProofError } from '../../ledger/index.js'
import {
  checkHost,
  checkJsonContentType,
  checkRequestOrigin,
  ownHosts,
  readJsonBody,
  secureHeaders,
  sendJson,
  startLoopbackServer,
  statusOf
} from '../../webauthn/index.js'
import type { Logger } from '../ops/index.js'
import { CONSOLE_CSP, CONSOLE_CSS, CONSOLE_HTML, CONSOLE_ICON, CONSOLE_JS } from './assets.js'
import { FeedNotHeldError, type ConsoleData } from './data.js'
import { CONSOLE_LIMITS } from './limits.js'
import { ConsoleSessions } from './token.js'
import { KeySignIn, KeySignInRefusedError, type ConsoleOperator } from './key-sign-in.js'
import { consoleHelloProof } from './address.js'

export interface ConsoleServerInit {
  /** TCP port on 127.0.0.1; 0 picks a free one. */
  port: number
  token: string
  data: ConsoleData
  /** The actors who may sign in with a security key instead of the token (none: the token only). */
  operators?: () => readonly ConsoleOperator[]
  clock?: Clock
  logger?: Logger
}

export interface ConsoleServer {
  readonly port: number
  /** http://127.0.0.1:PORT/ */
  readonly url: string
  close: () => Promise<void>
}

const ASSETS: Record<string, { type: string; body: string }> = {
  '/': { type: 'text/html; charset=utf-8', body: CONSOLE_HTML },
  '/app.js': { type: 'text/javascript; charset=utf-8', body: CONSOLE_JS },
  '/app.css': { type: 'text/css; charset=utf-8', body: CONSOLE_CSS },
  '/favicon.svg': { type: 'image/svg+xml', body: CONSOLE_ICON }
}

class NotSignedInError extends FleetError {
  constructor() {
    super('sign in with the console token first', { code: 'ERR_CONSOLE_SIGN_IN' })
  }
}

export async function startConsoleServer(init: ConsoleServerInit): Promise<ConsoleServer> {
  if (!Number.isInteger(init.port) || init.port < 0 || init.port > 65535) throw new UsageError('port must be 0..65535')
  // A port in use fails the agent's start (startFailure says so in words).
  const { server, port, close } = await startLoopbackServer(init.port, CONSOLE_LIMITS)
  const handler = new ConsoleHandler(init, ownHosts(port))
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    // handle() answers every failure itself; whatever escapes it still must not end the agent.
    handler.handle(request, response).catch((err: unknown) => {
      init.logger?.error({ err: (err as Error).message }, 'a console request failed unexpectedly')
      response.destroy()
    })
  })
  return {
    port,
    url: `http://127.0.0.1:${port}/`,
    close: async () => {
      handler.stop()
      await close()
    }
  }
}

class ConsoleHandler {
  private readonly sessions: ConsoleSessions
  private readonly keys: KeySignIn
  private readonly streams = new Set<ServerResponse>()
  private poll: NodeJS.Timeout | undefined
  private heartbeat: NodeJS.Timeout | undefined
  private fingerprint: string | undefined
  private polling = false

  constructor(
    private readonly init: ConsoleServerInit,
    private readonly hosts: readonly string[]
  ) {
    this.sessions = new ConsoleSessions(init.token, init.clock ?? steadyClock)
    this.keys = new KeySignIn(init.operators ?? (() => []), init.clock ?? steadyClock)
  }

  async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const method = request.method ?? ''
    const target = request.url ?? '/'
    const query = target.indexOf('?')
    // The path as sent: a target that is no path ("//", "*", a whole URL) is simply not found.
    const path = (query < 0 ? target : target.slice(0, query)).slice(0, 256)
    try {
      const host = checkHost(request, this.hosts)
      const posting = method === 'POST'
      checkRequestOrigin(request, `http://${host}`, posting)
      const params = new URLSearchParams(query < 0 ? '' : target.slice(query + 1))
      const asset = ASSETS[path]
      if (method === 'GET' && asset !== undefined) return sendAsset(response, asset)
      if (method === 'GET' && path === '/api/hello') return sendJson(response, 200, this.hello(params))
      if (posting && path === '/api/login') return await this.signIn(request, response)
      if (posting && path === '/api/key-challenge') return sendJson(response, 200, this.keys.offer(`http://${host}`))
      if (posting && path === '/api/key-login') return await this.signInWithKey(request, response, `http://${host}`)
      if (!path.startsWith('/api/') || method !== 'GET')
        return sendJson(response, 404, { ok: false, message: 'not found' })
      if (!this.sessions.allows(request.headers.authorization)) throw new NotSignedInError()
      switch (path) {
        case '/api/overview':
          return sendJson(response, 200, await this.init.data.overview())
        case '/api/feed': {
          const feed = feedParam(params)
          const from = intParam(params, 'from', 0, Number.MAX_SAFE_INTEGER, 0)
          const limit = intParam(params, 'limit', 1, CONSOLE_LIMITS.maxPageEntries, CONSOLE_LIMITS.defaultPageEntries)
          return sendJson(response, 200, await this.init.data.timeline(feed, from, limit))
        }
        case '/api/proof': {
          const feed = feedParam(params)
          const seq = intParam(params, 'seq', 0, Number.MAX_SAFE_INTEGER, undefined)
          const bundle = await this.init.data.proof(feed, seq)
          response.setHeader('content-disposition', `attachment; filename="proof-${feed.slice(0, 12)}-${seq}.json"`)
          return sendJson(response, 200, bundle)
        }
        case '/api/events':
          return this.openStream(response)
        default:
          return sendJson(response, 404, { ok: false, message: 'not found' })
      }
    } catch (error) {
      this.refuse(response, error, method, path)
    }
  }

  /**
   * Proves to `fleet console` that this server holds the token before it prints the address with
   * the token in it (a program squatting on a stale port would be handed the token otherwise):
   * HMAC-SHA256 keyed by the token over the caller's fresh nonce. Says nothing of the token.
   */
  private hello(params: URLSearchParams): { proof: string } {
    const nonce = params.get('nonce') ?? ''
    if (!/^[0-9a-f]{64}$/.test(nonce)) throw new MalformedInputError('nonce must be 32 bytes in hex')
    return { proof: consoleHelloProof(this.init.token, nonce) }
  }

  stop(): void {
    for (const stream of this.streams) stream.end()
    this.streams.clear()
    this.idle()
  }

  /** No live stream open: nothing to look for. */
  private idle(): void {
    clearInterval(this.poll)
    clearInterval(this.heartbeat)
    this.poll = undefined
    this.heartbeat = undefined
    this.fingerprint = undefined
  }

  private async signIn(request: IncomingMessage, response: ServerResponse): Promise<void> {
    checkJsonContentType(request)
    const body = await readJsonBody(request, CONSOLE_LIMITS.maxLoginBody)
    const token = (body as { token?: unknown } | null)?.token
    if (typeof token !== 'string') throw new MalformedInputError('the sign-in needs {"token": "…"}')
    const session = this.sessions.signIn(token)
    if (session === undefined) {
      this.init.logger?.warn({ console: 'sign-in' }, 'the console refused a sign-in with a wrong token')
      return sendJson(response, 403, { ok: false, message: 'not the console token' })
    }
    this.init.logger?.info({ console: 'sign-in' }, 'signed in to the console')
    // Kept by the page (sessionStorage, this origin only: no cookie, which every port of the host would get).
    sendJson(response, 200, { ok: true, session })
  }

  private async signInWithKey(request: IncomingMessage, response: ServerResponse, origin: string): Promise<void> {
    checkJsonContentType(request)
    const body = await readJsonBody(request, CONSOLE_LIMITS.maxKeyLoginBody)
    let operator: ConsoleOperator
    try {
      operator = await this.keys.answer(origin, body)
    } catch (err) {
      if (err instanceof KeySignInRefusedError)
        this.init.logger?.warn({ console: 'sign-in', err: err.message }, 'the console refused a security-key sign-in')
      throw err
    }
    this.init.logger?.info(
      { console: 'sign-in', actor: operator.actorId, role: operator.role },
      'signed in to the console with a security key'
    )
    sendJson(response, 200, { ok: true, session: this.sessions.open(), actor: operator.actorId, role: operator.role })
  }

  private openStream(response: ServerResponse): void {
    if (this.streams.size >= CONSOLE_LIMITS.maxEventStreams) {
      sendJson(response, 503, { ok: false, message: 'too many live streams open' })
      return
    }
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      connection: 'keep-alive'
    })
    response.write('retry: 2000\n\n')
    this.streams.add(response)
    response.on('close', () => {
      this.streams.delete(response)
      if (this.streams.size === 0) this.idle()
    })
    this.poll ??= setInterval(() => void this.lookForChange(), CONSOLE_LIMITS.changePollMs)
    this.heartbeat ??= setInterval(() => {
      for (const stream of this.streams) stream.write(': alive\n\n')
    }, CONSOLE_LIMITS.heartbeatMs)
  }

  private async lookForChange(): Promise<void> {
    if (this.polling) return
    this.polling = true
    try {
      const now = await this.init.data.fingerprint()
      if (this.fingerprint !== undefined && now !== this.fingerprint)
        for (const stream of this.streams) stream.write(`event: change\ndata: ${Date.now()}\n\n`)
      this.fingerprint = now
    } catch (err) {
      this.init.logger?.debug({ err: (err as Error).message }, 'the console could not read the agent state')
    } finally {
      this.polling = false
    }
  }

  private refuse(response: ServerResponse, error: unknown, method: string, path: string): void {
    const known = error instanceof FleetError
    const status = !known
      ? 500
      : error instanceof NotSignedInError
        ? 401
        : error instanceof FeedNotHeldError || error instanceof ProofError
          ? 404
          : statusOf(error)
    if (!known || status >= 500)
      this.init.logger?.warn(
        { method, path: path.slice(0, 256), err: (error as Error).message },
        'a console request failed'
      )
    if (response.headersSent) {
      response.destroy()
      return
    }
    sendJson(response, status, {
      ok: false,
      code: known ? error.code : 'ERR_CONSOLE_INTERNAL',
      message: known ? error.message : 'the request failed'
    })
  }
}

function sendAsset(response: ServerResponse, asset: { type: string; body: string }): void {
  secureHeaders(response, asset.type)
  response.setHeader('content-security-policy', CONSOLE_CSP)
  response.writeHead(200)
  response.end(asset.body)
}

function feedParam(params: URLSearchParams): string {
  const feed = params.get('feed') ?? ''
  if (!/^[a-z2-7]{52}$/.test(feed)) throw new MalformedInputError('feed must be a device id (52 base32 characters)')
  return feed
}

function intParam(
  params: URLSearchParams,
  name: string,
  min: number,
  max: number,
  fallback: number | undefined
): number {
  const text = params.get(name)
  if (text === null) {
    if (fallback === undefined) throw new MalformedInputError(`${name} is required`)
    return fallback
  }
  if (!/^\d{1,16}$/.test(text)) throw new MalformedInputError(`${name} must be a whole number`)
  const value = Number(text)
  if (value < min || value > max) throw new MalformedInputError(`${name} must be ${min}..${max}`)
  return value
}
