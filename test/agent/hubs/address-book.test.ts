import assert from 'node:assert/strict'
import { readFile, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import path from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { ADDRESS_BOOK_FILE, AddressBook, HUB_LIMITS, type Agent } from '../../../src/agent/index.js'
import { SimFleet } from '../../../simnet/fleet.js'
import { haveSwtpm, tempDir } from '../../helpers/devices.js'
import { until } from '../../helpers/wait.js'

const PEER = '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('agent/hubs: the address book of peers reached before (DIR/address-book.json)', function () {
  this.timeout(180_000)

  it('keeps direct TCP addresses only, at most a few per peer and HUB_LIMITS.maxBookedPeers peers; a damaged file is empty', async () => {
    const dir = await tempDir('address-book-')
    const book = new AddressBook(dir)
    book.note(PEER, [
      multiaddr('/ip4/192.0.2.1/tcp/7000'),
      multiaddr(`/ip4/192.0.2.9/tcp/7000/p2p/${PEER}/p2p-circuit`),
      multiaddr('/ip4/192.0.2.1/udp/7000/quic-v1'),
      multiaddr('/ip4/0.0.0.0/tcp/7000'),
      ...Array.from({ length: 8 }, (_, i) => multiaddr(`/ip4/198.51.100.${i}/tcp/7000`))
    ])
    const kept = book.addresses(PEER).map((a) => a.toString())
    assert.equal(kept.length, HUB_LIMITS.maxAddressesPerPeer)
    assert.equal(kept[0], `/ip4/192.0.2.1/tcp/7000/p2p/${PEER}`)
    assert.ok(kept.every((a) => !a.includes('p2p-circuit') && a.includes('/tcp/')))
    // More peers than the cap: the least recently noted go first.
    const crowd = new AddressBook(await tempDir('address-book-crowd-'))
    for (let i = 0; i <= HUB_LIMITS.maxBookedPeers; i++) crowd.note(`peer${i}`, [multiaddr('/ip4/192.0.2.1/tcp/7000')])
    assert.equal(crowd.addresses('peer0').length, 0)
    assert.equal(crowd.addresses(`peer${HUB_LIMITS.maxBookedPeers}`).length, 1)
    await book.flush()
    const again = new AddressBook(dir)
    await again.load()
    assert.deepEqual(
      again.addresses(PEER).map((a) => a.toString()),
      kept
    )
    // Planted entries that are not addresses, and a damaged file, give nothing to dial.
    await writeFile(
      path.join(dir, ADDRESS_BOOK_FILE),
      JSON.stringify({
        peers: {
          [PEER]: ['not an address', `/ip4/192.0.2.1/tcp/7000/p2p/${PEER}`],
          'not-a-peer': ['/ip4/192.0.2.2/tcp/1']
        }
      })
    )
    const planted = new AddressBook(dir)
    await planted.load()
    assert.deepEqual(planted.addresses(PEER), [])
    await writeFile(path.join(dir, ADDRESS_BOOK_FILE), '{"peers":')
    const damaged = new AddressBook(dir)
    await damaged.load()
    assert.deepEqual(damaged.addresses(PEER), [])
  })

  it('on swtpm: two agents without mDNS, linked once by hand, find each other again after both restart', async function () {
    if (!haveSwtpm()) this.skip()
    const fleet = await SimFleet.create()
    try {
      const devices = await fleet.addEnrolled(2)
      const ports = [await freePort(), await freePort()]
      const start = async (i: number): Promise<Agent> =>
        await fleet.start(devices[i]!, { listen: [`/ip4/127.0.0.1/tcp/${ports[i]}`] })
      let [a, b] = [await start(0), await start(1)]
      await a.node.dial(b.node.getMultiaddrs()[0]!)
      const attested = (): boolean =>
        a.attestation.attested(b.node.peerId.toString()) && b.attestation.attested(a.node.peerId.toString())
      await until(attested, 'a and b attested')
      for (const agent of [a, b]) await agent.stop()
      const booked = JSON.parse(await readFile(path.join(devices[0]!.dir, ADDRESS_BOOK_FILE), 'utf8')) as {
        peers: Record<string, string[]>
      }
      assert.deepEqual(booked.peers[b.node.peerId.toString()], [`/ip4/127.0.0.1/tcp/${ports[1]}`])
      // Nobody dials by hand now: the books do.
      ;[a, b] = [await start(0), await start(1)]
      await until(attested, 'a and b attested again from their books', 30_000)
    } finally {
      await fleet.close()
    }
  })
})
