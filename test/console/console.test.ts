import assert from 'node:assert/strict'
import { createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Script } from 'node:vm'
import { chmod, readFile, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { Page } from 'playwright-core'
import { bootPolicyId, canonicalPolicyJson } from '../../src/attest/index.js'
import { simulatedBootPolicy } from '../../src/attest/simulated-boot.js'
import { CONSOLE_LIMITS, consoleToken, startAgentConsole, type ConsoleServer } from '../../src/agent/console/index.js'
import { CONSOLE_JS } from '../../src/agent/console/assets.js'
import type { Agent } from '../../src/agent/index.js'
import { decodeEntry, encodeEntry } from '../../src/ledger/index.js'
import { SimFleet, type SimDevice } from '../../simnet/fleet.js'
import { chromiumSuite, openAuthenticatorPage } from '../helpers/browser.js'
import { enrolActors, holdCredential, securityKeyActor } from '../helpers/actors.js'
import { FLAGS, SoftwareAuthenticator, assertionJson, type CeremonyChoice } from '../helpers/software-authenticator.js'
import { actionChallenge } from '../../src/webauthn/index.js'
import { runFleetAsync } from '../helpers/cli.js'
import { tempDir } from '../helpers/devices.js'
import { publishOwnerStatements } from '../helpers/owner-statements.js'
import { until } from '../helpers/wait.js'

/** A request to the console with the headers given (a browser would not send some of them). */
async function raw(
  port: number,
  options: { path: string; method?: string; headers?: Record<string, string>; body?: string }
): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
  return await new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: options.path, method: options.method ?? 'GET', headers: options.headers },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (body += chunk))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }))
      }
    )
    req.on('error', reject)
    req.end(options.body)
  })
}

/** The text of each row of a table, by its data attribute `key`. */
async function rows(page: Page, table: string, key: string): Promise<Map<string, string>> {
  const found = await page.$$eval(
    `#${table} tbody tr`,
    (trs, k) =>
      trs.map((tr) => {
        const row = tr as unknown as { dataset: Record<string, string | undefined>; textContent: string }
        return [row.dataset[k] ?? '', row.textContent]
      }),
    key
  )
  return new Map(found as Array<[string, string]>)
}

describe('console: the agent web console in headless Chromium, against a running fleet on swtpm', function () {
  this.timeout(300_000)
  const chromium = chromiumSuite()
  let fleet: SimFleet
  let devices: SimDevice[]
  let a: Agent
  let b: Agent
  let c: Agent
  let server: ConsoleServer
  let dir: string
  let token: string
  let page: Page
  const errors: string[] = []
  const peerId = (agent: Agent): string => agent.node.peerId.toString()

  before(async () => {
    fleet = await SimFleet.create()
    devices = await fleet.addEnrolled(3)
    a = await fleet.start(devices[0]!)
    b = await fleet.start(devices[1]!)
    c = await fleet.start(devices[2]!)
    await a.node.dial(b.node.getMultiaddrs()[0]!)
    await a.node.dial(c.node.getMultiaddrs()[0]!)
    await until(() => a.attestation.attested(peerId(b)) && a.attestation.attested(peerId(c)), 'a to attest b and c')
    dir = await tempDir('console-')
    server = await startAgentConsole(a, {
      dir,
      deviceId: devices[0]!.state.deviceId,
      port: 0,
      stateDir: devices[0]!.dir
    })
    token = (await readFile(path.join(dir, 'console.token'), 'utf8')).trim()
  })
  after(async () => {
    await server?.close()
    await fleet?.close()
  })

  it('keeps the token 0600 and the API closed without it; refuses a wrong token, another host name, another origin, a target that is no path', async () => {
    assert.equal((await stat(path.join(dir, 'console.token'))).mode & 0o777, 0o600)
    // The page's script is JavaScript a browser parses (it lives in a template string).
    assert.doesNotThrow(() => new Script(CONSOLE_JS))
    const host = `127.0.0.1:${server.port}`
    assert.equal((await raw(server.port, { path: '/api/overview', headers: { host } })).status, 401)
    const login = (body: string, headers: Record<string, string> = {}) =>
      raw(server.port, {
        path: '/api/login',
        method: 'POST',
        headers: { host, origin: `http://${host}`, 'content-type': 'application/json', ...headers },
        body
      })
    assert.equal((await login(JSON.stringify({ token: 'x'.repeat(43) }))).status, 403)
    assert.equal((await login('{"token": 5}')).status, 400)
    assert.equal((await login('not json')).status, 400)
    // DNS rebinding: a page of another name that resolves to 127.0.0.1 names its own host.
    assert.equal((await login(JSON.stringify({ token }), { host: `evil.example:${server.port}` })).status, 403)
    // Another origin's page posting the right token (it could not know it, but still) is refused.
    assert.equal((await login(JSON.stringify({ token }), { origin: 'http://evil.example' })).status, 403)
    // A sign-in without an Origin (not from a page of the console) is refused too.
    const bare = await raw(server.port, {
      path: '/api/login',
      method: 'POST',
      headers: { host, 'content-type': 'application/json' },
      body: JSON.stringify({ token })
    })
    assert.equal(bare.status, 403)
    const ok = await login(JSON.stringify({ token }))
    assert.equal(ok.status, 200)
    assert.equal(ok.headers['set-cookie'], undefined, 'no cookie: every port of 127.0.0.1 would get it')
    const authorization = `Bearer ${(JSON.parse(ok.body) as { session: string }).session}`
    assert.equal((await raw(server.port, { path: '/api/overview', headers: { host, authorization } })).status, 200)
    assert.equal(
      (await raw(server.port, { path: '/api/overview', headers: { host, authorization: `Bearer ${'A'.repeat(43)}` } }))
        .status,
      401
    )
    // Request targets that are no path, before any sign-in or host check: answered, the agent lives on.
    for (const target of ['//', '///', '//a:b', '//@', '*', 'http://x/api/overview'])
      assert.equal((await raw(server.port, { path: target, headers: { host: 'evil.example' } })).status, 403)
    for (const target of ['//', '//@'])
      assert.equal((await raw(server.port, { path: target, headers: { host } })).status, 404)
    // Live streams are bounded: past CONSOLE_LIMITS.maxEventStreams, 503 (and the others stay open).
    const streams: Array<ReturnType<typeof request>> = []
    const opened = await Promise.all(
      Array.from(
        { length: CONSOLE_LIMITS.maxEventStreams },
        async () =>
          await new Promise<number>((resolve, reject) => {
            const req = request(
              { host: '127.0.0.1', port: server.port, path: '/api/events', headers: { host, authorization } },
              (res) => resolve(res.statusCode ?? 0)
            )
            req.on('error', reject)
            req.end()
            streams.push(req)
          })
      )
    )
    assert.deepEqual(new Set(opened), new Set([200]))
    assert.equal((await raw(server.port, { path: '/api/events', headers: { host, authorization } })).status, 503)
    for (const req of streams) req.destroy()
    const bad = await raw(server.port, { path: '/api/feed?feed=nope', headers: { host, authorization } })
    assert.equal(bad.status, 400)
    const unheld = await raw(server.port, {
      path: `/api/feed?feed=${'a'.repeat(52)}`,
      headers: { host, authorization }
    })
    assert.equal(unheld.status, 404)
    const page = await raw(server.port, { path: '/', headers: { host } })
    assert.match(String(page.headers['content-security-policy']), /script-src 'self'/)
    assert.doesNotMatch(page.body, /<script>|style=/)
  })

  it('fleet console prints the address only when the server there proves it holds the token (a squatter on a stale port gets nothing)', async () => {
    const stale = await tempDir('console-stale-')
    const squatter = createServer((_request, response) => {
      response.setHeader('content-type', 'application/json')
      response.end(JSON.stringify({ proof: 'f'.repeat(64) }))
    })
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve))
    try {
      const port = (squatter.address() as AddressInfo).port
      await writeFile(path.join(stale, 'console.port'), `${port}\n`)
      await writeFile(path.join(stale, 'console.token'), `${token}\n`, { mode: 0o600 })
      const printed = await runFleetAsync(['console', '--state', stale])
      assert.equal(printed.status, 1)
      assert.equal(printed.stdout, '')
      assert.doesNotMatch(printed.stderr, new RegExp(token))
    } finally {
      squatter.close()
    }
  })

  it('makes a new token when the kept one is readable by others, or not a token', async () => {
    const other = await tempDir('console-token-')
    const file = path.join(other, 'console.token')
    await writeFile(file, `${'b'.repeat(43)}\n`, { mode: 0o644 })
    await chmod(file, 0o644)
    const made = await consoleToken(other)
    assert.notEqual(made, 'b'.repeat(43))
    assert.equal((await stat(file)).mode & 0o777, 0o600)
    assert.equal(await consoleToken(other), made, 'kept once it is private')
    await writeFile(file, '', { mode: 0o600 })
    assert.match(await consoleToken(other), /^[A-Za-z0-9_-]{43}$/)
  })

  it('signs in from the address `fleet console` prints and shows every member, its verdicts and its feeds, with no console error', async () => {
    const printed = await runFleetAsync(['console', '--state', dir])
    assert.equal(printed.status, 0, printed.stderr)
    const url = printed.stdout.trim()
    assert.match(url, new RegExp(`^http://127\\.0\\.0\\.1:${server.port}/#token=`))
    const context = await chromium().browser.newContext({ acceptDownloads: true })
    page = await context.newPage()
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text())
    })
    page.on('pageerror', (error) => errors.push(error.message))
    const started = Date.now()
    await page.goto(url)
    await page.waitForSelector('#members tbody tr')
    const firstRenderMs = Date.now() - started
    // The token left the address bar once used.
    assert.equal(new URL(page.url()).hash, '')
    const members = await rows(page, 'members', 'device')
    for (const device of devices) assert.ok(members.has(device.state.deviceId), `member ${device.name} shown`)
    assert.match(members.get(devices[1]!.state.deviceId)!, /trusted/)
    const feeds = await rows(page, 'feeds', 'feed')
    assert.ok(feeds.has(devices[0]!.state.deviceId))
    assert.deepEqual(errors, [])
    assert.ok(firstRenderMs < 30_000)
  })

  it("shows a clone alert at the top once another machine presents a device's enrolment, live", async () => {
    const clone = await fleet.addDevice('good')
    const impostor = await fleet.start(clone, { enrolment: devices[1]!.enrolment })
    await impostor.node.dial(a.node.getMultiaddrs()[0]!).catch(() => undefined)
    await page.waitForSelector('#alerts li[data-type="alert.clone_suspected"]', { timeout: 60_000 })
    assert.equal(await page.isHidden('#alerts-section'), false)
    await impostor.stop()
  })

  it('shows a revoked device as revoked, live', async () => {
    const revoked = devices[2]!.state.deviceId
    await fleet.revoke(revoked, [a.node.getMultiaddrs()[0]!])
    await page.waitForSelector(`#members tr[data-device="${revoked}"][data-standing="revoked"]`, { timeout: 60_000 })
  })

  it("shows a refused boot's evidence: the PCR, the event and its digest", async () => {
    const other = simulatedBootPolicy('new-kernel')
    await publishOwnerStatements(
      fleet,
      [
        {
          type: 'policy.set',
          body: { policyId: bootPolicyId(other), policy: new Uint8Array(Buffer.from(canonicalPolicyJson(other))) }
        }
      ],
      [a]
    )
    await page.waitForSelector(`#verdicts tr[data-peer="${peerId(b)}"][data-trusted="false"]`, { timeout: 60_000 })
    const why = (await rows(page, 'verdicts', 'peer')).get(peerId(b))!
    assert.match(why, /PCR 4/)
    assert.match(why, /event #\d+/)
    assert.match(why, /digest [0-9a-f]{64}/)
  })

  it('renders a feed as a timeline, and a proof downloaded from it verifies with fleet ledger verify-proof', async () => {
    const own = devices[0]!.state.deviceId
    await a.feed.ledger.checkpoint()
    await page.click(`#feeds tr[data-feed="${own}"] button`)
    await page.waitForSelector('#timeline-rows .row button.proof')
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('#timeline-rows .row button.proof')
    ])
    const file = path.join(dir, 'proof.json')
    await download.saveAs(file)
    const fleetId = Buffer.from(a.membership.fleetId).toString('hex')
    const verified = await runFleetAsync(['ledger', 'verify-proof', file, '--fleet', fleetId])
    assert.equal(verified.status, 0, verified.stderr)
    // The same entry saying it happened a millisecond later does not.
    const proof = JSON.parse(await readFile(file, 'utf8')) as { bundle: { entry: string } }
    const { entry } = decodeEntry(Buffer.from(proof.bundle.entry, 'base64'))
    proof.bundle.entry = Buffer.from(encodeEntry({ ...entry, time: entry.time + 1 })).toString('base64')
    await writeFile(file, JSON.stringify(proof))
    assert.equal((await runFleetAsync(['ledger', 'verify-proof', file, '--fleet', fleetId])).status, 1)
    assert.deepEqual(errors, [])
  })

  it("signs an enrolled operator in with their security key on localhost; refuses a replay, another challenge, no PIN, another origin, an action's approval, a revoked or unknown key and a cloned one", async () => {
    const alice = new SoftwareAuthenticator()
    const bob = new SoftwareAuthenticator()
    await enrolActors(fleet, a, [securityKeyActor('alice', alice), securityKeyActor('bob', bob)])
    await publishOwnerStatements(fleet, [{ type: 'actor.revoke', body: { actorId: 'bob', reason: 'key lost' } }], [a])
    await until(() => a.membership.actors.get('bob')?.revoked !== undefined, 'the agent to know bob is revoked')
    const host = `localhost:${server.port}`
    const origin = `http://${host}`
    const post = (route: string, body: unknown, on = host) =>
      raw(server.port, {
        path: route,
        method: 'POST',
        headers: { host: on, origin: `http://${on}`, 'content-type': 'application/json' },
        body: JSON.stringify(body)
      })
    const offer = async (): Promise<{ nonce: string; challenge: Uint8Array; allowed: string[] }> => {
      const answer = await post('/api/key-challenge', {})
      assert.equal(answer.status, 200, answer.body)
      const { nonce, options } = JSON.parse(answer.body) as {
        nonce: string
        options: { challenge: string; allowCredentials: Array<{ id: string }> }
      }
      return {
        nonce,
        challenge: Buffer.from(options.challenge, 'base64url'),
        allowed: options.allowCredentials.map((c) => c.id)
      }
    }
    const login = (
      nonce: string,
      key: SoftwareAuthenticator,
      choice: Partial<CeremonyChoice> & { challenge: Uint8Array }
    ) =>
      post('/api/key-login', {
        nonce,
        credential: assertionJson(key.assert({ origin, rpId: 'localhost', ...choice }))
      })
    const refused = async (answer: Promise<{ status: number; body: string }>, reason: RegExp): Promise<void> => {
      const { status, body } = await answer
      assert.equal(status, 403, body)
      assert.match((JSON.parse(body) as { message: string }).message, reason)
    }
    // WebAuthn needs a name: the console at 127.0.0.1 offers no challenge.
    await refused(post('/api/key-challenge', {}, `127.0.0.1:${server.port}`), /localhost/)
    // Only alice's key is offered: bob was revoked.
    const first = await offer()
    assert.deepEqual(first.allowed, [Buffer.from(alice.credentialId).toString('base64url')])
    // Without user verification (no PIN), on another origin, or for another challenge: refused, and each challenge is spent.
    await refused(login(first.nonce, alice, { challenge: first.challenge, flags: FLAGS.up }), /user verification/i)
    await refused(login(first.nonce, alice, { challenge: first.challenge }), /not one of this console, or was answered/)
    const second = await offer()
    await refused(
      login(second.nonce, alice, { challenge: second.challenge, origin: `http://127.0.0.1:${server.port}` }),
      /origin/i
    )
    const third = await offer()
    await refused(login(third.nonce, alice, { challenge: first.challenge }), /challenge/i)
    // An approval of an action (its challenge the SHA-256 of the action's bytes) signs nobody in.
    const fourth = await offer()
    await refused(
      login(fourth.nonce, alice, { challenge: actionChallenge(new TextEncoder().encode('device.revoke')) }),
      /challenge/i
    )
    // Revoked, and never enrolled.
    const fifth = await offer()
    await refused(login(fifth.nonce, bob, { challenge: fifth.challenge }), /not the credential of an enrolled operator/)
    const sixth = await offer()
    await refused(
      login(sixth.nonce, new SoftwareAuthenticator(), { challenge: sixth.challenge }),
      /not the credential of an enrolled operator/
    )
    // Alice's key: signed in, and the session opens the API.
    const good = await offer()
    const signedIn = await login(good.nonce, alice, { challenge: good.challenge })
    assert.equal(signedIn.status, 200, signedIn.body)
    const answer = JSON.parse(signedIn.body) as { session: string; actor: string }
    assert.equal(answer.actor, 'alice')
    const authorization = `Bearer ${answer.session}`
    assert.equal((await raw(server.port, { path: '/api/overview', headers: { host, authorization } })).status, 200)
    // A copy of alice's key whose counter lags behind: cloned, refused.
    const clone = new SoftwareAuthenticator({
      privateKey: alice.privateKey,
      credentialId: alice.credentialId,
      counter: 0
    })
    const seventh = await offer()
    await refused(
      login(seventh.nonce, clone, { challenge: seventh.challenge, counter: 1 }),
      /counter that did not grow/
    )

    // In Chromium, with alice's credential in a virtual security key: the button signs her in.
    const held = await openAuthenticatorPage(chromium().browser)
    try {
      await holdCredential(held, new SoftwareAuthenticator({ ...alice, counter: alice.counter }))
      const pageErrors: string[] = []
      held.page.on('console', (message) => {
        if (message.type() === 'error' && !/Failed to load resource/.test(message.text()))
          pageErrors.push(message.text())
      })
      held.page.on('pageerror', (error) => pageErrors.push(error.message))
      await held.page.goto(`http://127.0.0.1:${server.port}/`)
      await held.page.click('#signin-key')
      await held.page.waitForSelector('#login-status:has-text("localhost")')
      await held.page.goto(`${origin}/`)
      await held.page.click('#signin-key')
      await held.page.waitForSelector('#members tbody tr')
      assert.match((await held.page.textContent('#who')) ?? '', /signed in as alice \(operator, security key\)/)
      const members = await rows(held.page, 'members', 'device')
      for (const device of devices) assert.ok(members.has(device.state.deviceId), `member ${device.name} shown`)
      assert.deepEqual(pageErrors, [])
    } finally {
      await held.close()
    }
  })
})
