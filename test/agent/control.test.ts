/**
 * The control socket: the memory figures of `fleet status` (the resident set split, from
 * /proc/self/status, into the process's own pages and those mapped from files), and its callers,
 * each connection named by the kernel (src/agent/caller) and refused when it cannot be.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { createReadStream, realpathSync } from 'node:fs'
import path from 'node:path'
import {
  agentStatus,
  ControlError,
  controlRequest,
  procStatusMemory,
  residentMemory,
  startControlServer,
  type Agent
} from '../../src/agent/index.js'
import { tpmHealth } from '../../src/agent/tpm-health.js'
import { CallerIdentifier, ExecutableDeletedError, type CallerIdentity } from '../../src/agent/caller/index.js'
import { jsonReplacer } from '../../src/cli/output.js'
import { toHex } from '../../src/common/index.js'
import { BASE_ONTOLOGY, decodeActorProof, decodeWorkloadEvidence } from '../../src/ledger/index.js'
import { runFleetAsync } from '../helpers/cli.js'
import { tempDir } from '../helpers/devices.js'
import { capturingLogger } from '../helpers/log-lines.js'

describe('agent/control: resident memory', () => {
  it('reads the anonymous and file-backed resident sizes from /proc/self/status', () => {
    const memory = residentMemory(
      'Name:\tnode\nVmRSS:\t  113000 kB\nRssAnon:\t   58000 kB\nRssFile:\t   54000 kB\nRssShmem:\t       0 kB\n'
    )
    assert.equal(memory.anonBytes, 58000 * 1024)
    assert.equal(memory.fileBytes, 54000 * 1024)
    assert.ok(memory.rssBytes > 0 && memory.heapUsedBytes > 0)
  })

  it("reads VmRSS, RssAnon and RssFile of any process's status (the memory bench reads the agent's)", () => {
    assert.deepEqual(procStatusMemory('VmRSS:\t  113000 kB\nRssAnon:\t   58000 kB\nRssFile:\t   54000 kB\n'), {
      rss: 113000 * 1024,
      anon: 58000 * 1024,
      file: 54000 * 1024
    })
    assert.deepEqual(procStatusMemory('VmRSS: 1 MB\nRssAnon:\t-5 kB\nRssFile:\t7 kB\n'), { file: 7 * 1024 })
  })

  it('leaves out what the status does not say, or says malformed', () => {
    const memory = residentMemory('RssAnon:\tlots kB\nRssFile: 12 MB\n')
    assert.equal(memory.anonBytes, undefined)
    assert.equal(memory.fileBytes, undefined)
    assert.ok(memory.rssBytes > 0)
  })

  it('on this machine, own and file-backed pages add up to about the resident set', function () {
    if (process.platform !== 'linux') this.skip()
    const memory = residentMemory()
    assert.ok(memory.anonBytes! > 0 && memory.fileBytes! > 0)
    assert.ok(memory.anonBytes! + memory.fileBytes! <= memory.rssBytes * 1.1)
  })
})

describe('agent/status: whether the TPM answers', () => {
  const health = async (tpm: { tcti: string; readClock: () => Promise<unknown> }, ms: number) =>
    await tpmHealth(tpm as Parameters<typeof tpmHealth>[0], ms)
  const withTpm = (readClock: () => Promise<unknown>) => ({ tcti: 'swtpm:x', readClock })

  it('answering: one clock read, timed', async () => {
    const h = await health(
      withTpm(async () => ({ clock: 1n })),
      1_000
    )
    assert.equal(h.answering, true)
    assert.equal(h.tcti, 'swtpm:x')
  })

  it('a TPM error: not answering, with the error', async () => {
    const h = await health(
      withTpm(async () => {
        throw new Error('tcti:IO failure')
      }),
      1_000
    )
    assert.deepEqual([h.answering, h.error], [false, 'tcti:IO failure'])
  })

  it('a TPM that never answers (and ignores the abort): not answering once the wait is over', async () => {
    const h = await health(
      withTpm(async () => await new Promise(() => undefined)),
      50
    )
    assert.deepEqual([h.answering, h.error], [false, 'no answer within 50 ms'])
  })
})

describe('agent/control: each connection is named by the kernel, not by what it says', function () {
  this.timeout(60_000)
  let dir: string
  let nodeDigest: Uint8Array
  const appended: Array<Record<string, unknown>> = []
  const { logger, lines: logLines } = capturingLogger()

  /** An agent with what the control socket uses of one: status fields, and a ledger that records appends. */
  const stubAgent = {
    node: { peerId: { toString: () => 'peer-stub' }, getMultiaddrs: () => [], getConnections: () => [] },
    membership: {
      fleetId: new Uint8Array(32).fill(0xab),
      policy: { bank: 'sha256', pcrs: [0], secureBoot: 'any', events: {} },
      ontology: BASE_ONTOLOGY,
      list: () => [],
      isRevoked: () => false,
      quarantineEvidence: () => undefined
    },
    feed: {
      ledger: {
        size: 3,
        sealedSize: 2,
        append: async (entry: Record<string, unknown>) => {
          appended.push(entry)
          return { seq: 3, hash: new Uint8Array(32).fill(7) }
        },
        whenSealed: async () => undefined
      }
    },
    witnessedBy: async () => [],
    externallyWitnessedBy: async () => [],
    externalWitnessing: { status: () => [] },
    heads: async () => new Map([['feed-a', 5]]),
    attestation: { list: () => [] },
    sinks: { status: async () => [] },
    tpmHealth: async () => ({ tcti: 'swtpm:stub', answering: true, ms: 1 })
  } as unknown as Agent

  /** Starts a control server for the stub agent; the identities it made, or the errors, are recorded. */
  async function serve(
    identify?: CallerIdentifier['identify']
  ): Promise<{ outcomes: Array<CallerIdentity | Error>; close: () => Promise<void> }> {
    const outcomes: Array<CallerIdentity | Error> = []
    const real = new CallerIdentifier()
    const chosen = identify ?? real.identify.bind(real)
    const control = await startControlServer(stubAgent, dir, 'device-stub', {
      logger,
      identifier: {
        identify: (socket, options) => {
          const identified = chosen(socket, options)
          identified.then(
            (identity) => outcomes.push(identity),
            (err: Error) => outcomes.push(err)
          )
          return identified
        }
      }
    })
    return { outcomes, close: control.close }
  }

  before(async function () {
    if (process.platform !== 'linux') this.skip()
    dir = await tempDir('fleet-control-caller-')
    const hash = createHash('sha256')
    for await (const chunk of createReadStream(process.execPath)) hash.update(chunk as Buffer)
    nodeDigest = new Uint8Array(hash.digest())
  })

  it('identifies the fleet CLI (a Node process) by the digest of the Node it runs; status is as before', async () => {
    const { outcomes, close } = await serve()
    try {
      const { status, stdout, stderr, pid } = await runFleetAsync(['status', '--state', dir, '--json'])
      assert.equal(status, 0, stderr)
      const expected = JSON.parse(JSON.stringify(await agentStatus(stubAgent, 'device-stub'), jsonReplacer)) as {
        memory: unknown
      }
      const printed = JSON.parse(stdout) as { memory: unknown }
      assert.deepEqual({ ...printed, memory: undefined }, { ...expected, memory: undefined })
      assert.equal(outcomes.length, 1)
      const caller = outcomes[0] as CallerIdentity
      // bin/fleet execs Node: the process the kernel names is the one spawned.
      assert.equal(caller.pid, pid)
      assert.equal(caller.uid, process.getuid!())
      assert.equal(caller.exe, realpathSync('node_modules/.bin/node'))
      assert.deepEqual(caller.exeDigest, nodeDigest)
      assert.equal(caller.script?.path, path.resolve('dist/src/cli/fleet.mjs'))
    } finally {
      await close()
    }
  })

  it('an append carries its caller: logged at info with uid, pid, exe and digest', async () => {
    const { close } = await serve()
    try {
      logLines.length = 0
      const answer = await controlRequest(dir, {
        cmd: 'append',
        type: 'note',
        actor: { id: 'svc', role: 'service' },
        body: { text: 'hello' }
      })
      assert.equal(answer.seq, 3)
      assert.deepEqual(appended.at(-1)?.actor, { id: 'svc', role: 'service' })
      // A service's proof is the agent's measurement of the caller: this process, its uid, its Node.
      const proof = decodeActorProof(appended.at(-1)?.proof as Uint8Array)
      assert.equal(proof.kind, 'workload')
      const evidence = decodeWorkloadEvidence(proof.sig)
      assert.equal(evidence.uid, process.getuid!())
      assert.equal(evidence.exe, process.execPath)
      assert.deepEqual(evidence.exeDigest, nodeDigest)
      const line = logLines.find((l) => l.msg === 'append through the control socket')
      assert.ok(line !== undefined, JSON.stringify(logLines))
      assert.equal(line.level, 'info')
      assert.equal(line.type, 'note')
      assert.equal(line.uid, process.getuid!())
      assert.equal(line.pid, process.pid)
      assert.equal(line.exe, process.execPath)
      assert.equal(line.exeDigest, toHex(nodeDigest))
    } finally {
      await close()
    }
  })

  it("takes no owner's entry, and no service's word about itself; nothing is appended", async () => {
    const { close } = await serve()
    const before = appended.length
    try {
      for (const role of ['owner'])
        await assert.rejects(
          controlRequest(dir, { cmd: 'append', type: 'alert.tamper', actor: { id: 'x', role }, body: {} }),
          (err: unknown) => err instanceof ControlError && err.code === 'ERR_CONTROL_ROLE',
          role
        )
      await assert.rejects(
        controlRequest(dir, {
          cmd: 'append',
          type: 'note',
          actor: { id: 'svc', role: 'service' },
          body: {},
          proof: Buffer.from('claims').toString('base64')
        }),
        (err: unknown) => err instanceof ControlError && err.code === 'ERR_BAD_REQUEST'
      )
      await assert.rejects(
        controlRequest(dir, { cmd: 'prepare', type: 'note', actor: { id: 'svc', role: 'service' }, body: {} }),
        (err: unknown) => err instanceof ControlError && err.code === 'ERR_CONTROL_ROLE'
      )
      assert.equal(appended.length, before)
    } finally {
      await close()
    }
  })

  it('refuses, with the reason, every request of a connection whose caller cannot be identified', async () => {
    const before = appended.length
    let refuse = true
    const real = new CallerIdentifier()
    const { outcomes, close } = await serve(async (socket, options) => {
      if (refuse) throw new ExecutableDeletedError(4242, '/tmp/payload (deleted)')
      return await real.identify(socket, options)
    })
    try {
      await assert.rejects(
        controlRequest(dir, { cmd: 'append', type: 'note', actor: { id: 'svc', role: 'service' }, body: {} }),
        (err: unknown) =>
          err instanceof ControlError &&
          err.code === 'ERR_EXECUTABLE_DELETED' &&
          /could not be identified: .*deleted executable/.test(err.message)
      )
      assert.equal(appended.length, before)
      // The CLI exits 1 with the reason.
      const status = await runFleetAsync(['status', '--state', dir, '--json'])
      assert.equal(status.status, 1)
      assert.match(status.stderr, /could not be identified/)
      assert.equal(outcomes.length, 2)
      // The agent goes on serving.
      refuse = false
      assert.equal((await controlRequest(dir, { cmd: 'status' })).ok, true)
    } finally {
      await close()
    }
  })

  it('refuses, and does not fall over, when identification throws before it even starts', async () => {
    const { close } = await serve(() => {
      throw new TypeError('not even a promise')
    })
    try {
      await assert.rejects(controlRequest(dir, { cmd: 'status' }), {
        name: 'ControlError',
        code: 'ERR_CALLER_UNIDENTIFIED'
      })
      await assert.rejects(controlRequest(dir, { cmd: 'status' }), { code: 'ERR_CALLER_UNIDENTIFIED' })
    } finally {
      await close()
    }
  })
})
