/**
 * The gate socket: anyone may connect, and gets only what its uid's grant allows, with the uid as
 * the kernel names it. A caller without a grant is refused everything; a granted one gets its
 * secrets and no other; secrets are never sealed there; a grants file that cannot be read refuses
 * everyone. (End to end, as another user on swtpm: test/cli/exec-gate.test.ts.)
 */
import assert from 'node:assert/strict'
import { chmod, stat, writeFile } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import {
  GATE_LIMITS,
  GRANTS_FILE,
  NotAdmittedError,
  allowGrant,
  denyGrant,
  gateRequest,
  startGateSocket,
  type WorkloadStart,
  type WorkloadStop
} from '../../src/agent/index.js'
import { FleetError } from '../../src/common/index.js'
import { tempDir } from '../helpers/devices.js'
import { until } from '../helpers/wait.js'

interface FakeGate {
  admitted: WorkloadStart[]
  stopped: WorkloadStop[]
  sealed: number
  /** The pids the fake gate holds admitted workloads of. */
  running: Set<number>
}

async function serve(
  uid: number | undefined | (() => number),
  clock?: { now(): number }
): Promise<{ file: string; dir: string; fake: FakeGate; close: () => Promise<void> }> {
  const dir = await tempDir()
  const file = path.join(await tempDir(), 'run', 'gate.sock')
  const fake: FakeGate = { admitted: [], stopped: [], sealed: 0, running: new Set() }
  const server = await startGateSocket(file, {
    dir,
    gate: {
      gate: {
        reasons: async () => [],
        admit: async (w) => {
          fake.admitted.push(w)
          return new Map(w.secrets.map((name) => [name, new Uint8Array(Buffer.from(`value of ${name}`))]))
        },
        stopped: async (s) => {
          // As the gate does: a stop only from the process a workload was admitted to.
          if (!fake.running.has(s.pid)) throw new NotAdmittedError(s.pid)
          fake.stopped.push(s)
        },
        isAdmitted: (pid) => fake.running.has(pid)
      },
      seal: async () => {
        fake.sealed++
        throw new Error('never here')
      }
    },
    ...(clock === undefined ? {} : { clock }),
    // A chosen uid stands in for another user's process; undefined: the kernel's word (this process).
    ...(uid === undefined
      ? {}
      : {
          peerCredentials: () => {
            const as = typeof uid === 'function' ? uid() : uid
            return { pid: 4242, uid: as, gid: as }
          }
        })
  })
  return { file, dir, fake, close: server.close }
}

const admit = (secrets: string[]) => ({ cmd: 'gate.admit', exe: '/usr/bin/x', exeDigest: 'ab'.repeat(32), secrets })

describe('agent/gate-socket: each caller gets what its uid is granted', () => {
  it('is open to anyone (0666) and refuses a uid without a grant every command', async () => {
    const s = await serve(1234)
    try {
      assert.equal((await stat(s.file)).mode & 0o777, 0o666)
      for (const request of [{ cmd: 'gate.check' }, admit([])])
        await assert.rejects(gateRequest(s.file, request), { code: 'ERR_GATE_NOT_GRANTED' }, request.cmd)
      // A stop needs no grant, but a workload admitted to the caller: it has none.
      await assert.rejects(gateRequest(s.file, { cmd: 'gate.stop', reason: 'exited' }), {
        code: 'ERR_GATE_NOT_ADMITTED'
      })
      assert.equal(s.fake.admitted.length + s.fake.stopped.length, 0)
    } finally {
      await s.close()
    }
  })

  it('a granted uid gets the secrets granted to it and is refused any other, naming it, before anything is unsealed', async () => {
    const s = await serve(1234)
    try {
      await allowGrant(s.dir, 1234, ['model-key'])
      await allowGrant(s.dir, 99, ['db-password'])
      const answer = await gateRequest(s.file, admit(['model-key']))
      s.fake.running.add(4242)
      assert.deepEqual(answer.secrets, { 'model-key': Buffer.from('value of model-key').toString('base64') })
      assert.equal(s.fake.admitted[0]!.uid, 1234, "the uid is the kernel's")
      assert.equal(s.fake.admitted[0]!.pid, 4242)
      await assert.rejects(
        gateRequest(s.file, admit(['model-key', 'db-password'])),
        (err: unknown) =>
          err instanceof FleetError && err.code === 'ERR_GATE_NOT_GRANTED' && /db-password/.test(err.message)
      )
      assert.equal(s.fake.admitted.length, 1)
      assert.deepEqual(await gateRequest(s.file, { cmd: 'gate.check' }), { ok: true, reasons: [] })
      // An exit code the feed cannot hold (past 2^53) is left out rather than making the stop unrecordable.
      await gateRequest(s.file, { cmd: 'gate.stop', reason: 'exited', exitCode: 1e300 })
      await gateRequest(s.file, { cmd: 'gate.stop', reason: 'exited', exitCode: 0 })
      assert.deepEqual(s.fake.stopped, [
        { pid: 4242, uid: 1234, reason: 'exited', exitCode: undefined, signal: undefined },
        { pid: 4242, uid: 1234, reason: 'exited', exitCode: 0, signal: undefined }
      ])
    } finally {
      await s.close()
    }
  })

  it('never seals a secret, answers no other command, and refuses a request that is not JSON (exit 2)', async () => {
    const s = await serve(1234)
    try {
      await allowGrant(s.dir, 1234, [])
      for (const request of [
        { cmd: 'secret.seal', name: 'x', value: 'eA==' },
        { cmd: 'append', type: 'note', actor: { id: 'x', role: 'service' }, body: {} },
        { cmd: 'status' }
      ])
        await assert.rejects(
          gateRequest(s.file, request),
          (err: unknown) => err instanceof FleetError && err.code === 'ERR_BAD_REQUEST' && err.exitCode === 2
        )
      assert.equal(s.fake.sealed, 0)
      const raw = await new Promise<string>((resolve, reject) => {
        let data = ''
        const socket = net.createConnection(s.file, () => socket.write('not json\n'))
        socket.setEncoding('utf8')
        socket.on('data', (chunk: string) => {
          data += chunk
        })
        socket.on('error', reject)
        socket.on('close', () => resolve(data))
      })
      assert.deepEqual(JSON.parse(raw), {
        ok: false,
        error: 'the request is not JSON',
        code: 'ERR_BAD_REQUEST',
        exitCode: 2
      })
    } finally {
      await s.close()
    }
  })

  it("one user's open connections are bounded, so it cannot keep the others out", async () => {
    let as = 1234
    const s = await serve(() => as)
    const idle: net.Socket[] = []
    try {
      await allowGrant(s.dir, 1234, [])
      await allowGrant(s.dir, 99, [])
      // Connections that send nothing: each holds its place until the idle timeout.
      for (let n = 0; n < GATE_LIMITS.gateConnectionsPerUid; n++) {
        const socket = net.createConnection(s.file)
        await new Promise((resolve) => socket.once('connect', resolve))
        idle.push(socket)
      }
      await until(async () => {
        const busy = await gateRequest(s.file, { cmd: 'gate.check' }).catch((err: unknown) => err)
        return busy instanceof FleetError && busy.code === 'ERR_GATE_BUSY'
      }, 'the server to count the idle connections')
      as = 99
      assert.deepEqual(await gateRequest(s.file, { cmd: 'gate.check' }), { ok: true, reasons: [] })
      as = 1234
      const closed = idle.pop()!
      await new Promise((resolve) => {
        closed.once('close', resolve)
        closed.destroy()
      })
      await until(
        async () => (await gateRequest(s.file, { cmd: 'gate.check' }).catch(() => undefined)) !== undefined,
        'a place to free up'
      )
    } finally {
      for (const socket of idle) socket.destroy()
      await s.close()
    }
  })

  it('closes each connection once answered: callers that keep their end open hold no place', async () => {
    const s = await serve(1234)
    const kept: net.Socket[] = []
    try {
      await allowGrant(s.dir, 1234, [])
      // Twice one user's bound of requests in a row, each from a client that never closes its end.
      for (let n = 0; n < 2 * GATE_LIMITS.gateConnectionsPerUid; n++) {
        const answer = await new Promise<Record<string, unknown>>((resolve, reject) => {
          const socket = net.createConnection({ path: s.file, allowHalfOpen: true })
          kept.push(socket)
          let data = ''
          socket.setEncoding('utf8')
          socket.on('connect', () => socket.write('{"cmd":"gate.check"}\n'))
          socket.on('data', (chunk: string) => {
            data += chunk
            if (data.endsWith('\n')) resolve(JSON.parse(data) as Record<string, unknown>)
          })
          socket.on('error', reject)
        })
        assert.equal(answer.ok, true, JSON.stringify(answer))
      }
    } finally {
      for (const socket of kept) socket.destroy()
      await s.close()
    }
  })

  it("limits one user's workload starts a minute; the next minute it may again", async () => {
    const clock = { t: 1_000_000 * 60_000, now: () => clock.t }
    const s = await serve(1234, clock)
    try {
      await allowGrant(s.dir, 1234, [])
      for (let n = 0; n < GATE_LIMITS.admissionsPerUidPerMinute; n++) await gateRequest(s.file, admit([]))
      await assert.rejects(gateRequest(s.file, admit([])), { code: 'ERR_GATE_RATE' })
      assert.equal(s.fake.admitted.length, GATE_LIMITS.admissionsPerUidPerMinute)
      clock.t += 60_000
      await gateRequest(s.file, admit([]))
    } finally {
      await s.close()
    }
  })

  it('a workload admitted goes on being watched and its stop recorded when its grant is withdrawn or the grants file breaks', async () => {
    const s = await serve(1234)
    try {
      await allowGrant(s.dir, 1234, [])
      await gateRequest(s.file, admit([]))
      s.fake.running.add(4242)
      await denyGrant(s.dir, 1234, [])
      assert.deepEqual(await gateRequest(s.file, { cmd: 'gate.check' }), { ok: true, reasons: [] })
      await writeFile(path.join(s.dir, GRANTS_FILE), 'broken')
      assert.deepEqual(await gateRequest(s.file, { cmd: 'gate.check' }), { ok: true, reasons: [] })
      await gateRequest(s.file, { cmd: 'gate.stop', reason: 'exited' })
      assert.equal(s.fake.stopped.length, 1)
      // Another start is refused: the grant is what starts a workload.
      await assert.rejects(gateRequest(s.file, admit([])), { code: 'ERR_GATE_GRANTS_FILE' })
    } finally {
      await s.close()
    }
  })

  it('refuses to serve in a folder others may write to', async () => {
    const open = await tempDir()
    await chmod(open, 0o777)
    await assert.rejects(startGateSocket(path.join(open, 'gate.sock'), { dir: open, gate: undefined }), {
      code: 'ERR_CONFIG'
    })
  })

  it('a grants file that cannot be read refuses everyone, granted or not', async () => {
    const s = await serve(1234)
    try {
      await allowGrant(s.dir, 1234, [])
      await gateRequest(s.file, { cmd: 'gate.check' })
      await writeFile(path.join(s.dir, GRANTS_FILE), '{"version":1,"grants":[{"uid":1234}]}')
      await assert.rejects(gateRequest(s.file, { cmd: 'gate.check' }), { code: 'ERR_GATE_GRANTS_FILE' })
    } finally {
      await s.close()
    }
  })

  it("names the caller by the kernel's SO_PEERCRED: this process's uid, granted, is served", async () => {
    const s = await serve(undefined)
    try {
      const uid = process.getuid!()
      await assert.rejects(gateRequest(s.file, { cmd: 'gate.check' }), { code: 'ERR_GATE_NOT_GRANTED' })
      await allowGrant(s.dir, uid, [])
      await gateRequest(s.file, admit([]))
      assert.equal(s.fake.admitted[0]!.uid, uid)
      assert.equal(s.fake.admitted[0]!.pid, process.pid)
    } finally {
      await s.close()
    }
  })
})
