/**
 * A webhook receiver for sink tests and the sink bench: an HTTPS server on 127.0.0.1 with a certificate from a test
 * CA (made with the openssl command line), that verifies each body as a JWS with jose against a
 * JWKS it is given (nothing of the agent's signing code), and keeps the events in arrival order.
 * It can be taken down (connections refused on its port) and brought up again on the same port,
 * and told to answer 500.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { compactVerify, createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet } from 'jose'

/** A CA and a server certificate for 127.0.0.1 it issued, as PEM files in `dir`. */
export interface TestTls {
  caFile: string
  ca: string
  key: string
  cert: string
}

/** A P-256 CA and a leaf for IP 127.0.0.1 (and localhost), valid a day. */
export function mintTls(dir: string, name = 'sink-test'): TestTls {
  const file = (suffix: string): string => path.join(dir, `${name}-${suffix}`)
  const run = (args: string[]): void => {
    execFileSync('openssl', args, { stdio: 'ignore' })
  }
  run(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', file('ca.key')])
  run(['req', '-x509', '-new', '-key', file('ca.key'), '-subj', `/CN=${name} CA`, '-days', '1', '-out', file('ca.pem')])
  run(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', file('server.key')])
  run(['req', '-new', '-key', file('server.key'), '-subj', '/CN=127.0.0.1', '-out', file('server.csr')])
  writeFileSync(file('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n')
  run([
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.pem'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    file('ext.cnf'),
    '-out',
    file('server.pem')
  ])
  return {
    caFile: file('ca.pem'),
    ca: readFileSync(file('ca.pem'), 'utf8'),
    key: readFileSync(file('server.key'), 'utf8'),
    cert: readFileSync(file('server.pem'), 'utf8')
  }
}

export interface ReceivedEvent {
  id: string
  feed: string
  seq: number
  type: string
  hash: string
  body?: Record<string, unknown>
}

export class WebhookReceiver {
  /** Events of every verified POST, in arrival order (repeats included). */
  readonly events: ReceivedEvent[] = []
  /** POSTs answered, by status. */
  readonly answered = new Map<number, number>()
  /** Bodies that did not verify (they are answered 400). */
  readonly refused: string[] = []
  /** What the next POSTs are answered with (200 takes them). */
  status = 200
  port = 0
  private server: https.Server | undefined
  private readonly tls: TestTls
  private readonly jwks: () => JSONWebKeySet
  private readonly listeners: Array<() => void> = []

  constructor(tls: TestTls, jwks: () => JSONWebKeySet) {
    this.tls = tls
    this.jwks = jwks
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}/events`
  }

  /** Listens (on the same port as before, once it had one). */
  async up(): Promise<void> {
    const server = https.createServer({ key: this.tls.key, cert: this.tls.cert }, (request, response) => {
      const chunks: Buffer[] = []
      request.on('data', (chunk: Buffer) => chunks.push(chunk))
      request.on('end', () => {
        void this.take(Buffer.concat(chunks).toString('utf8')).then((status) => {
          this.answered.set(status, (this.answered.get(status) ?? 0) + 1)
          response.writeHead(status).end(status === 200 ? 'ok' : `status ${status}`)
          for (const listener of this.listeners.splice(0)) listener()
        })
      })
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.port, '127.0.0.1', () => resolve())
    })
    this.port = (server.address() as AddressInfo).port
    this.server = server
  }

  /** Stops listening and drops open connections: the port refuses connections. */
  async down(): Promise<void> {
    const server = this.server
    this.server = undefined
    if (server === undefined) return
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  /** Resolves after the next answered POST. */
  async nextPost(): Promise<void> {
    await new Promise<void>((resolve) => this.listeners.push(resolve))
  }

  private async take(body: string): Promise<number> {
    if (this.status !== 200) return this.status
    try {
      const header = decodeProtectedHeader(body)
      if (header.alg !== 'ES256' || header.typ !== 'fleet-events+jwt')
        throw new Error(`header ${JSON.stringify(header)}`)
      const { payload } = await compactVerify(body, createLocalJWKSet(this.jwks()), { algorithms: ['ES256'] })
      const claims = JSON.parse(new TextDecoder().decode(payload)) as {
        iss: string
        v: number
        events: ReceivedEvent[]
      }
      if (claims.v !== 1 || claims.iss !== header.kid) throw new Error('payload')
      this.events.push(...claims.events)
      return 200
    } catch (err) {
      this.refused.push((err as Error).message)
      return 400
    }
  }
}

/** Each id once, in first-arrival order (what a receiver that deduplicates keeps). */
export function deduplicated(events: readonly ReceivedEvent[]): ReceivedEvent[] {
  const seen = new Set<string>()
  return events.filter((event) => !seen.has(event.id) && seen.add(event.id) !== undefined)
}
