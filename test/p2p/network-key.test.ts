import assert from 'node:assert/strict'
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import path from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import {
  NETWORK_KEY_LIMITS,
  NetworkKeyError,
  createFleetNode,
  readNetworkKey,
  writeNetworkKey,
  type FleetNode
} from '../../src/p2p/index.js'
import { runFleetAsync } from '../helpers/cli.js'
import { tempDir } from '../helpers/devices.js'

/** A node on loopback with no mDNS, admitting everyone, with or without the fleet's network key. */
async function node(networkKey?: Uint8Array): Promise<FleetNode> {
  return await createFleetNode({
    privateKey: await generateKeyPair('Ed25519'),
    admission: { allows: () => true },
    listen: ['/ip4/127.0.0.1/tcp/0'],
    mdns: false,
    networkKey
  })
}

/**
 * What a port scanner gets from a node: it sends the multistream-select header a libp2p dialer
 * would, and collects what comes back within 1.5 s (or until the node hangs up).
 */
async function scan(target: FleetNode): Promise<Buffer> {
  const port = target.getMultiaddrs()[0]!.toString().split('/')[4]
  const socket = connect(Number(port), '127.0.0.1')
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  socket.on('error', () => undefined)
  await new Promise((resolve) => socket.once('connect', resolve))
  const header = Buffer.from('/multistream/1.0.0\n')
  socket.write(Buffer.concat([Buffer.from([header.length]), header]))
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, 1_500)
    socket.once('close', () => {
      clearTimeout(timer)
      resolve(undefined)
    })
  })
  socket.destroy()
  return Buffer.concat(chunks)
}

describe('p2p: the private network (a pre-shared key every connection proves first)', function () {
  this.timeout(30_000)
  let dir: string
  const nodes: FleetNode[] = []
  const started = async (key?: Uint8Array): Promise<FleetNode> => {
    const made = await node(key)
    nodes.push(made)
    return made
  }

  before(async () => {
    dir = await tempDir('network-key-')
  })
  after(async () => {
    for (const made of nodes) await made.stop()
  })

  it('a generated key reads back; refused: missing, a directory, a symbolic link, open to others, too large, not PSK v1', async () => {
    const file = path.join(dir, 'network.key')
    await writeNetworkKey(file)
    assert.equal((await readNetworkKey(file)).length > 64, true)
    await assert.rejects(writeNetworkKey(file), { name: 'NetworkKeyError', message: /exists already/ })
    const refused = async (name: string, make: (f: string) => Promise<void>, why: RegExp): Promise<void> => {
      const bad = path.join(dir, name)
      await make(bad)
      await assert.rejects(readNetworkKey(bad), (err: unknown) => {
        assert.ok(err instanceof NetworkKeyError)
        assert.equal(err.exitCode, 2)
        assert.match(err.message, why)
        return true
      })
    }
    await refused('missing', async () => undefined, /cannot be read \(ENOENT\)/)
    await refused('a-dir', async (f) => await mkdir(f), /is not a file/)
    await refused(
      'world',
      async (f) => {
        await writeFile(f, `/key/swarm/psk/1.0.0/\n/base16/\n${'ab'.repeat(32)}\n`, { mode: 0o600 })
        await chmod(f, 0o644)
      },
      /open to others \(mode 644\)/
    )
    await refused(
      'group-writable',
      async (f) => {
        await writeFile(f, `/key/swarm/psk/1.0.0/\n/base16/\n${'ab'.repeat(32)}\n`, { mode: 0o600 })
        await chmod(f, 0o660)
      },
      /open to others \(mode 660\)/
    )
    await refused('a-link', async (f) => await symlink(file, f), /cannot be read \(ELOOP\)/)
    await refused(
      'large',
      async (f) => await writeFile(f, 'x'.repeat(NETWORK_KEY_LIMITS.maxFileBytes + 1), { mode: 0o600 }),
      /larger than/
    )
    for (const [name, text] of [
      ['short', `/key/swarm/psk/1.0.0/\n/base16/\n${'ab'.repeat(31)}\n`],
      ['base64', `/key/swarm/psk/1.0.0/\n/base64/\n${'ab'.repeat(32)}\n`],
      ['other-tag', `/key/swarm/other/1.0.0/\n/base16/\n${'ab'.repeat(32)}\n`],
      ['upper', `/key/swarm/psk/1.0.0/\n/base16/\n${'AB'.repeat(32)}\n`]
    ] as const)
      await refused(name, async (f) => await writeFile(f, text, { mode: 0o600 }), /not a PSK v1 swarm key/)
  })

  it('nodes with the same key connect; a node with another key, or none, cannot, either way', async () => {
    const keyFile = path.join(dir, 'fleet.key')
    const otherFile = path.join(dir, 'other.key')
    await writeNetworkKey(keyFile)
    await writeNetworkKey(otherFile)
    const key = await readNetworkKey(keyFile)
    const [a, b, other, open] = [
      await started(key),
      await started(key),
      await started(await readNetworkKey(otherFile)),
      await started()
    ]
    const connection = await a.dial(b.getMultiaddrs()[0]!)
    assert.equal(connection.remotePeer.equals(b.peerId), true)
    const signal = (): AbortSignal => AbortSignal.timeout(2_500)
    for (const [from, to] of [
      [a, other],
      [other, a],
      [a, open],
      [open, a]
    ] as const)
      await assert.rejects(from.dial(to.getMultiaddrs()[0]!, { signal: signal() }))
    assert.equal(a.getConnections(other.peerId).length + a.getConnections(open.peerId).length, 0)
  })

  it('a scanner of the port sees libp2p without the key, and only random bytes with it', async () => {
    const plain = await scan(await started())
    assert.ok(plain.includes('/multistream/1.0.0'), 'a node without the key answers multistream-select')
    const keyFile = path.join(dir, 'scanned.key')
    await writeNetworkKey(keyFile)
    const hidden = await scan(await started(await readNetworkKey(keyFile)))
    assert.ok(hidden.length >= 24, 'a node with the key sends its 24-byte nonce')
    assert.ok(!hidden.includes('/multistream/'), 'and nothing a scanner can read')
    assert.ok(!hidden.includes('/noise'))
  })

  it('fleet network-key generate writes 0600 and refuses to replace; check says why a key is not usable (exit 2)', async () => {
    const file = path.join(dir, 'cli.key')
    const made = await runFleetAsync(['network-key', 'generate', '--out', file, '--json'])
    assert.equal(made.status, 0, made.stderr)
    assert.deepEqual(JSON.parse(made.stdout), { file })
    assert.equal((await runFleetAsync(['network-key', 'check', file])).status, 0)
    const again = await runFleetAsync(['network-key', 'generate', '--out', file])
    assert.equal(again.status, 2)
    assert.match(again.stderr, /exists already/)
    await chmod(file, 0o604)
    const open = await runFleetAsync(['network-key', 'check', file])
    assert.equal(open.status, 2)
    assert.match(open.stderr, /open to others/)
    assert.doesNotMatch(open.stderr, /at .*\.js:\d+/)
  })
})
