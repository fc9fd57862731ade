/**
 * The control socket of a real agent (swtpm, the real ceremony, the owner's feed) with actors the
 * owner enrolled: `prepare` gives the statement an actor signs, `append` takes the actor's proof
 * (signed on a SoftHSM2 token), `approve` waits for an actor's security key on the approval page
 * (headless Chromium's virtual authenticator), and every refusal leaves the feed as it was.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { appendFileSync, copyFileSync, readFileSync, realpathSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import {
  type Approvals,
  ControlError,
  CONTROL_SOCKET,
  checkPreparedStatement,
  controlRequest,
  ownerFeedId,
  publishOwnerFeed,
  openActorTokenKey,
  proofToText,
  type Agent
} from '../../src/agent/index.js'
import { fromBase64, toBase64, toHex } from '../../src/common/index.js'
import { actorStatement, decodeActorProof, decodeWorkloadEvidence, verifyActorProof } from '../../src/ledger/index.js'
import { loadModule } from '../../src/pkcs11/index.js'
import type { SimFleet, SimDevice } from '../../simnet/fleet.js'
import { chromiumSuite, openAuthenticatorPage, type AuthenticatorPage } from '../helpers/browser.js'
import { haveSwtpm, tempDir } from '../helpers/devices.js'
import { SOFTHSM_MODULE, SoftHsm, skipWithoutSoftHsm } from '../helpers/softhsm.js'
import { SoftwareAuthenticator } from '../helpers/software-authenticator.js'
import { until } from '../helpers/wait.js'
import {
  agentWithActors,
  holdCredential,
  ownEntry,
  pressApprove,
  securityKeyActor,
  serveControl,
  tokenActor,
  type ServedControl
} from '../helpers/actors.js'

const run = promisify(execFile)
const PIN = '2468-1357'
const dataAccess = (actorId: string, resource = 'patients/42') => ({
  type: 'operator.data_access',
  actor: { id: actorId, role: 'operator' },
  body: { resource, purpose: 'care' }
})

describe('agent/control: actions signed by their actor, on a real agent', function () {
  this.timeout(180_000)
  let fleet: SimFleet
  let device: SimDevice
  let agent: Agent
  let tokenKey: Uint8Array
  const alice = new SoftwareAuthenticator()
  let served: ServedControl | undefined

  /** The control socket of the agent, with an approval page when `page` is given. */
  async function serve(page?: { timeoutMs?: number; ceremonyTimeoutMs?: number }): Promise<void> {
    await served?.close()
    served = await serveControl(device, agent, page)
  }
  const approvals = (): Approvals => served!.approvals!

  const tokenAccess = () => ({
    module: SOFTHSM_MODULE,
    token: 'actors',
    keyLabel: 'dr.smith',
    pin: async () => PIN
  })

  const entryAt = async (seq: number) => await ownEntry(agent, seq)

  before(async function () {
    skipWithoutSoftHsm(this)
    if (!haveSwtpm()) this.skip()
    const hsm = await SoftHsm.create([{ label: 'actors', pin: PIN }])
    hsm.use()
    const module = loadModule(SOFTHSM_MODULE)
    try {
      const session = await module.openToken({ token: 'actors', pin: PIN })
      tokenKey = (await session.generateP256('dr.smith')).publicKey
    } finally {
      await module.close()
    }
    ;({ fleet, device, agent } = await agentWithActors([
      tokenActor('dr.smith', tokenKey),
      securityKeyActor('alice', alice)
    ]))
  })

  after(async () => {
    await served?.close()
    await fleet?.close()
  })

  it("prepare: the statement of the action asked for, on this fleet and device, at the agent's time", async () => {
    await serve()
    const asked = dataAccess('dr.smith')
    const answer = await controlRequest(device.dir, { cmd: 'prepare', ...asked })
    assert.equal(answer.fleet, toHex(agent.membership.fleetId))
    assert.equal(answer.device, device.state.deviceId)
    assert.ok(typeof answer.at === 'number' && Math.abs(answer.at - Date.now()) < 10_000)
    const expected = actorStatement(
      { fleet: agent.membership.fleetId, device: device.state.deviceId, attest: null, ...asked },
      answer.at
    )
    assert.equal(answer.statement, toBase64(expected))
    // The signer's own check agrees.
    const expectedAction = { fleet: agent.membership.fleetId, device: device.state.deviceId, ...asked }
    const statement = fromBase64(answer.statement as string)
    assert.deepEqual(checkPreparedStatement(statement, expectedAction, Date.now()), { at: answer.at })
  })

  it('prepare refuses at once, with the typed code, what the ledger would refuse', async () => {
    await serve()
    const size = agent.feed.ledger.size
    const refusals: Array<[Record<string, unknown>, string]> = [
      [{ ...dataAccess('dr.smith'), type: 'operator.launch_rockets' }, 'ERR_UNKNOWN_ACTION'],
      [{ ...dataAccess('dr.smith'), body: { resource: 'patients/42' } }, 'ERR_BODY_SCHEMA'],
      [{ ...dataAccess('dr.smith'), actor: { id: 'dr.smith', role: 'agent' } }, 'ERR_CONTROL_ROLE'],
      [{ ...dataAccess('dr.smith'), actor: { id: 'dr.smith', role: 'chief' } }, 'ERR_BAD_REQUEST'],
      [{ ...dataAccess('dr.smith'), body: [] }, 'ERR_BAD_BODY']
    ]
    for (const [request, code] of refusals)
      await assert.rejects(
        controlRequest(device.dir, { cmd: 'prepare', ...request }),
        (err: unknown) => err instanceof ControlError && err.code === code,
        code
      )
    assert.equal(agent.feed.ledger.size, size)
  })

  it("append with a proof signed on the actor's token: a version-2 entry whose proof verifies against the enrolled key", async () => {
    await serve()
    const asked = dataAccess('dr.smith', 'patients/7')
    const key = await openActorTokenKey(tokenAccess())
    let proof: Uint8Array
    try {
      assert.deepEqual(key.publicKey, tokenKey)
      const prepared = await controlRequest(device.dir, { cmd: 'prepare', ...asked })
      const statement = fromBase64(prepared.statement as string)
      const expected = { fleet: agent.membership.fleetId, device: device.state.deviceId, ...asked }
      const { at } = checkPreparedStatement(statement, expected, Date.now())
      proof = await key.prove(statement, at)
    } finally {
      await key.close()
    }
    const answer = await controlRequest(device.dir, { cmd: 'append', ...asked, proof: proofToText(proof) })
    assert.deepEqual([answer.feed, answer.sealed], [device.state.deviceId, true])
    const entry = await entryAt(answer.seq as number)
    assert.equal(entry.v, 2)
    assert.deepEqual(entry.proof, proof)
    assert.deepEqual(entry.body, asked.body)
    const verified = await verifyActorProof(entry, agent.membership.actors)
    assert.equal(verified.kind, 'pkcs11')
  })

  it('append refuses a proof that is not canonical base64, too long, or not a proof: nothing appended', async () => {
    await serve()
    const size = agent.feed.ledger.size
    const refusals: Array<[unknown, string]> = [
      ['not base64!', 'ERR_PROOF_TEXT'],
      ['A'.repeat(6000), 'ERR_PROOF_TEXT'],
      [42, 'ERR_PROOF_TEXT'],
      [toBase64(Uint8Array.of(0xa1, 0x61, 0x76, 0x02)), 'ERR_MALFORMED_ACTOR_PROOF']
    ]
    for (const [proof, code] of refusals)
      await assert.rejects(
        controlRequest(device.dir, { cmd: 'append', ...dataAccess('dr.smith'), proof }),
        (err: unknown) => err instanceof ControlError && err.code === code,
        code
      )
    assert.equal(agent.feed.ledger.size, size)
  })

  it('approve: refused when the config has no approval page; status names the page when it has one', async () => {
    await serve()
    await assert.rejects(controlRequest(device.dir, { cmd: 'approve', ...dataAccess('alice') }), {
      name: 'ControlError',
      code: 'ERR_APPROVALS_OFF'
    })
    assert.equal(
      ((await controlRequest(device.dir, { cmd: 'status' })).status as Record<string, unknown>).approvalPage,
      undefined
    )
    await serve({})
    const status = (await controlRequest(device.dir, { cmd: 'status' })).status as Record<string, unknown>
    assert.match(String(status.approvalPage), /^http:\/\/localhost:\d+\/$/)
    assert.equal(status.approvalPage, approvals().url)
  })

  it('approve refuses at once an actor the owner never enrolled, and one who signs on a token', async () => {
    await serve({})
    const size = agent.feed.ledger.size
    await assert.rejects(controlRequest(device.dir, { cmd: 'approve', ...dataAccess('mallory') }), {
      code: 'ERR_APPROVER_UNKNOWN'
    })
    await assert.rejects(controlRequest(device.dir, { cmd: 'approve', ...dataAccess('dr.smith') }), {
      code: 'ERR_APPROVER_NOT_WEBAUTHN'
    })
    assert.equal(approvals().pendingCount, 0)
    assert.equal(agent.feed.ledger.size, size)
  })

  it('approve: no approval within the timeout is refused with its typed error; nothing appended', async () => {
    await serve({ timeoutMs: 1_000 })
    const size = agent.feed.ledger.size
    await assert.rejects(controlRequest(device.dir, { cmd: 'approve', ...dataAccess('alice') }), (err: unknown) => {
      return err instanceof ControlError && err.code === 'ERR_APPROVAL_TIMEOUT' && /did not approve/.test(err.message)
    })
    assert.equal(approvals().pendingCount, 0)
    assert.equal(agent.feed.ledger.size, size)
  })

  it('a caller that hangs up withdraws its approval', async () => {
    await serve({})
    const waiting = controlRequest(device.dir, { cmd: 'approve', ...dataAccess('alice') }, 1_000)
    await until(() => approvals().pendingCount === 1, 'the action on the page')
    await assert.rejects(waiting, { code: 'ERR_CONTROL_TIMEOUT' })
    await until(() => approvals().pendingCount === 0, 'the action withdrawn')
  })

  describe('approve through the page, in Chromium with a virtual security key', () => {
    const chromium = chromiumSuite()
    let on: AuthenticatorPage

    before(async () => {
      on = await openAuthenticatorPage(chromium().browser)
    })
    beforeEach(async () => {
      // Alice's key is the one the owner enrolled: the virtual authenticator holds its private key.
      await on.replaceAuthenticator()
      await holdCredential(on, alice)
    })
    after(async () => {
      await on?.close()
    })

    it('the actor approves with their key; the entry carries the assertion, which verifies against the enrolled key', async () => {
      await serve({})
      const asked = dataAccess('alice', 'patients/9')
      const answered = controlRequest(device.dir, { cmd: 'approve', ...asked }, 60_000)
      await until(() => approvals().pendingCount === 1, 'the action on the page')
      assert.equal(await pressApprove(on.page, approvals().url!), 'done')
      const answer = await answered
      assert.deepEqual([answer.feed, answer.sealed], [device.state.deviceId, true])
      const entry = await entryAt(answer.seq as number)
      assert.deepEqual([entry.v, entry.type, entry.actor, entry.body], [2, asked.type, asked.actor, asked.body])
      const verified = await verifyActorProof(entry, agent.membership.actors)
      assert.equal(verified.kind, 'webauthn')
    })

    it('user presence off: the key does not answer, nothing is appended, and the approval times out', async () => {
      await serve({ timeoutMs: 4_000, ceremonyTimeoutMs: 300 })
      await on.cdp.send('WebAuthn.setAutomaticPresenceSimulation', {
        authenticatorId: on.authenticatorId,
        enabled: false
      })
      const size = agent.feed.ledger.size
      const answered = controlRequest(device.dir, { cmd: 'approve', ...dataAccess('alice', 'patients/10') }, 60_000)
      const refused = assert.rejects(answered, { code: 'ERR_APPROVAL_TIMEOUT' })
      await until(() => approvals().pendingCount === 1, 'the action on the page')
      assert.equal(await pressApprove(on.page, approvals().url!), 'failed')
      await refused
      assert.equal(agent.feed.ledger.size, size)
    })
  })

  it('a service acts only through the program the owner allowed: a copy elsewhere and a modified copy are refused, naming them', async () => {
    await serve()
    const node = realpathSync(process.execPath)
    const digestOf = (file: string): Uint8Array =>
      new Uint8Array(createHash('sha256').update(readFileSync(file)).digest())
    const owner = fleet.owner
    await owner.feed.ledger.append({
      type: 'workload.allow',
      actor: { id: 'owner/simnet', role: 'owner' },
      attest: null,
      body: {
        service: 'triage-service',
        uid: process.getuid!(),
        exeDigest: digestOf(node),
        exe: node,
        description: 'the test runner'
      }
    })
    await owner.feed.ledger.checkpoint()
    await publishOwnerFeed(
      owner.node,
      owner.feed.store,
      ownerFeedId(agent.membership.fleetId),
      owner.feed.ledger.sealedSize,
      [agent.node.getMultiaddrs()[0]!]
    )
    await until(() => agent.membership.actors.workloads.list().length === 1, 'the agent to know the allowance')
    const hash = toHex(new Uint8Array(32).fill(9))
    const request = {
      cmd: 'append',
      type: 'service.model_inference',
      actor: { id: 'triage-service', role: 'service' },
      body: { model: 'triage-v3', inputHash: hash, outputHash: hash }
    }
    const answer = await controlRequest(device.dir, request)
    const entry = await entryAt(answer.seq as number)
    assert.equal(entry.v, 2)
    const proof = decodeActorProof(entry.proof!)
    assert.equal(proof.kind, 'workload')
    assert.equal(decodeWorkloadEvidence(proof.sig).exe, node)
    // The same request from a copy of the program elsewhere, and from a modified copy.
    const dir = await tempDir('fleet-workload-')
    const copy = path.join(dir, 'node-copy')
    const modified = path.join(dir, 'node-modified')
    copyFileSync(node, copy)
    copyFileSync(node, modified)
    appendFileSync(modified, 'tampered')
    const size = agent.feed.ledger.size
    const script = `
      const socket = require('node:net').createConnection(process.argv[1])
      let text = ''
      socket.on('data', (chunk) => { text += chunk })
      socket.on('end', () => process.stdout.write(text))
      socket.write(process.argv[2] + '\\n')`
    const answered = async (program: string): Promise<{ ok: boolean; code?: string; error?: string }> => {
      const { stdout } = await run(program, [
        '-e',
        script,
        path.join(device.dir, CONTROL_SOCKET),
        JSON.stringify(request)
      ])
      return JSON.parse(stdout) as { ok: boolean; code?: string; error?: string }
    }
    const fromCopy = await answered(copy)
    assert.equal(fromCopy.ok, false)
    assert.equal(fromCopy.code, 'ERR_WORKLOAD_NOT_ALLOWED')
    assert.ok(fromCopy.error!.includes(copy), fromCopy.error)
    const fromModified = await answered(modified)
    assert.equal(fromModified.code, 'ERR_WORKLOAD_NOT_ALLOWED')
    assert.ok(fromModified.error!.includes(toHex(digestOf(modified))), fromModified.error)
    assert.equal(agent.feed.ledger.size, size)
  })
})
