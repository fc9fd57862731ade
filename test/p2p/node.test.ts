import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { createFleetNode, FramedStream, type FleetNode } from '../../src/p2p/index.js'
import { nextEvent } from '../helpers/events.js'

const PROTOCOL = '/fleet/test-echo/1'
const discovered = new Map<FleetNode, Set<string>>()

async function makeNode(key: PrivateKey, admitted: Set<string>, serviceTag: string): Promise<FleetNode> {
  const node = await createFleetNode({
    privateKey: key,
    admission: { allows: (peerId) => admitted.has(peerId) },
    listen: ['/ip4/127.0.0.1/tcp/0'],
    serviceTag,
    mdnsIntervalMs: 200
  })
  node.addEventListener('peer:discovery', (evt) => {
    discovered.get(node)?.add(evt.detail.id.toString())
  })
  discovered.set(node, new Set())
  await node.handle(PROTOCOL, async (stream) => {
    const framed = new FramedStream(stream, { maxBytes: 1024, timeoutMs: 500 })
    try {
      const frame = await framed.read()
      await framed.write(frame)
      await framed.close()
    } catch (err) {
      node.dispatchEvent(new CustomEvent('test:handler-error', { detail: err }))
      framed.abort(err as Error)
    }
  })
  return node
}

/** Resolves once `node` has discovered `peerId` (over mDNS); fails the test after `ms`. */
async function discovery(node: FleetNode, peerId: string, ms: number): Promise<void> {
  if (discovered.get(node)?.has(peerId) === true) return
  await nextEvent(node, 'peer:discovery', (peer) => peer.id.toString() === peerId, 'mDNS discovery', ms)
}

function nextHandlerError(node: FleetNode): Promise<Error> {
  return new Promise((resolve) =>
    node.addEventListener('test:handler-error' as never, (evt: CustomEvent<Error>) => resolve(evt.detail), {
      once: true
    })
  )
}

describe('p2p/node: real libp2p (TCP, Noise, Yamux, mDNS) on loopback', function () {
  this.timeout(30_000)
  const serviceTag = `_fleet-test-${randomBytes(4).toString('hex')}._udp.local`
  let keys: PrivateKey[]
  let nodes: FleetNode[]
  const admitted = new Set<string>()

  before(async () => {
    keys = await Promise.all([0, 1, 2].map(async () => await generateKeyPair('Ed25519')))
    admitted.add(peerIdFromPrivateKey(keys[0]!).toString())
    admitted.add(peerIdFromPrivateKey(keys[1]!).toString())
    // The third node admits everyone, but nobody admits it.
    nodes = [
      await makeNode(keys[0]!, admitted, serviceTag),
      await makeNode(keys[1]!, admitted, serviceTag),
      await makeNode(keys[2]!, new Set([...admitted, peerIdFromPrivateKey(keys[2]!).toString()]), serviceTag)
    ]
  })

  after(async () => {
    await Promise.all(nodes.map(async (n) => await n.stop()))
  })

  it('finds an admitted peer over mDNS and exchanges a frame over Noise', async () => {
    const [a, b] = nodes as [FleetNode, FleetNode]
    await discovery(a, b.peerId.toString(), 10_000)
    const stream = await a.dialProtocol(b.peerId, PROTOCOL)
    const framed = new FramedStream(stream)
    await framed.write(Buffer.from('hello fleet'))
    assert.equal(Buffer.from(await framed.read()).toString(), 'hello fleet')
    const connection = a.getConnections(b.peerId)[0]
    assert.equal(connection?.encryption, '/noise')
  })

  it('gates a peer that is not admitted, both ways', async () => {
    const [a, , stranger] = nodes as [FleetNode, FleetNode, FleetNode]
    await assert.rejects(stranger.dialProtocol(a.getMultiaddrs()[0]!, PROTOCOL))
    await assert.rejects(a.dialProtocol(stranger.getMultiaddrs()[0]!, PROTOCOL))
    assert.equal(a.getConnections(stranger.peerId).length, 0)
  })

  it('cuts off a frame over the size cap', async () => {
    const [a, b] = nodes as [FleetNode, FleetNode]
    const failed = nextHandlerError(b)
    const stream = await a.dialProtocol(b.peerId, PROTOCOL)
    await new FramedStream(stream, { maxBytes: 1 << 20 }).write(new Uint8Array(4096)).catch(() => undefined)
    assert.equal((await failed).name, 'FrameTooLargeError')
  })

  it('cuts off a peer that stalls', async () => {
    const [a, b] = nodes as [FleetNode, FleetNode]
    const failed = nextHandlerError(b)
    const stream = await a.dialProtocol(b.peerId, PROTOCOL)
    assert.equal((await failed).name, 'FrameTimeoutError')
    stream.abort(new Error('done'))
  })
})
