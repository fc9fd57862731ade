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
import { loadNative } from '../../../src/attest/tpm/native.js'
import { hasherConformance } from '../../helpers/hasher-conformance.js'
import { signedItem, testP256Key } from '../../helpers/p256-conformance.js'
import { tempDir } from '../../helpers/devices.js'

describe("attest/tpm/native: the binding's typed surface", () => {
  it('names the built binding it loads (the file the agent measures with its code)', () => {
    assert.match(nativeBindingFile(), /native\/build\/Release\/fleet_tpm\.node$/)
    assert.ok(existsSync(nativeBindingFile()))
  })

  describe("the native batch hasher (the ledger's Hasher, given by the composition code)", () => {
    hasherConformance(nativeHasher())
  })

  describe("the binding's P256Verifier: strict arguments (the typed surface is tested in test/identity)", () => {
    const { P256Verifier } = loadNative()
    const item = signedItem(testP256Key(), new Uint8Array(40))
    const args = (count = 1) => ({
      keys: Uint8Array.from(Array.from({ length: count }, () => [...item.publicKey]).flat()),
      messages: Uint8Array.from(Array.from({ length: count }, () => [...item.message]).flat()),
      ends: Uint32Array.from({ length: count }, (_, i) => 40 * (i + 1)),
      signatures: Uint8Array.from(Array.from({ length: count }, () => [...item.signature]).flat())
    })

    it('checks as laid out, and refuses arguments that do not fit with ERR_NATIVE_ARGUMENT at once', async () => {
      const verifier = new P256Verifier(8, 1, 0, 2)
      const ok = args(3)
      assert.deepEqual([...(await verifier.verify(ok.keys, ok.messages, ok.ends, ok.signatures, 3))], [1, 1, 1])
      const refused = (call: () => unknown, name: 'TypeError' | 'RangeError'): void => {
        assert.throws(call, { name, code: 'ERR_NATIVE_ARGUMENT' })
      }
      const { keys, messages, ends, signatures } = ok
      refused(() => verifier.verify(keys, messages, ends, signatures, 2), 'RangeError')
      refused(() => verifier.verify(keys, messages, ends, signatures, 4), 'RangeError')
      refused(() => verifier.verify(keys, messages, ends, signatures, 1.5), 'RangeError')
      refused(() => verifier.verify(keys, messages, ends, signatures, 2 ** 16 + 1), 'RangeError')
      refused(() => verifier.verify(keys.subarray(1), messages, ends, signatures, 3), 'RangeError')
      refused(() => verifier.verify(keys, messages, ends, signatures.subarray(0, 191), 3), 'RangeError')
      refused(() => verifier.verify(keys, messages, Uint32Array.of(40, 30, 120), signatures, 3), 'RangeError')
      refused(() => verifier.verify(keys, messages, Uint32Array.of(40, 80, 121), signatures, 3), 'RangeError')
      refused(() => verifier.verify(keys, messages, Uint32Array.of(40, 80), signatures, 3), 'RangeError')
      const asBytes = new Uint8Array(ends.buffer) as unknown as Uint32Array
      refused(() => verifier.verify(keys, messages, asBytes, signatures, 3), 'TypeError')
      const asWords = new Uint32Array(keys.buffer.slice(0, 192)) as unknown as Uint8Array
      refused(() => verifier.verify(asWords, messages, ends, signatures, 3), 'TypeError')
      refused(() => (verifier.verify as (...a: unknown[]) => unknown)(keys, messages, ends, signatures), 'TypeError')
      for (const init of [
        [0, 1, 0, 1],
        [8, 1, 0, 0],
        [8, 1, 0, 65],
        [8, -1, 0, 1],
        [8, 1, 0.5, 1],
        [8, 1, 0]
      ])
        refused(() => new (P256Verifier as new (...a: unknown[]) => unknown)(...init), 'TypeError')
    })
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
