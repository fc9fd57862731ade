import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { open } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import {
  nativeBindingFile,
  nativeHasher,
  NotASocketError,
  peerCredentials,
  PeerCredentialsError
} from '../../../src/attest/index.js'
import { hasherConformance } from '../../helpers/hasher-conformance.js'
import { tempDir } from '../../helpers/devices.js'

describe("attest/tpm/native: the binding's typed surface", () => {
  it('names the built binding it loads (the file the agent measures with its code)', () => {
    assert.match(nativeBindingFile(), /native\/build\/Release\/fleet_tpm\.node$/)
    assert.ok(existsSync(nativeBindingFile()))
  })

  describe("the native batch hasher (the ledger's Hasher, given by the composition code)", () => {
    hasherConformance(nativeHasher())
  })

  describe('peerCredentials: who is at the other end of a Unix socket, from the kernel', () => {
    const handleFd = (socket: net.Socket | net.Server): number =>
      (socket as unknown as { _handle: { fd: number } })._handle.fd

    /** A connection of this process to a server of its own: the accepted end, and what closes it all. */
    async function connection(unixPath?: string): Promise<{ accepted: net.Socket; close: () => void }> {
      const server = net.createServer()
      await new Promise<void>((resolve) =>
        unixPath === undefined ? server.listen(0, '127.0.0.1', resolve) : server.listen(unixPath, resolve)
      )
      const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve))
      const client =
        unixPath === undefined
          ? net.createConnection((server.address() as net.AddressInfo).port, '127.0.0.1')
          : net.createConnection(unixPath)
      client.on('error', () => undefined)
      const socket = await accepted
      return {
        accepted: socket,
        close: () => {
          socket.destroy()
          client.destroy()
          server.close()
        }
      }
    }

    it("names this process for a connection it made to itself (the accepted socket's fd)", async () => {
      const { accepted, close } = await connection(path.join(await tempDir('fleet-peercred-'), 's.sock'))
      try {
        assert.deepEqual(peerCredentials(handleFd(accepted)), {
          pid: process.pid,
          uid: process.getuid!(),
          gid: process.getgid!()
        })
      } finally {
        close()
      }
    })

    it('refuses a descriptor that is not a socket (a file)', async () => {
      const handle = await open(nativeBindingFile(), 'r')
      try {
        assert.throws(
          () => peerCredentials(handle.fd),
          (err: unknown) => err instanceof NotASocketError && err.code === 'ERR_NOT_A_SOCKET' && err.fd === handle.fd
        )
      } finally {
        await handle.close()
      }
    })

    it('refuses a TCP connection: it has no peer credentials', async () => {
      const { accepted, close } = await connection()
      try {
        assert.throws(() => peerCredentials(handleFd(accepted)), { name: 'NotAUnixSocketError' })
      } finally {
        close()
      }
    })

    it('refuses a listening socket: the kernel would name whoever called listen(), not a peer', async () => {
      const dir = await tempDir('fleet-peercred-')
      const server = net.createServer()
      await new Promise<void>((resolve) => server.listen(path.join(dir, 'l.sock'), resolve))
      try {
        assert.throws(() => peerCredentials(handleFd(server)), {
          name: 'NoPeerProcessError',
          code: 'ERR_NO_PEER_PROCESS'
        })
      } finally {
        server.close()
      }
    })

    it('refuses a descriptor that is not open, naming the failed call', () => {
      assert.throws(
        () => peerCredentials(1_000_000),
        (err: unknown) =>
          err instanceof PeerCredentialsError &&
          err.syscall === 'fstat' &&
          err.errno === 'EBADF' &&
          err.fd === 1_000_000
      )
    })

    it('refuses what is not a descriptor number before calling the kernel', () => {
      for (const fd of [-1, 1.5, Number.NaN, 2 ** 31, Number.POSITIVE_INFINITY, '3' as unknown as number])
        assert.throws(() => peerCredentials(fd), { name: 'InvalidDescriptorError', code: 'ERR_INVALID_DESCRIPTOR' })
    })
  })
})
