import assert from 'node:assert/strict'
import { request } from 'node:http'
import { toBase64url } from '../../src/common/index.js'
import {
  actionChallenge,
  APPROVAL_SERVER_LIMITS,
  decodeStoredAssertion,
  startApprovalServer,
  type Approval,
  type ApprovalServer,
  type AssertionInput,
  type PendingAction,
  type Refusal
} from '../../src/webauthn/index.js'
import { assertionJson, FLAGS, SoftwareAuthenticator } from '../helpers/software-authenticator.js'

interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

/** One HTTP request to 127.0.0.1:port with exactly the headers given (Host included). */
interface Sent {
  method?: string
  path?: string
  headers?: Record<string, string>
  body?: string
}

async function send(port: number, init: Sent): Promise<Answer> {
  return await new Promise((resolve, reject) => {
    const outgoing = request(
      {
        host: '127.0.0.1',
        port,
        method: init.method ?? 'GET',
        path: init.path ?? '/',
        headers: init.headers,
        setHost: false
      },
      (incoming) => {
        const chunks: Buffer[] = []
        incoming.on('data', (chunk: Buffer) => chunks.push(chunk))
        incoming.on('end', () => {
          resolve({
            status: incoming.statusCode ?? 0,
            headers: incoming.headers,
            body: Buffer.concat(chunks).toString()
          })
        })
      }
    )
    outgoing.on('error', reject)
    outgoing.end(init.body)
  })
}

describe('webauthn/approval-server', () => {
  const key = new SoftwareAuthenticator()
  let server: ApprovalServer
  let pending: PendingAction[]
  let approvals: Approval[]
  let refusals: Refusal[]
  let own: { host: string; origin: string }

  const action = (id: string, text: string): PendingAction => ({
    id,
    type: 'device.revoke',
    actor: 'alice',
    body: { device: 'd-42', reason: '<b>lost</b>' },
    signingBytes: new TextEncoder().encode(text),
    credential: { credentialId: key.credentialId, publicKey: key.publicKey, counter: key.counter }
  })

  const post = async (body: unknown, headers: Record<string, string> = {}): Promise<Answer> =>
    await send(server.port, {
      method: 'POST',
      path: '/api/approve',
      headers: { host: own.host, origin: own.origin, 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body)
    })

  const signed = (pendingAction: PendingAction, flags?: number): AssertionInput =>
    key.assert({ challenge: actionChallenge(pendingAction.signingBytes), origin: own.origin, rpId: 'localhost', flags })

  beforeEach(async () => {
    pending = [action('a1', 'action one'), action('a2', 'action two')]
    approvals = []
    refusals = []
    server = await startApprovalServer({
      port: 0,
      rpId: 'localhost',
      pending: () => pending,
      onAssertion: (approval) => {
        approvals.push(approval)
        pending = pending.filter((candidate) => candidate.id !== approval.action.id)
      },
      onRefusal: (refusal) => {
        refusals.push(refusal)
      }
    })
    own = { host: `localhost:${server.port}`, origin: `http://localhost:${server.port}` }
  })

  afterEach(async () => {
    await server.close()
  })

  it('serves the page with the pending actions as text, a strict CSP, and no CORS', async () => {
    const page = await send(server.port, { headers: { host: own.host } })
    assert.equal(page.status, 200)
    assert.match(String(page.headers['content-type']), /^text\/html/)
    assert.match(String(page.headers['content-security-policy']), /^default-src 'none'; script-src 'sha256-/)
    assert.equal(page.headers['x-frame-options'], 'DENY')
    assert.equal(page.headers['cache-control'], 'no-store')
    assert.equal(page.headers['access-control-allow-origin'], undefined)
    assert.ok(page.body.includes('&lt;b&gt;lost&lt;/b&gt;'))
    assert.ok(page.body.includes('data-id="a1"') && page.body.includes('data-id="a2"'))
    assert.ok(page.body.includes(toBase64url(actionChallenge(pending[0]!.signingBytes))))
    assert.equal(server.url, `http://localhost:${server.port}/`)
    const same = await send(server.port, { headers: { host: `127.0.0.1:${server.port}` } })
    assert.equal(same.status, 200)
  })

  it('verifies an approval before onAssertion hears of it, and hands over the stored form', async () => {
    const assertion = signed(pending[0]!)
    const answer = await post({ id: 'a1', credential: assertionJson(assertion) })
    assert.equal(answer.status, 200, answer.body)
    assert.deepEqual(JSON.parse(answer.body), { ok: true, message: 'Approved.', newCounter: key.counter })
    assert.equal(approvals.length, 1)
    assert.equal(approvals[0]!.action.id, 'a1')
    assert.equal(approvals[0]!.newCounter, key.counter)
    assert.deepEqual(decodeStoredAssertion(approvals[0]!.stored), {
      authenticatorData: assertion.authenticatorData,
      clientDataJSON: assertion.clientDataJSON,
      signature: assertion.signature
    })
    const again = await post({ id: 'a1', credential: assertionJson(assertion) })
    assert.equal(again.status, 404, 'an approved action is no longer pending')
    assert.equal(refusals.at(-1)?.error.name, 'NotPendingError')
  })

  it('refuses, and reports, an assertion without user presence, or made for another action', async () => {
    const unpresent = await post({ id: 'a1', credential: assertionJson(signed(pending[0]!, FLAGS.uv)) })
    assert.equal(unpresent.status, 403)
    assert.equal(JSON.parse(unpresent.body).code, 'ERR_WEBAUTHN_USER_PRESENCE')
    const replayed = await post({ id: 'a2', credential: assertionJson(signed(pending[0]!)) })
    assert.equal(replayed.status, 403)
    assert.equal(JSON.parse(replayed.body).code, 'ERR_WEBAUTHN_CHALLENGE')
    assert.deepEqual(
      refusals.map((refusal) => [refusal.error.name, refusal.action?.id]),
      [
        ['UserPresenceMissingError', 'a1'],
        ['ChallengeMismatchError', 'a2']
      ]
    )
    assert.equal(approvals.length, 0)
  })

  it('refuses any Host but its own (DNS rebinding), before reading anything', async () => {
    for (const host of ['evil.example', `evil.example:${server.port}`, `localhost:${server.port + 1}`, 'LOCALHOST']) {
      const answer = await send(server.port, { headers: { host } })
      assert.equal(answer.status, 403, host)
      assert.equal(JSON.parse(answer.body).code, 'ERR_WEBAUTHN_HOST')
    }
    const posted = await post({ id: 'a1', credential: assertionJson(signed(pending[0]!)) }, { host: 'evil.example' })
    assert.equal(posted.status, 403)
    assert.equal(approvals.length, 0)
    assert.deepEqual(
      refusals.map((refusal) => refusal.error.name),
      new Array(5).fill('HostRefusedError')
    )
    // HTTP/1.1 without a Host header: node:http answers 400 before the server sees it.
    assert.equal((await send(server.port, { headers: {} })).status, 400)
    assert.equal(refusals.length, 5)
  })

  it('refuses posts from another origin, without an origin, or cross-site by fetch metadata', async () => {
    const body = { id: 'a1', credential: assertionJson(signed(pending[0]!)) }
    const variants: Array<Record<string, string>> = [
      { origin: 'http://evil.example' },
      { origin: `http://127.0.0.1:${server.port}` },
      { origin: 'null' },
      { 'sec-fetch-site': 'cross-site' }
    ]
    for (const headers of variants) {
      const answer = await post(body, headers)
      assert.equal(answer.status, 403, JSON.stringify(headers))
      assert.equal(JSON.parse(answer.body).code, 'ERR_WEBAUTHN_REQUEST_ORIGIN')
    }
    const anonymous = await send(server.port, {
      method: 'POST',
      path: '/api/approve',
      headers: { host: own.host, 'content-type': 'application/json' },
      body: '{}'
    })
    assert.equal(anonymous.status, 403)
    assert.equal(approvals.length, 0)
    assert.equal(refusals.length, 5)
    assert.ok(refusals.every((refusal) => refusal.error.name === 'RequestOriginRefusedError'))
  })

  it('refuses bodies that are not JSON, too large, or not of the expected shape', async () => {
    const form = await post('id=a1', { 'content-type': 'application/x-www-form-urlencoded' })
    assert.equal(form.status, 415)
    const large = await post(JSON.stringify({ id: 'a1', pad: 'x'.repeat(APPROVAL_SERVER_LIMITS.maxApprovalBody) }))
    assert.equal(large.status, 413)
    const broken = await post('{"id":')
    assert.equal(broken.status, 400)
    const extra = await post({ id: 'a1', credential: {}, more: 1 })
    assert.equal(extra.status, 400)
    const badId = await post({ id: '../a1', credential: {} })
    assert.equal(badId.status, 400)
    const unknown = await post({ id: 'zz', credential: {} })
    assert.equal(unknown.status, 404)
    assert.deepEqual(
      refusals.map((refusal) => refusal.error.name),
      [
        'UnsupportedMediaTypeError',
        'RequestTooLargeError',
        'MalformedWebAuthnError',
        'MalformedWebAuthnError',
        'MalformedWebAuthnError',
        'NotPendingError'
      ]
    )
  })

  it('answers 404 and 405 off its routes, and serves no enrolment page unless asked to', async () => {
    assert.equal((await send(server.port, { path: '/elsewhere', headers: { host: own.host } })).status, 404)
    assert.equal((await send(server.port, { path: '/api/approve', headers: { host: own.host } })).status, 405)
    assert.equal((await send(server.port, { path: '/enrol', headers: { host: own.host } })).status, 404)
  })

  it('listens on 127.0.0.1 only, and closes idempotently', async () => {
    await assert.rejects(
      startApprovalServer({
        port: 0,
        host: '0.0.0.0' as '127.0.0.1',
        rpId: 'localhost',
        pending: () => [],
        onAssertion: () => undefined
      }),
      { name: 'UsageError' }
    )
    await server.close()
    await server.close()
    await assert.rejects(send(server.port, { headers: { host: own.host } }), { code: 'ECONNREFUSED' })
  })
})
