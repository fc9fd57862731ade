/**
 * Real ceremonies: headless Chromium runs the approval and enrolment pages against a virtual
 * FIDO2 authenticator (DevTools protocol, WebAuthn domain). One browser for the suite; each test
 * has its own browser context, authenticator and approval server.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import type { Page } from 'playwright-core'
import { projectRoot } from '../../src/common/index.js'
import {
  actionChallenge,
  decodeStoredAssertion,
  isLoopbackOrigin,
  startApprovalServer,
  verifyActionAssertion,
  type Approval,
  type ApprovalServer,
  type AttestationPolicy,
  type EnrolledCredential,
  type PendingAction,
  type PendingEnrolment,
  type Refusal,
  type StoredCredential
} from '../../src/webauthn/index.js'
import {
  answerOnPage,
  chromiumSuite,
  findChromium,
  groupAlive,
  launchChromium,
  noChromium,
  openAuthenticatorPage,
  type AuthenticatorPage,
  type PageAnswer
} from '../helpers/browser.js'
import { assertionJson, FLAGS, SoftwareAuthenticator } from '../helpers/software-authenticator.js'

const VECTORS = path.join(projectRoot(import.meta.url), 'test/vectors/webauthn')
/** The AAGUID Chromium's virtual ctap2 authenticator reports. */
const CHROMIUM_AAGUID = '01020304-0506-0708-0102-030405060708'
const CHROMIUM_ROOT = readFileSync(path.join(VECTORS, 'chromium-virtual-attestation.pem'), 'utf8')
const UNRELATED_ROOT = readFileSync(path.join(VECTORS, 'unrelated-root.pem'), 'utf8')
const CHROMIUM_POLICY: AttestationPolicy = { aaguids: [CHROMIUM_AAGUID], roots: [CHROMIUM_ROOT] }

interface PostAnswer {
  status: number
  code: string
}

interface WorldInit {
  allow?: AttestationPolicy
  requireUserVerification?: boolean
  ceremonyTimeoutMs?: number
}

/** An approval server with its callers' side: pending items, enrolled credentials, what it heard. */
class World {
  server!: ApprovalServer
  readonly actions: Array<Omit<PendingAction, 'credential'>> = []
  readonly enrolments: PendingEnrolment[] = []
  readonly credentials = new Map<string, StoredCredential>()
  readonly enrolled: EnrolledCredential[] = []
  readonly approvals: Approval[] = []
  readonly refusals: Refusal[] = []

  static async start(init: WorldInit = {}): Promise<World> {
    const world = new World()
    world.server = await startApprovalServer({
      port: 0,
      rpId: 'localhost',
      requireUserVerification: init.requireUserVerification,
      ceremonyTimeoutMs: init.ceremonyTimeoutMs ?? 20_000,
      pending: () =>
        world.actions.flatMap((action) => {
          const credential = world.credentials.get(action.actor)
          return credential === undefined ? [] : [{ ...action, credential }]
        }),
      onAssertion: (approval) => {
        world.approvals.push(approval)
        const actor = approval.action.actor
        world.credentials.set(actor, { ...world.credentials.get(actor)!, counter: approval.newCounter })
        world.actions.splice(
          world.actions.findIndex((action) => action.id === approval.action.id),
          1
        )
      },
      onRefusal: (refusal) => {
        world.refusals.push(refusal)
      },
      enrolment: {
        pending: () => world.enrolments,
        allow: init.allow ?? CHROMIUM_POLICY,
        onEnrolment: (enrolment, credential) => {
          world.enrolled.push(credential)
          world.credentials.set(enrolment.actorId, credential)
          world.enrolments.splice(world.enrolments.indexOf(enrolment), 1)
        }
      }
    })
    return world
  }

  addAction(id: string, actor = 'alice'): Omit<PendingAction, 'credential'> {
    const action = {
      id,
      type: 'device.revoke',
      actor,
      body: { device: `d-${id}`, reason: 'lost <laptop>' },
      signingBytes: new TextEncoder().encode(`fleet action ${id}`)
    }
    this.actions.push(action)
    return action
  }
}

/** Posts a body to the approval endpoint from the approval page itself (same origin). */
async function postFromPage(page: Page, server: ApprovalServer, body: unknown): Promise<PostAnswer> {
  await page.goto(server.url)
  return await page.evaluate(async (json) => {
    const headers = { 'content-type': 'application/json' }
    const response = await fetch('/api/approve', { method: 'POST', headers, body: json })
    return { status: response.status, code: ((await response.json()) as { code: string }).code }
  }, JSON.stringify(body))
}

describe('webauthn in Chromium (virtual authenticator)', function () {
  this.timeout(60_000)
  const chromium = chromiumSuite({ hostResolverRules: 'MAP evil.example 127.0.0.1' })
  const worlds: World[] = []
  // One page for the suite (a renderer costs 0.4–1 s to start); each test gets a fresh authenticator.
  let on: AuthenticatorPage

  before(async () => {
    on = await openAuthenticatorPage(chromium().browser)
  })
  beforeEach(async () => {
    await on.replaceAuthenticator()
  })

  const world = async (init: Parameters<typeof World.start>[0] = {}): Promise<World> => {
    const started = await World.start(init)
    worlds.push(started)
    return started
  }
  const enrol = async (at: World, on: AuthenticatorPage, actor = 'alice'): Promise<PageAnswer> => {
    at.enrolments.push({ id: `enrol-${actor}`, actorId: actor, challenge: new Uint8Array(randomBytes(32)) })
    return await answerOnPage(on.page, at.server.enrolUrl, `enrol-${actor}`)
  }

  afterEach(async () => {
    for (const started of worlds.splice(0)) await started.server.close()
  })

  it("enrols a key: packed attestation, the authenticator's AAGUID, trusted through its pinned key", async () => {
    const at = await world()
    const result = await enrol(at, on)
    assert.deepEqual(result, { outcome: 'done', text: 'Enrolled.' })
    assert.equal(at.refusals.length, 0)
    const [credential] = at.enrolled
    assert.equal(credential?.fmt, 'packed')
    assert.equal(credential.aaguid, CHROMIUM_AAGUID)
    assert.equal(credential.attestation.x5c?.length, 1)
    assert.equal(credential.attestation.trusted, true)
    assert.equal(credential.userVerified, true)
    assert.deepEqual(credential.transports, ['usb'])
  })

  it('refuses a key whose model is not on the allowlist', async () => {
    const at = await world({ allow: { roots: [CHROMIUM_ROOT], aaguids: ['ee882879-721c-4913-9775-3dfcce97072a'] } })
    const result = await enrol(at, on)
    assert.equal(result.outcome, 'refused')
    assert.match(result.text, /model 01020304-0506-0708-0102-030405060708 is not allowed/)
    assert.equal(at.enrolled.length, 0)
    const [refusal] = at.refusals as Array<Refusal & { error: { aaguid?: string } }>
    assert.equal(refusal?.error.name, 'AaguidNotAllowedError')
    assert.equal(refusal.error.aaguid, CHROMIUM_AAGUID)
  })

  it('refuses an attestation that reaches none of the named roots, or when no root is named', async () => {
    const unrelated = await world({ allow: { roots: [UNRELATED_ROOT] } })
    assert.equal((await enrol(unrelated, on)).outcome, 'refused')
    const none = await world({ allow: {} })
    assert.equal((await enrol(none, on)).outcome, 'refused')
    for (const refused of [unrelated, none]) {
      assert.equal(refused.enrolled.length, 0)
      assert.equal(refused.refusals[0]?.error.name, 'AttestationUntrustedError')
    }
  })

  it('approves actions: assertions verify, the counter grows, a peer re-verifies the stored form', async () => {
    const at = await world()
    await enrol(at, on)
    const enrolled = at.enrolled[0]!
    at.addAction('a1')
    assert.deepEqual(await answerOnPage(on.page, at.server.url, 'a1'), { outcome: 'done', text: 'Approved.' })
    at.addAction('a2')
    assert.equal((await answerOnPage(on.page, at.server.url, 'a2')).outcome, 'done')
    const [first, second] = at.approvals
    assert.ok(first!.newCounter > enrolled.counter, `${first!.newCounter} > ${enrolled.counter}`)
    assert.ok(second!.newCounter > first!.newCounter)
    assert.equal(first!.userVerified, true)
    assert.equal(at.refusals.length, 0)
    // A peer holding only the ledger's bytes and the enrolled credential verifies the first approval again.
    const stored = { ...decodeStoredAssertion(first!.stored), credentialId: first!.credentialId }
    const again = await verifyActionAssertion(stored, {
      signingBytes: first!.action.signingBytes,
      credential: { ...enrolled, counter: enrolled.counter },
      origin: isLoopbackOrigin,
      rpId: 'localhost',
      requireUserVerification: true
    })
    assert.equal(again.newCounter, first!.newCounter)
  })

  it('user presence off: the browser call fails and the server hears nothing', async () => {
    const at = await world({ ceremonyTimeoutMs: 300 })
    await enrol(at, on)
    await on.cdp.send('WebAuthn.setAutomaticPresenceSimulation', {
      authenticatorId: on.authenticatorId,
      enabled: false
    })
    at.addAction('a1')
    const result = await answerOnPage(on.page, at.server.url, 'a1')
    assert.equal(result.outcome, 'failed')
    assert.match(result.text, /NotAllowedError|timed out or was not allowed/)
    assert.equal(at.approvals.length, 0)
    assert.equal(at.refusals.length, 0)
  })

  it('an assertion without the user-presence flag (signed by the same key) is refused by the server', async () => {
    const at = await world()
    await enrol(at, on)
    const {
      credentials: [exported]
    } = await on.cdp.send('WebAuthn.getCredentials', { authenticatorId: on.authenticatorId })
    const sameKey = SoftwareAuthenticator.fromExported(exported!)
    const action = at.addAction('a1')
    const assertion = sameKey.assert({
      challenge: actionChallenge(action.signingBytes),
      origin: at.server.origin,
      rpId: 'localhost',
      flags: FLAGS.uv
    })
    const credential = assertionJson(assertion)
    const answer = await postFromPage(on.page, at.server, { id: 'a1', credential })
    assert.deepEqual(answer, { status: 403, code: 'ERR_WEBAUTHN_USER_PRESENCE' })
    assert.equal(at.approvals.length, 0)
    assert.deepEqual(
      at.refusals.map((refusal) => [refusal.error.name, refusal.action?.id]),
      [['UserPresenceMissingError', 'a1']]
    )
  })

  it('user verification: a key without it cannot answer a page requiring it, nor pass a verifier requiring it', async () => {
    await on.replaceAuthenticator({ hasUserVerification: false, isUserVerified: false })
    const relaxed = await world({ requireUserVerification: false })
    assert.equal((await enrol(relaxed, on)).outcome, 'done')
    relaxed.addAction('a1')
    assert.equal((await answerOnPage(on.page, relaxed.server.url, 'a1')).outcome, 'done')
    const approval = relaxed.approvals[0]!
    assert.equal(approval.userVerified, false)
    await assert.rejects(
      verifyActionAssertion(
        { ...approval.assertion, credentialId: approval.credentialId },
        {
          signingBytes: approval.action.signingBytes,
          credential: { ...relaxed.enrolled[0]!, counter: 0 },
          origin: relaxed.server.origin,
          rpId: 'localhost',
          requireUserVerification: true
        }
      ),
      { name: 'UserVerificationMissingError' }
    )

    const strict = await world({ requireUserVerification: true })
    strict.credentials.set('alice', relaxed.credentials.get('alice')!)
    strict.addAction('b1')
    assert.equal((await answerOnPage(on.page, strict.server.url, 'b1')).outcome, 'failed')
    assert.equal(strict.approvals.length, 0)
  })

  it('refuses an assertion replayed for another action', async () => {
    const at = await world()
    await enrol(at, on)
    at.addAction('a1')
    await answerOnPage(on.page, at.server.url, 'a1')
    const approval = at.approvals[0]!
    const other = at.addAction('a2')
    const credential = assertionJson({ ...approval.assertion, credentialId: approval.credentialId })
    const answer = await postFromPage(on.page, at.server, { id: 'a2', credential })
    assert.deepEqual(answer, { status: 403, code: 'ERR_WEBAUTHN_CHALLENGE' })
    assert.deepEqual(
      at.refusals.map((refusal) => [refusal.error.name, refusal.action?.id]),
      [['ChallengeMismatchError', 'a2']]
    )
    assert.equal(at.approvals.length, 1)
    await assert.rejects(
      verifyActionAssertion(
        { ...approval.assertion, credentialId: approval.credentialId },
        {
          signingBytes: other.signingBytes,
          credential: at.credentials.get('alice')!,
          origin: isLoopbackOrigin,
          rpId: 'localhost',
          requireUserVerification: true
        }
      ),
      { name: 'ChallengeMismatchError' }
    )
  })

  it('refuses a cloned authenticator: the same key on a second device with a lower counter', async () => {
    const at = await world()
    await enrol(at, on)
    for (const id of ['a1', 'a2']) {
      at.addAction(id)
      assert.equal((await answerOnPage(on.page, at.server.url, id)).outcome, 'done')
    }
    const stored = at.credentials.get('alice')!.counter
    const {
      credentials: [original]
    } = await on.cdp.send('WebAuthn.getCredentials', { authenticatorId: on.authenticatorId })
    const clone = await on.replaceAuthenticator()
    await on.cdp.send('WebAuthn.addCredential', {
      authenticatorId: clone,
      credential: {
        credentialId: original!.credentialId,
        privateKey: original!.privateKey,
        rpId: 'localhost',
        isResidentCredential: false,
        signCount: 0
      }
    })
    at.addAction('a3')
    const result = await answerOnPage(on.page, at.server.url, 'a3')
    assert.equal(result.outcome, 'refused')
    assert.match(result.text, /may be cloned/)
    assert.equal(at.approvals.length, 2)
    const [refusal] = at.refusals as Array<Refusal & { error: { storedCounter?: number; receivedCounter?: number } }>
    assert.equal(refusal?.error.name, 'ClonedAuthenticatorError')
    assert.equal(refusal.error.storedCounter, stored)
    assert.equal(refusal.error.receivedCounter, 1)
    assert.equal(refusal.action?.id, 'a3')
  })

  it('refuses a page reached through another host name (DNS rebinding)', async () => {
    const at = await world()
    at.credentials.set('alice', { credentialId: new Uint8Array(16), publicKey: new Uint8Array(1), counter: 0 })
    at.addAction('a1')
    const response = await on.page.goto(`http://evil.example:${at.server.port}/`)
    assert.equal(response?.status(), 403)
    assert.ok(!(await on.page.content()).includes('data-id="a1"'))
    assert.deepEqual(
      at.refusals.map((refusal) => [refusal.error.name, (refusal.error as { host?: string }).host]),
      [['HostRefusedError', `evil.example:${at.server.port}`]]
    )
  })

  it('refuses posts from a page of another origin, simple or preflighted', async () => {
    const at = await world()
    const other = await new Promise<Server>((resolve) => {
      const server = createServer((_request, response) => {
        response.end('<!doctype html><title>elsewhere</title>')
      })
      server.listen(0, '127.0.0.1', () => resolve(server))
    })
    try {
      const otherOrigin = `http://localhost:${(other.address() as AddressInfo).port}`
      await on.page.goto(`${otherOrigin}/`)
      const results = await on.page.evaluate(async (target) => {
        const body = JSON.stringify({ id: 'a1', credential: {} })
        const attempt = async (init: RequestInit): Promise<string> => {
          try {
            return (await fetch(target, { method: 'POST', body, ...init })).type
          } catch (error) {
            return (error as Error).name
          }
        }
        return {
          simple: await attempt({ mode: 'no-cors', headers: { 'content-type': 'text/plain' } }),
          preflighted: await attempt({ headers: { 'content-type': 'application/json' } })
        }
      }, `${at.server.url}api/approve`)
      // Both reach the server and are refused; the page learns nothing (CORP blocks even the opaque answer).
      assert.deepEqual(results, { simple: 'TypeError', preflighted: 'TypeError' })
      const seen = at.refusals.map((refusal) => [
        refusal.method,
        refusal.error.name,
        (refusal.error as { origin?: string }).origin
      ])
      assert.deepEqual(seen, [
        ['POST', 'RequestOriginRefusedError', otherOrigin],
        ['OPTIONS', 'RequestOriginRefusedError', otherOrigin]
      ])
      assert.equal(at.approvals.length, 0)
    } finally {
      other.closeAllConnections()
      await new Promise((resolve) => other.close(resolve))
    }
  })
})

describe('webauthn test harness: Chromium', function () {
  this.timeout(60_000)

  it("leaves none of the browser's processes behind when closed", async function () {
    const executable = findChromium()
    if (executable === undefined) {
      process.stderr.write(noChromium('the Chromium harness test'))
      this.skip()
    }
    const launched = await launchChromium(executable)
    assert.ok(groupAlive(launched.pid))
    await openAuthenticatorPage(launched.browser)
    await launched.close()
    assert.equal(groupAlive(launched.pid), false)
    await launched.close()
  })
})
