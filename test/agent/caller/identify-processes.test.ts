/**
 * Identification of real processes calling a Unix socket: Node itself, a copy of it elsewhere
 * (same digest, another path), a copy one byte longer (another digest), a process that renames
 * another file over its own executable after it started (still the digest of what it runs), and
 * one that exits before it is looked at.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { appendFile, copyFile, link, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import { CallerIdentifier, type CallerIdentity } from '../../../src/agent/caller/index.js'
import { tempDir } from '../../helpers/devices.js'

/** Connects, after renaming argv[3] (if given) over its own executable, sends a line and waits for the answer. */
const CLIENT = `import net from 'node:net'
import { renameSync } from 'node:fs'
const [socketPath, replacement] = process.argv.slice(2)
if (replacement !== undefined) renameSync(replacement, process.execPath)
const socket = net.createConnection(socketPath)
socket.on('connect', () => socket.write('hello\\n'))
socket.resume()
`

async function sha256File(file: string, extra = new Uint8Array(0)): Promise<Uint8Array> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer)
  return new Uint8Array(hash.update(extra).digest())
}

describe('agent/caller/identify: real processes on a Unix socket', function () {
  this.timeout(120_000)
  let dir: string
  let socketPath: string
  let clientPath: string
  let server: net.Server
  let nodeDigest: Uint8Array
  const identifier = new CallerIdentifier()
  let waiting: ((outcome: CallerIdentity | Error) => void) | undefined

  before(async function () {
    if (process.platform !== 'linux') this.skip()
    dir = await tempDir('fleet-caller-processes-')
    socketPath = path.join(dir, 's.sock')
    clientPath = path.join(dir, 'client.mjs')
    await writeFile(clientPath, CLIENT)
    nodeDigest = await sha256File(process.execPath)
    server = net.createServer((socket) => {
      socket.on('error', () => undefined)
      void identifier.identify(socket).then(
        (identity) => {
          waiting?.(identity)
          socket.end('ok\n')
        },
        (err: Error) => {
          waiting?.(err)
          socket.end('refused\n')
        }
      )
    })
    await new Promise<void>((resolve) => server.listen(socketPath, resolve))
  })

  after(async () => {
    server?.close()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  /** Runs the client with this executable; resolves with what the server made of it, once it exited. */
  async function call(
    executable: string,
    replacement?: string
  ): Promise<{ outcome: CallerIdentity | Error; pid: number }> {
    const outcome = new Promise<CallerIdentity | Error>((resolve) => {
      waiting = resolve
    })
    const args = [clientPath, socketPath, ...(replacement === undefined ? [] : [replacement])]
    const child = spawn(executable, args, { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    assert.equal(code, 0, stderr)
    return { outcome: await outcome, pid: child.pid! }
  }

  async function copyOfNode(name: string): Promise<string> {
    await mkdir(path.join(dir, name))
    const copy = path.join(dir, name, 'node')
    await copyFile(process.execPath, copy)
    return copy
  }

  it("names Node by the digest of its executable, with the script it runs as the caller's word", async () => {
    const { outcome, pid } = await call(process.execPath)
    const identity = outcome as CallerIdentity
    assert.equal(identity.pid, pid)
    assert.equal(identity.uid, process.getuid!())
    assert.equal(identity.gid, process.getgid!())
    assert.equal(identity.exe, process.execPath)
    assert.deepEqual(identity.exeDigest, nodeDigest)
    assert.ok(identity.startTime > 0)
    assert.deepEqual(identity.script, { path: clientPath, digest: await sha256File(clientPath) })
  })

  it('names a copy of Node elsewhere by its path, and by the same digest', async () => {
    const copy = await copyOfNode('copy')
    const identity = (await call(copy)).outcome as CallerIdentity
    assert.equal(identity.exe, copy)
    assert.deepEqual(identity.exeDigest, nodeDigest)
  })

  it('gives a copy one byte longer another digest', async () => {
    const modified = await copyOfNode('modified')
    await appendFile(modified, new Uint8Array([0]))
    const identity = (await call(modified)).outcome as CallerIdentity
    assert.equal(identity.exe, modified)
    assert.notDeepEqual(identity.exeDigest, nodeDigest)
    assert.deepEqual(identity.exeDigest, await sha256File(process.execPath, new Uint8Array([0])))
  })

  it('measures what a process runs, not the file renamed over its path after it started', async () => {
    const running = await copyOfNode('replaced')
    // A second name keeps the running file in the filesystem (a link count of 1, not 0).
    await mkdir(path.join(dir, 'keep'))
    await link(running, path.join(dir, 'keep', 'node'))
    const replacement = path.join(dir, 'replaced', 'replacement')
    await writeFile(replacement, '#!/bin/sh\necho another program\n', { mode: 0o755 })
    const identity = (await call(running, replacement)).outcome as CallerIdentity
    assert.equal(identity.exe, `${running} (deleted)`)
    assert.deepEqual(identity.exeDigest, nodeDigest)
    // What the path names now is the other program.
    assert.equal(await readFile(running, 'utf8'), '#!/bin/sh\necho another program\n')
  })

  it('refuses a process whose executable has no name left once another file was renamed over it', async () => {
    const running = await copyOfNode('gone')
    const replacement = path.join(dir, 'gone', 'replacement')
    await writeFile(replacement, 'not node\n')
    const { outcome } = await call(running, replacement)
    assert.ok(outcome instanceof Error)
    assert.equal(outcome.name, 'ExecutableDeletedError')
    assert.equal((outcome as Error & { exe: string }).exe, `${running} (deleted)`)
  })

  it('refuses a caller that exited before it was looked at', async () => {
    const other = path.join(dir, 'paused.sock')
    const paused = net.createServer({ pauseOnConnect: true })
    await new Promise<void>((resolve) => paused.listen(other, resolve))
    try {
      const accepted = new Promise<net.Socket>((resolve) => paused.once('connection', resolve))
      const child = spawn(process.execPath, [
        '-e',
        `require('node:net').createConnection(${JSON.stringify(other)}).on('connect', () => process.exit(0))`
      ])
      const socket = await accepted
      assert.equal(await new Promise((resolve) => child.once('exit', resolve)), 0)
      await assert.rejects(identifier.identify(socket), { name: 'CallerExitedError', pid: child.pid })
      socket.destroy()
    } finally {
      paused.close()
    }
  })
})
