/**
 * Identification against a /proc the test writes: what real processes cannot be made to do on
 * demand (a pid taken by another process mid-measurement, a process that started after the
 * connection, an executable rewritten while it is read). Real processes: identify-processes.test.ts.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import net from 'node:net'
import path from 'node:path'
import {
  CallerIdentifier,
  type CallerIdentifierInit,
  type OpenFile,
  type ProcessFiles
} from '../../../src/agent/caller/index.js'
import { tempDir } from '../../helpers/devices.js'
import { MemoryFile } from './memory-file.js'

const PID = 4242
const EXE = '/usr/local/bin/service'
const EXE_BYTES = new TextEncoder().encode('\x7fELF the service')
const sha256 = (bytes: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(bytes).digest())

function statLine(startTime: number, state = 'S'): string {
  return `${PID} (service) ${[state, ...Array<string>(18).fill('0'), String(startTime), '0', '0'].join(' ')}\n`
}

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(code), { code })
}

/**
 * A /proc of one process, PID, started at tick 1000 and measured at uptime 50.00 s (tick 5000).
 * `stats` are the successive texts of /proc/PID/stat (the last repeats).
 */
class FakeProc implements ProcessFiles {
  stats: Array<string | Error> = [statLine(1000)]
  statReads = 0
  uptimeText = '50.00 80.00\n'
  exePath = EXE
  executable: () => Promise<OpenFile> = async () => new MemoryFile(EXE_BYTES)
  argv = [EXE]
  files = new Map<string, MemoryFile>()

  async uptime(): Promise<string> {
    return this.uptimeText
  }

  async stat(pid: number): Promise<string> {
    assert.equal(pid, PID)
    const text = this.stats[Math.min(this.statReads, this.stats.length - 1)]!
    this.statReads += 1
    if (text instanceof Error) throw text
    return text
  }

  async executablePath(): Promise<string> {
    return this.exePath
  }

  async openExecutable(): Promise<OpenFile> {
    return await this.executable()
  }

  async commandLine(): Promise<Uint8Array> {
    return new TextEncoder().encode(this.argv.map((a) => `${a}\0`).join(''))
  }

  async openInProcess(_pid: number, file: string): Promise<OpenFile> {
    const found = this.files.get(file)
    if (found === undefined) throw errno('ENOENT')
    return found
  }
}

describe('agent/caller/identify: against an injected /proc', () => {
  let socket: net.Socket
  let close: () => void

  before(async () => {
    // identify() reads the descriptor of a real Unix connection; the credentials are then injected.
    const file = path.join(await tempDir('fleet-caller-'), 's.sock')
    const server = net.createServer()
    await new Promise<void>((resolve) => server.listen(file, resolve))
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve))
    const client = net.createConnection(file)
    socket = await accepted
    close = () => {
      socket.destroy()
      client.destroy()
      server.close()
    }
  })

  after(() => close())

  function identifier(proc: FakeProc, init: CallerIdentifierInit = {}): CallerIdentifier {
    return new CallerIdentifier({
      processFiles: proc,
      peerCredentials: () => ({ pid: PID, uid: 1001, gid: 1002 }),
      agentUid: 1001,
      ...init
    })
  }

  it('names the caller by its credentials, its executable path and digest, and its start time', async () => {
    const identity = await identifier(new FakeProc()).identify(socket)
    assert.deepEqual(identity, {
      pid: PID,
      uid: 1001,
      gid: 1002,
      exe: EXE,
      exeDigest: sha256(EXE_BYTES),
      startTime: 1000,
      script: undefined
    })
  })

  it('pid reuse: refuses when the start time changed while it measured (another process took the pid)', async () => {
    const proc = new FakeProc()
    proc.stats = [statLine(1000), statLine(4000)]
    await assert.rejects(identifier(proc).identify(socket), {
      name: 'CallerPidReusedError',
      code: 'ERR_CALLER_PID_REUSED',
      pid: PID,
      startTimeBefore: 1000,
      startTimeAfter: 4000
    })
    assert.equal(proc.statReads, 2)
  })

  it('pid reuse: refuses a process that started after the connection was accepted', async () => {
    const proc = new FakeProc()
    proc.stats = [statLine(5001)]
    await assert.rejects(identifier(proc).identify(socket), {
      name: 'CallerStartedAfterAcceptError',
      code: 'ERR_CALLER_PID_REUSED',
      startTime: 5001,
      acceptedAt: 5000
    })
  })

  it('accepts a process that started in the very tick the connection was accepted', async () => {
    const proc = new FakeProc()
    proc.stats = [statLine(5000)]
    assert.equal((await identifier(proc).identify(socket)).startTime, 5000)
  })

  it('refuses a caller that exited before it was looked at', async () => {
    const proc = new FakeProc()
    proc.stats = [errno('ENOENT')]
    await assert.rejects(identifier(proc).identify(socket), { name: 'CallerExitedError', pid: PID })
  })

  it('says a caller of another uid may be hidden from the agent, not just gone (hidepid, ProtectProc)', async () => {
    const proc = new FakeProc()
    proc.stats = [errno('ENOENT')]
    await assert.rejects(identifier(proc, { agentUid: 999 }).identify(socket), {
      name: 'CallerNotVisibleError',
      code: 'ERR_CALLER_NOT_VISIBLE',
      pid: PID,
      uid: 1001,
      agentUid: 999
    })
  })

  it('refuses a caller that exited while measured (a zombie has no executable)', async () => {
    const proc = new FakeProc()
    proc.stats = [statLine(1000), statLine(1000, 'Z')]
    proc.executable = async () => {
      throw errno('ENOENT')
    }
    await assert.rejects(identifier(proc).identify(socket), { name: 'CallerExitedError' })
  })

  it('refuses an executable it may not read, naming the error', async () => {
    const proc = new FakeProc()
    proc.executable = async () => {
      throw errno('EACCES')
    }
    await assert.rejects(identifier(proc).identify(socket), {
      name: 'ExecutableUnreadableError',
      code: 'ERR_EXECUTABLE_UNREADABLE',
      errno: 'EACCES'
    })
    // A live process whose exe is missing (a kernel thread) is unreadable too, not gone.
    proc.executable = async () => {
      throw errno('ENOENT')
    }
    await assert.rejects(identifier(proc).identify(socket), { name: 'ExecutableUnreadableError', errno: 'ENOENT' })
  })

  it('refuses an executable with no name left (links 0), whatever its path says', async () => {
    const proc = new FakeProc()
    proc.exePath = '/memfd:payload (deleted)'
    const file = new MemoryFile(EXE_BYTES, { links: 0 })
    proc.executable = async () => file
    await assert.rejects(identifier(proc).identify(socket), {
      name: 'ExecutableDeletedError',
      exe: '/memfd:payload (deleted)'
    })
    assert.ok(file.closed)
  })

  it('takes a path that merely ends in " (deleted)" for a path: the link count decides', async () => {
    const proc = new FakeProc()
    proc.exePath = '/opt/odd (deleted)'
    assert.equal((await identifier(proc).identify(socket)).exe, '/opt/odd (deleted)')
  })

  it('refuses an executable over the size limit without reading it', async () => {
    const proc = new FakeProc()
    const file = new MemoryFile(EXE_BYTES)
    proc.executable = async () => file
    await assert.rejects(identifier(proc, { limits: { maxExecutableBytes: EXE_BYTES.length - 1 } }).identify(socket), {
      name: 'ExecutableTooLargeError',
      size: EXE_BYTES.length,
      limit: EXE_BYTES.length - 1
    })
    assert.equal(file.reads, 0)
  })

  it('refuses an executable rewritten while read, and does not record its digest', async () => {
    const proc = new FakeProc()
    const caller = identifier(proc)
    proc.executable = async () => {
      const file = new MemoryFile(EXE_BYTES)
      file.afterRead = () => {
        file.fileStatus = { mtimeNs: 77n }
      }
      return file
    }
    await assert.rejects(caller.identify(socket), { name: 'FileChangedError' })
    assert.equal(caller.cachedDigests, 0)
  })

  it('hashes a version of an executable once: the next caller running it is answered from the table', async () => {
    const proc = new FakeProc()
    const caller = identifier(proc)
    const opened: MemoryFile[] = []
    proc.executable = async () => {
      const file = new MemoryFile(EXE_BYTES)
      opened.push(file)
      return file
    }
    const first = await caller.identify(socket)
    const second = await caller.identify(socket)
    assert.deepEqual(first.exeDigest, second.exeDigest)
    assert.ok(opened[0]!.reads > 0)
    assert.equal(opened[1]!.reads, 0)
    assert.ok(opened.every((file) => file.closed))
    // Another version (rewritten: new ctime) of the same file is hashed again.
    proc.executable = async () => new MemoryFile(new TextEncoder().encode('v2'), { ctimeNs: 5n })
    assert.deepEqual((await caller.identify(socket)).exeDigest, sha256(new TextEncoder().encode('v2')))
  })

  describe('an interpreter: its digest names the interpreter; the script is recorded as its word', () => {
    const script = new TextEncoder().encode('console.log(1)')

    it('records argv[1] and the digest of that file as the process sees it', async () => {
      const proc = new FakeProc()
      proc.exePath = '/usr/bin/node'
      proc.argv = ['node', 'app.js', '--port', '1']
      proc.files.set('app.js', new MemoryFile(script, { ino: 50n }))
      const identity = await identifier(proc).identify(socket)
      assert.equal(identity.exe, '/usr/bin/node')
      assert.deepEqual(identity.exeDigest, sha256(EXE_BYTES))
      assert.deepEqual(identity.script, { path: 'app.js', digest: sha256(script) })
    })

    it('records no script when argv[1] is an option (node -e …)', async () => {
      const proc = new FakeProc()
      proc.exePath = '/usr/bin/node'
      proc.argv = ['node', '-e', 'evil()']
      assert.equal((await identifier(proc).identify(socket)).script, undefined)
    })

    it('records the script without a digest when it is missing, not a regular file, or too large', async () => {
      const proc = new FakeProc()
      proc.exePath = '/usr/bin/python3'
      proc.argv = ['python3', '/srv/gone.py']
      assert.deepEqual((await identifier(proc).identify(socket)).script, { path: '/srv/gone.py', digest: undefined })
      proc.files.set('/srv/gone.py', new MemoryFile(script, { regular: false, ino: 51n }))
      assert.deepEqual((await identifier(proc).identify(socket)).script, { path: '/srv/gone.py', digest: undefined })
      proc.files.set('/srv/gone.py', new MemoryFile(script, { ino: 52n }))
      const small = identifier(proc, { limits: { maxScriptBytes: script.length - 1 } })
      assert.deepEqual((await small.identify(socket)).script, { path: '/srv/gone.py', digest: undefined })
    })

    it('does not look for a script when the executable is no interpreter', async () => {
      const proc = new FakeProc()
      proc.argv = [EXE, 'app.js']
      proc.files.set('app.js', new MemoryFile(script))
      assert.equal((await identifier(proc).identify(socket)).script, undefined)
    })
  })

  it('stops when aborted', async () => {
    const controller = new AbortController()
    controller.abort()
    await assert.rejects(identifier(new FakeProc()).identify(socket, { signal: controller.signal }), {
      name: 'AbortedError'
    })
  })

  it('refuses a connection that is closed or not on a Unix socket, before asking the kernel', async () => {
    let asked = false
    const caller = identifier(new FakeProc(), {
      peerCredentials: () => {
        asked = true
        return { pid: PID, uid: 0, gid: 0 }
      }
    })
    const closed = new net.Socket()
    closed.destroy()
    await assert.rejects(caller.identify(closed), { name: 'CallerSocketError', code: 'ERR_CALLER_SOCKET' })
    // A socket never connected has no handle.
    await assert.rejects(caller.identify(new net.Socket()), { name: 'CallerSocketError' })
    const server = net.createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve))
    const client = net.createConnection((server.address() as net.AddressInfo).port, '127.0.0.1')
    const tcp = await accepted
    try {
      await assert.rejects(caller.identify(tcp), { name: 'CallerSocketError', reason: /not on a Unix socket/ })
    } finally {
      tcp.destroy()
      client.destroy()
      server.close()
    }
    assert.equal(asked, false)
  })
})
