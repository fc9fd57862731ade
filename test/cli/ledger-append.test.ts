/**
 * fleet ledger append, an actor signing with their own hardware, the CLI as its own process:
 *   --pkcs11 through a running agent (a real agent on swtpm with its control socket, in this
 *   process): the actor's SoftHSM2 token signs what the agent prepared, after the CLI checked it;
 *   --pkcs11 with no agent, to an owner's state directory (swtpm), the statement made locally;
 *   --webauthn through the agent's approval page (headless Chromium, a virtual security key).
 * And the refusals: a wrong PIN, options that do not go together, no approval page, and an
 * action refused for want of its actor's signature, whose message says what to give.
 * The CLI runs under `setsid` (no terminal: a PIN prompt can never wait), its PIN on fd 3.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { createECDH } from 'node:crypto'
import { closeSync, openSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { ActorRegistry, type Approvals, LEDGER_DIR, feedIdentityOf, type Agent } from '../../src/agent/index.js'
import {
  LevelLedgerStore,
  MissingActorProofError,
  decodeEntry,
  ownFeedSource,
  verifyActorProof,
  type Entry
} from '../../src/ledger/index.js'
import { loadModule } from '../../src/pkcs11/index.js'
import type { SimFleet, SimDevice } from '../../simnet/fleet.js'
import { chromiumSuite, openAuthenticatorPage, type AuthenticatorPage } from '../helpers/browser.js'
import { FLEET, runFleet as run } from '../helpers/cli.js'
import { haveSwtpm, startDevice, stopAllDevices, tempDir } from '../helpers/devices.js'
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

const PIN = '7531-8642'
const BODY = JSON.stringify({ resource: 'patients/42', purpose: 'care' })

interface Running {
  child: ChildProcess
  stderr: () => string
  done: Promise<{ status: number | null; stdout: string; stderr: string }>
}

describe('cli: fleet ledger append, signed by the actor', function () {
  this.timeout(180_000)
  let dir: string
  let tokenKey: Uint8Array

  /** `fleet ARGS` without a terminal and without blocking this process (an agent runs here); `pin` on fd 3. */
  function fleet(args: string[], options: { pin?: string } = {}): Running {
    let fd: number | undefined
    if (options.pin !== undefined) {
      const file = path.join(dir, `pin-${process.hrtime.bigint()}`)
      writeFileSync(file, `${options.pin}\n`, { mode: 0o600 })
      fd = openSync(file, 'r')
    }
    const child = spawn('setsid', ['-w', FLEET, ...args], { stdio: ['ignore', 'pipe', 'pipe', fd ?? 'ignore'] })
    if (fd !== undefined) closeSync(fd)
    let stdout = ''
    let stderr = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
    })
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    const done = new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      child.once('close', (status) => resolve({ status, stdout, stderr }))
    })
    return { child, stderr: () => stderr, done }
  }

  const withToken = (extra: string[] = []): string[] => [
    '--pkcs11',
    SOFTHSM_MODULE,
    '--token',
    'actors',
    '--actor-pin-fd',
    '3',
    ...extra
  ]

  before(async function () {
    skipWithoutSoftHsm(this)
    if (!haveSwtpm()) this.skip()
    dir = await tempDir('fleet-cli-ledger-append-')
    const hsm = await SoftHsm.create([{ label: 'actors', pin: PIN }])
    // This process and every fleet process it starts find this token store.
    hsm.use()
    const module = loadModule(SOFTHSM_MODULE)
    try {
      const session = await module.openToken({ token: 'actors', pin: PIN })
      // Under the default label (--key-label left out).
      tokenKey = (await session.generateP256('fleet-actor/dr.smith')).publicKey
    } finally {
      await module.close()
    }
  })

  after(async () => {
    await stopAllDevices()
  })

  it('options that do not go together are usage errors (exit 2), before anything is asked', () => {
    const base = ['ledger', 'append', '--state', '/nonexistent', '--type', 'operator.data_access', '--actor', 'a']
    const refusals: Array<[string[], RegExp]> = [
      [[...withToken(), '--webauthn'], /--pkcs11 or --webauthn, not both/],
      [['--token', 'actors'], /--token goes with --pkcs11/],
      [['--actor-pin-fd', '3'], /--actor-pin-fd goes with --pkcs11/],
      [['--pkcs11', SOFTHSM_MODULE], /--pkcs11 needs --token/],
      [['--pkcs11', 'libsofthsm2.so', '--token', 'actors'], /absolute path/]
    ]
    for (const [extra, why] of refusals) {
      const result = run([...base, '--body', BODY, ...extra])
      assert.equal(result.status, 2, result.stderr)
      assert.match(result.stderr, why)
    }
    const notAnObject = run([...base, '--body', '[1]'])
    assert.equal(notAnObject.status, 2)
    assert.match(notAnObject.stderr, /--body must be a JSON object/)
  })

  describe('through the running agent', () => {
    let simFleet: SimFleet
    let device: SimDevice
    let agent: Agent
    const alice = new SoftwareAuthenticator()
    let served: ServedControl | undefined

    async function serve(runtime: Agent, page = false): Promise<void> {
      await served?.close()
      served = await serveControl(device, runtime, page ? {} : undefined, agent)
    }
    const approvals = (): Approvals => served!.approvals!
    const append = (actor: string, extra: string[], pin?: string): Running =>
      fleet(
        [
          'ledger',
          'append',
          '--state',
          device.dir,
          '--type',
          'operator.data_access',
          '--actor',
          actor,
          '--body',
          BODY,
          '--json',
          ...extra
        ],
        { pin }
      )
    const entryAt = async (seq: number): Promise<Entry> => await ownEntry(agent, seq)

    before(async () => {
      ;({
        fleet: simFleet,
        device,
        agent
      } = await agentWithActors([tokenActor('dr.smith', tokenKey), securityKeyActor('alice', alice)]))
    })
    after(async () => {
      await served?.close()
      await simFleet?.close()
    })

    it('--pkcs11: the token signs what the agent prepared; the agent appends a version-2 entry that verifies', async () => {
      await serve(agent)
      const { status, stdout, stderr } = await append('dr.smith', withToken(), PIN).done
      assert.equal(status, 0, stderr)
      const answer = JSON.parse(stdout) as { feed: string; seq: number; hash: string; sealed: boolean }
      assert.deepEqual([answer.feed, answer.sealed], [device.state.deviceId, true])
      const entry = await entryAt(answer.seq)
      assert.equal(entry.v, 2)
      assert.deepEqual([entry.actor, entry.body], [{ id: 'dr.smith', role: 'operator' }, JSON.parse(BODY)])
      assert.equal((await verifyActorProof(entry, agent.membership.actors)).kind, 'pkcs11')
    })

    it('--pkcs11 with a wrong PIN or a key label the token lacks: exit 1, nothing appended', async () => {
      await serve(agent)
      const size = agent.feed.ledger.size
      const wrongPin = await append('dr.smith', withToken(), '0000-0000').done
      assert.equal(wrongPin.status, 1, wrongPin.stderr)
      assert.match(wrongPin.stderr, /PIN/)
      const noKey = await append('dr.smith', withToken(['--key-label', 'nobody']), PIN).done
      assert.equal(noKey.status, 1, noKey.stderr)
      assert.match(noKey.stderr, /nobody/)
      assert.equal(agent.feed.ledger.size, size)
    })

    it('an action refused for want of its actor signature: the message says to give --pkcs11 or --webauthn', async () => {
      // The agent as it is once the ledger requires operators' proofs: its append refuses one without.
      const refusing = Object.create(agent) as Agent
      Object.defineProperty(refusing, 'feed', {
        value: {
          ledger: {
            append: async () => {
              throw new MissingActorProofError('operator.data_access', 'dr.smith', agent.feed.ledger.size)
            }
          }
        }
      })
      await serve(refusing)
      const { status, stderr } = await append('dr.smith', []).done
      assert.equal(status, 1)
      assert.match(stderr, /carries no signature of the actor's own key/)
      assert.match(stderr, /give --pkcs11 MODULE --token LABEL .* or --webauthn/)
      assert.equal(stderr.trim().split('\n').length, 1, 'one line')
    })

    it('--webauthn with no approval page on the agent: exit 1, naming the config key', async () => {
      await serve(agent)
      const { status, stderr } = await append('alice', ['--webauthn']).done
      assert.equal(status, 1)
      assert.match(stderr, /no approval page: set "approvals": \{"port": N\}/)
    })

    describe('--webauthn, approved in Chromium with a virtual security key', () => {
      const chromium = chromiumSuite()
      let on: AuthenticatorPage

      before(async () => {
        on = await openAuthenticatorPage(chromium().browser)
        await holdCredential(on, alice)
      })
      after(async () => {
        await on?.close()
      })

      it('prints where to approve, waits for the actor, and the agent appends the approved action', async () => {
        await serve(agent, true)
        const running = append('alice', ['--webauthn'])
        await until(() => /approve at /.test(running.stderr()), 'the CLI to say where to approve')
        assert.equal(running.stderr().trim(), `approve at ${approvals().url}`)
        await until(() => approvals().pendingCount === 1, 'the action on the page')
        assert.equal(await pressApprove(on.page, approvals().url!), 'done')
        const { status, stdout, stderr } = await running.done
        assert.equal(status, 0, stderr)
        const entry = await entryAt((JSON.parse(stdout) as { seq: number }).seq)
        assert.deepEqual([entry.v, entry.actor.id], [2, 'alice'])
        assert.equal((await verifyActorProof(entry, agent.membership.actors)).kind, 'webauthn')
      })
    })
  })

  describe('with no agent: to an owner state directory', () => {
    let owner: string

    before(async () => {
      const tpm = await startDevice()
      owner = path.join(dir, 'owner')
      const init = run(['owner', 'init', '--state', owner, '--tcti', tpm.tcti, '--json'])
      assert.equal(init.status, 0, init.stderr)
      // The owner enrols dr.smith's token key (made above) in its own feed, as the owner does.
      const enrol = await fleet(
        [
          'actor',
          'enrol',
          '--state',
          owner,
          '--actor',
          'dr.smith',
          '--role',
          'operator',
          '--timeout',
          '1',
          ...withToken()
        ],
        { pin: PIN }
      ).done
      assert.equal(enrol.status, 0, enrol.stderr)
    })

    /** A registry where the owner enrolled dr.smith's token key `publicKey` (in an entry of `entry`'s fleet). */
    function enrolled(entry: Entry, publicKey: Uint8Array): ActorRegistry {
      const registry = new ActorRegistry()
      const actor = { id: 'owner', role: 'owner' }
      registry.apply({
        ...entry,
        v: 1,
        proof: undefined,
        type: 'actor.enrol',
        actor,
        body: tokenActor('dr.smith', publicKey)
      })
      return registry
    }

    /** The owner feed's newest entry, read from its store after the CLI closed it. */
    async function newestEntry(): Promise<Entry> {
      const identity = await feedIdentityOf(owner)
      const store = new LevelLedgerStore(path.join(owner, LEDGER_DIR))
      await store.open()
      try {
        const [bytes] = await ownFeedSource(store, identity.feedId).tail(1)
        return decodeEntry(bytes!).entry
      } finally {
        await store.close()
      }
    }

    it('--pkcs11: the statement is made here, the token signs it, the entry carries the proof', async () => {
      const args = ['ledger', 'append', '--state', owner, '--type', 'operator.data_access', '--actor', 'dr.smith']
      const { status, stdout, stderr } = await fleet([...args, '--body', BODY, '--json', ...withToken()], {
        pin: PIN
      }).done
      assert.equal(status, 0, stderr)
      const answer = JSON.parse(stdout) as { seq: number; sealed: boolean }
      assert.equal(answer.sealed, true)
      const entry = await newestEntry()
      assert.deepEqual([entry.seq, entry.v], [answer.seq, 2])
      // Checked as any peer checks it: against the owner's enrolment of the token key.
      assert.equal((await verifyActorProof(entry, enrolled(entry, tokenKey))).kind, 'pkcs11')
      // Under another enrolled key, the proof does not verify.
      const other = enrolled(entry, new Uint8Array(createECDH('prime256v1').generateKeys()))
      await assert.rejects(verifyActorProof(entry, other), { name: 'ActorSignatureError' })
    })

    it('a wrong PIN: exit 1 before anything is written; --webauthn needs the running agent', async () => {
      const before = (await newestEntry()).seq
      const args = ['ledger', 'append', '--state', owner, '--type', 'operator.data_access', '--actor', 'dr.smith']
      const wrongPin = await fleet([...args, '--body', BODY, ...withToken()], { pin: '1111-1111' }).done
      assert.equal(wrongPin.status, 1, wrongPin.stderr)
      const webauthn = await fleet([...args, '--body', BODY, '--webauthn']).done
      assert.equal(webauthn.status, 1)
      assert.match(webauthn.stderr, /--webauthn needs the running agent/)
      assert.equal((await newestEntry()).seq, before)
    })
  })
})
