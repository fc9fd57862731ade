/**
 * The approval page of the agent (src/agent/approvals Approvals) on its real loopback server, with
 * a software authenticator posting as the page would and a ledger that records what it is asked to
 * append: an approved action is appended with the assertion as its proof; refusals at once, on
 * the page, by the ledger, by the clock and by the caller leave nothing appended.
 */
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { AbortedError, UsageError, type Random } from '../../../src/common/index.js'
import {
  APPROVALS_LIMITS,
  Approvals,
  prepareAction,
  type EnrolledActor,
  type PreparedAction
} from '../../../src/agent/index.js'
import { BASE_ONTOLOGY, decodeActorProof, type AppendInput } from '../../../src/ledger/index.js'
import {
  ClonedAuthenticatorError,
  actionChallenge,
  decodeStoredAssertion,
  isLoopbackOrigin,
  verifyActionAssertion
} from '../../../src/webauthn/index.js'
import { assertionJson, FLAGS, SoftwareAuthenticator } from '../../helpers/software-authenticator.js'
import { capturingLogger } from '../../helpers/log-lines.js'

const fleet = new Uint8Array(32).fill(0xf1)
const device = 'b'.repeat(52)

/** Randomness whose every draw is the next byte value, so the tests know each pending id. */
function countingRandom(): Random & { next: () => string } {
  let value = 0
  return {
    bytes: (length) => new Uint8Array(length).fill(++value),
    fraction: () => 0,
    next: () => Buffer.alloc(16, value + 1).toString('hex')
  }
}

async function post(url: string, body: unknown): Promise<{ status: number; answer: Record<string, unknown> }> {
  const { host, origin } = new URL(url)
  return await new Promise((resolve, reject) => {
    const outgoing = request(
      {
        host: '127.0.0.1',
        port: Number(new URL(url).port),
        method: 'POST',
        path: '/api/approve',
        headers: { host, origin, 'content-type': 'application/json' },
        setHost: false
      },
      (incoming) => {
        const chunks: Buffer[] = []
        incoming.on('data', (chunk: Buffer) => chunks.push(chunk))
        incoming.on('end', () =>
          resolve({
            status: incoming.statusCode ?? 0,
            answer: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>
          })
        )
      }
    )
    outgoing.on('error', reject)
    outgoing.end(JSON.stringify(body))
  })
}

describe('agent/approvals: the approval page', () => {
  const alice = new SoftwareAuthenticator()
  const actors = new Map<string, EnrolledActor>()
  const appended: AppendInput[] = []
  const { logger, lines: logLines } = capturingLogger()
  let refuseAppend: Error | undefined
  let random: ReturnType<typeof countingRandom>
  let approvals: Approvals

  const ledger = {
    append: async (input: AppendInput) => {
      if (refuseAppend !== undefined) throw refuseAppend
      appended.push(input)
      return { seq: 7, hash: new Uint8Array(32).fill(9) }
    }
  }
  const start = async (timeoutMs?: number): Promise<Approvals> => {
    approvals = new Approvals({ actors, ledger, random, logger }, { port: 0, timeoutMs })
    await approvals.start()
    return approvals
  }
  const asked = (actorId = 'alice', resource = 'patients/42') =>
    prepareAction(
      { fleet, device, ontology: BASE_ONTOLOGY },
      { type: 'operator.data_access', actor: { id: actorId, role: 'operator' }, body: { resource, purpose: 'care' } },
      1_795_000_000_000
    )
  const approve = async (id: string, action: PreparedAction, flags?: number) => {
    const origin = new URL(approvals.url!).origin
    const assertion = alice.assert({ challenge: actionChallenge(action.statement), origin, rpId: 'localhost', flags })
    return await post(approvals.url!, { id, credential: assertionJson(assertion) })
  }

  before(() => {
    const enrolled = (actorId: string, more: Partial<EnrolledActor> = {}): EnrolledActor => ({
      actorId,
      role: 'operator',
      kind: 'webauthn',
      publicKey: alice.publicKey,
      credentialId: alice.credentialId,
      rpId: 'localhost',
      hardware: 'FIDO2 security key',
      enrolledAt: 0,
      ...more
    })
    actors.set('alice', enrolled('alice'))
    actors.set('bob', enrolled('bob', { revoked: { reason: 'key lost', at: 1 } }))
    actors.set('carol', enrolled('carol', { kind: 'pkcs11', credentialId: undefined, rpId: undefined }))
    actors.set('dave', enrolled('dave', { rpId: 'fleet.example' }))
    actors.set('erin', enrolled('erin', { role: 'auditor' }))
  })
  beforeEach(() => {
    appended.length = 0
    logLines.length = 0
    refuseAppend = undefined
    random = countingRandom()
  })
  afterEach(async () => {
    await approvals?.stop()
  })

  it('an approval on the page appends the action with the assertion as its proof; the request resolves with its place', async () => {
    await start()
    const action = asked()
    const id = random.next()
    const placed = approvals.request(action)
    const { status, answer } = await approve(id, action)
    assert.deepEqual([status, answer.ok], [200, true])
    assert.deepEqual(await placed, { seq: 7, hash: new Uint8Array(32).fill(9) })
    assert.equal(appended.length, 1)
    const [input] = appended
    assert.deepEqual(
      { type: input!.type, actor: input!.actor, attest: input!.attest, body: input!.body },
      { type: action.type, actor: action.actor, attest: null, body: action.body }
    )
    const proof = decodeActorProof(input!.proof!)
    assert.equal(proof.kind, 'webauthn')
    assert.equal(proof.at, action.at)
    // The proof is the actor's assertion over exactly this statement: any peer verifies it again.
    await verifyActionAssertion(
      { ...decodeStoredAssertion(proof.sig), credentialId: alice.credentialId },
      {
        signingBytes: action.statement,
        credential: { credentialId: alice.credentialId, publicKey: alice.publicKey, counter: 0 },
        origin: isLoopbackOrigin,
        rpId: 'localhost',
        requireUserVerification: true
      }
    )
    assert.equal(approvals.pendingCount, 0)
    // Answered once: a second approval of the same action finds nothing pending.
    assert.equal((await approve(id, action)).answer.code, 'ERR_WEBAUTHN_NOT_PENDING')
    assert.equal(appended.length, 1)
  })

  it('refuses at once an unknown actor, a revoked one, another role, a token actor and a key of another RP', async () => {
    await start()
    const refusals: Array<[string, string]> = [
      ['eve', 'ApproverUnknownError'],
      ['bob', 'ApproverRevokedError'],
      ['carol', 'ApproverKindError'],
      ['dave', 'ApproverRpIdError']
    ]
    for (const [actorId, name] of refusals) await assert.rejects(approvals.request(asked(actorId)), { name })
    await assert.rejects(approvals.request(asked('erin')), {
      name: 'ActorRoleMismatchError',
      code: 'ERR_ACTOR_ROLE_MISMATCH'
    })
    await assert.rejects(approvals.request(asked('eve')), (err: unknown) => {
      return (err as { actorId?: string }).actorId === 'eve' && (err as Error).message.includes('not enrolled')
    })
    assert.equal(approvals.pendingCount, 0)
  })

  it('an assertion without user presence is refused on the page: nothing appended, then the timeout answers', async () => {
    await start(1_500)
    const action = asked()
    const id = random.next()
    const placed = approvals.request(action)
    const refused = await approve(id, action, FLAGS.uv)
    assert.deepEqual([refused.status, refused.answer.code], [403, 'ERR_WEBAUTHN_USER_PRESENCE'])
    assert.equal(approvals.pendingCount, 1)
    await assert.rejects(placed, (err: unknown) => {
      const timeout = err as { name: string; code: string; id: string; actorId: string; timeoutMs: number }
      return (
        timeout.name === 'ApprovalTimeoutError' &&
        timeout.code === 'ERR_APPROVAL_TIMEOUT' &&
        timeout.id === id &&
        timeout.actorId === 'alice' &&
        timeout.timeoutMs === 1_500
      )
    })
    assert.equal(appended.length, 0)
    assert.equal(approvals.pendingCount, 0)
    assert.equal((await approve(id, action)).answer.code, 'ERR_WEBAUTHN_NOT_PENDING')
  })

  it("the ledger's refusal refuses the approval and answers the caller; a cloned key is logged at warn with its evidence", async () => {
    await start()
    refuseAppend = new ClonedAuthenticatorError('cred-b64', 41, 7)
    const action = asked()
    const id = random.next()
    const placed = assert.rejects(approvals.request(action), {
      name: 'ClonedAuthenticatorError',
      storedCounter: 41,
      receivedCounter: 7
    })
    const { status, answer } = await approve(id, action)
    assert.deepEqual([status, answer.code], [403, 'ERR_WEBAUTHN_CLONED_AUTHENTICATOR'])
    await placed
    const warned = logLines.find((line) => line.level === 'warn')
    assert.ok(warned !== undefined, JSON.stringify(logLines))
    assert.equal(warned.msg, 'an approval was refused: the security key may be cloned')
    assert.deepEqual([warned.credentialId, warned.storedCounter, warned.receivedCounter], ['cred-b64', 41, 7])
    assert.deepEqual([warned.id, warned.actor], [id, 'alice'])
    // Other refusals are not warnings.
    refuseAppend = new UsageError('refused for another reason')
    const next = random.next()
    const again = assert.rejects(approvals.request(asked()), { name: 'UsageError' })
    await approve(next, asked())
    await again
    assert.equal(logLines.filter((line) => line.level === 'warn').length, 1)
    assert.equal(appended.length, 0)
  })

  it('holds at most APPROVALS_LIMITS.maxPending actions; a caller that hangs up withdraws its own', async () => {
    await start()
    const callers = Array.from({ length: APPROVALS_LIMITS.maxPending }, () => new AbortController())
    const waiting = callers.map((caller) => approvals.request(asked(), { signal: caller.signal }))
    await assert.rejects(approvals.request(asked()), { name: 'ApprovalsFullError', max: APPROVALS_LIMITS.maxPending })
    callers[0]!.abort()
    await assert.rejects(waiting[0]!, (err: unknown) => err instanceof AbortedError)
    assert.equal(approvals.pendingCount, APPROVALS_LIMITS.maxPending - 1)
    // The withdrawn one is gone from the page; the others are refused when the page stops.
    const withdrawn = Buffer.alloc(16, 1).toString('hex')
    assert.equal((await approve(withdrawn, asked())).answer.code, 'ERR_WEBAUTHN_NOT_PENDING')
    const refused = waiting.slice(1).map((each) => assert.rejects(each, (err: unknown) => err instanceof AbortedError))
    await approvals.stop()
    await Promise.all(refused)
    assert.equal(approvals.pendingCount, 0)
    await assert.rejects(approvals.request(asked()), { name: 'ApprovalsOffError', code: 'ERR_APPROVALS_OFF' })
    assert.equal(appended.length, 0)
  })

  it('an approval timeout outside 1..APPROVALS_LIMITS.approvalTimeoutMs is a usage error', () => {
    for (const timeoutMs of [0, APPROVALS_LIMITS.approvalTimeoutMs + 1, 1.5])
      assert.throws(() => new Approvals({ actors, ledger, random }, { port: 0, timeoutMs }), { name: 'UsageError' })
  })
})
