import assert from 'node:assert/strict'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Multiaddr } from '@multiformats/multiaddr'
import { relayOf, type Agent } from '../../../src/agent/index.js'
import { agentStatus } from '../../../src/agent/status.js'
import { SimFleet, type SimDevice } from '../../../simnet/fleet.js'
import { haveSwtpm } from '../../helpers/devices.js'
import { until } from '../../helpers/wait.js'

/** An entry `from` writes is held, verified, by `to`. */
async function crossed(from: Agent, to: Agent, detail: string): Promise<void> {
  const feed = from.feed.ledger.feedId
  await from.feed.ledger.append({
    type: 'alert.tamper',
    actor: { id: `agent/${feed}`, role: 'agent' },
    attest: null,
    body: { subject: feed, pcr: 7, detail }
  })
  await from.feed.ledger.checkpoint()
  const size = from.feed.ledger.sealedSize
  await until(async () => ((await to.heads()).get(feed) ?? 0) >= size, `the entry to cross (${detail})`)
}

/**
 * Two devices that cannot dial each other (neither knows the other's address; no mDNS) and a hub
 * both are given: each reaches the other through the hub, attests it end to end over the
 * circuit, and replicates its feed. A stranger with libp2p's own relay client is refused a
 * reservation and a link to a member; a revoked device loses its relayed links and the hub's relay.
 */
describe('agent/hubs: members reach each other through an attested hub, strangers do not (swtpm)', function () {
  this.timeout(180_000)
  let fleet: SimFleet
  let hubDevice: SimDevice
  let hub: Agent
  let a: Agent
  let b: Agent
  let bDevice: SimDevice
  let hubAddress: Multiaddr
  let stranger: Libp2p | undefined

  const relayedTo = (from: Agent, to: Agent): boolean =>
    from.node
      .getConnections()
      .some(
        (c) =>
          c.remotePeer.equals(to.node.peerId) &&
          c.status === 'open' &&
          relayOf(c.remoteAddr) === hub.node.peerId.toString()
      )

  before(async function () {
    if (!haveSwtpm()) this.skip()
    fleet = await SimFleet.create()
    hubDevice = await fleet.addDevice('good')
    await fleet.enrol(hubDevice, { role: 'hub' })
    const [aDevice, second] = await fleet.addEnrolled(2)
    bDevice = second!
    hub = await fleet.start(hubDevice, { attestDeadlineMs: 3_000 })
    hubAddress = hub.node.getMultiaddrs()[0]!
    const viaHub = { hubs: [hubAddress.toString()], hubReachIntervalMs: 250 }
    a = await fleet.start(aDevice!, viaHub)
    b = await fleet.start(bDevice, viaHub)
  })
  after(async () => {
    await stranger?.stop()
    await fleet?.close()
  })

  it('each device reaches the other through the hub and attests it end to end; a feed replicates over the circuit', async () => {
    await until(() => relayedTo(a, b) || relayedTo(b, a), 'a relayed link between a and b', 60_000)
    await until(
      () => a.attestation.attested(b.node.peerId.toString()) && b.attestation.attested(a.node.peerId.toString()),
      'a and b attested over the circuit',
      30_000
    )
    // Neither has a direct link to the other: every link between them runs through the hub.
    for (const [from, to] of [
      [a, b],
      [b, a]
    ] as const)
      for (const c of from.node.getConnections(to.node.peerId)) {
        assert.equal(relayOf(c.remoteAddr), hub.node.peerId.toString())
        // Encrypted end to end: the hub carries the Noise session between a and b.
        assert.equal(c.encryption, '/noise')
      }
    assert.ok((hub.relayCounts?.reservationsGranted ?? 0) >= 2, 'both devices hold a reservation on the hub')
    assert.ok((hub.relayCounts?.linksCarried ?? 0) >= 1)
    // What fleet status and fleet peers show: b reached through the hub; the hub's reservations.
    const seen = (await agentStatus(a, a.feed.ledger.feedId)) as {
      peers: Array<{ peerId: string; via?: string; hub?: string; trusted: boolean }>
      relay?: { hubs: Array<{ peerId: string; attested: boolean }> }
    }
    const bSeen = seen.peers.find((p) => p.peerId === b.node.peerId.toString())
    assert.deepEqual(
      { trusted: bSeen?.trusted, via: bSeen?.via, hub: bSeen?.hub },
      { trusted: true, via: 'relay', hub: hub.node.peerId.toString() }
    )
    assert.deepEqual(seen.relay?.hubs, [{ peerId: hub.node.peerId.toString(), attested: true }])
    const hubSeen = (await agentStatus(hub, hub.feed.ledger.feedId)) as {
      relay?: { hub: boolean; reservations: number }
    }
    assert.equal(hubSeen.relay?.hub, true)
    assert.ok((hubSeen.relay?.reservations ?? 0) >= 2)
    await crossed(b, a, 'over the hub')
  })

  it('a stranger (libp2p relay client, unenrolled key) is refused a reservation and a link to a member', async () => {
    const refusedBefore = hub.relayCounts!.reservationsRefused
    const linksRefusedBefore = hub.relayCounts!.linksRefused
    stranger = await createLibp2p({
      privateKey: await generateKeyPair('Ed25519'),
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0', '/p2p-circuit'] },
      transports: [tcp(), circuitRelayTransport()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify() }
    })
    // Straight at the hub: it may connect (it has the attestation deadline to attest), and asks for a reservation.
    await stranger.dial(hubAddress)
    await until(() => hub.relayCounts!.reservationsRefused > refusedBefore, 'the hub to refuse the reservation', 30_000)
    assert.equal(hub.node.services.relay!.reservations.has(stranger.peerId), false)
    assert.ok(!stranger.getMultiaddrs().some((addr) => addr.toString().includes('/p2p-circuit')))
    // A link to a member through the hub: refused by the hub, and the member never sees it.
    await stranger.dial(hubAddress).catch(() => undefined)
    await assert.rejects(
      stranger.dial(hubAddress.encapsulate(`/p2p-circuit/p2p/${a.node.peerId.toString()}`), {
        signal: AbortSignal.timeout(10_000)
      })
    )
    assert.ok(hub.relayCounts!.linksRefused > linksRefusedBefore)
    assert.equal(a.node.getConnections(stranger.peerId).length, 0)
  })

  it('a revoked device loses its relayed links and the relay: the hub hangs up on it, and nobody reaches it through the hub', async () => {
    await until(() => relayedTo(a, b) || relayedTo(b, a), 'the relayed link between a and b', 30_000)
    const reached = await fleet.revoke(bDevice.state.deviceId, [hubAddress, a.node.getMultiaddrs()[0]!])
    assert.ok(reached.length >= 1)
    await until(
      () => a.node.getConnections(b.node.peerId).length === 0 && hub.node.getConnections(b.node.peerId).length === 0,
      'a and the hub to hang up on the revoked device',
      30_000
    )
    // Through the hub, b is no longer reachable: the hub refuses to carry a link to it.
    await assert.rejects(
      a.node.dial(hubAddress.encapsulate(`/p2p-circuit/p2p/${b.node.peerId.toString()}`), {
        signal: AbortSignal.timeout(10_000)
      })
    )
    assert.equal(a.attestation.attested(b.node.peerId.toString()), false)
  })
})

/**
 * A relayed link carries the hub's limits: when it has lasted its time, the hub resets it, and the
 * two devices dial through the hub again, attest again, and go on replicating (the link is renewed).
 */
describe('agent/hubs: a relayed link past its limit is reset by the hub and renewed (swtpm)', function () {
  this.timeout(180_000)
  let fleet: SimFleet

  before(function () {
    if (!haveSwtpm()) this.skip()
  })
  after(async () => {
    await fleet?.close()
  })

  it('after the hub resets the link, a and b are linked and attested through it again, and entries still cross; a revoked hub is used no more', async () => {
    fleet = await SimFleet.create()
    const hubDevice = await fleet.addDevice('good')
    await fleet.enrol(hubDevice, { role: 'hub' })
    const [aDevice, bDevice] = await fleet.addEnrolled(2)
    const hub = await fleet.start(hubDevice, { relayLinkLimits: { durationMs: 3_000, dataBytes: 1n << 30n } })
    const viaHub = { hubs: [hub.node.getMultiaddrs()[0]!.toString()], hubReachIntervalMs: 250 }
    const a = await fleet.start(aDevice!, viaHub)
    const b = await fleet.start(bDevice!, viaHub)
    const link = (): string | undefined =>
      [...a.node.getConnections(b.node.peerId), ...b.node.getConnections(a.node.peerId)].find(
        (c) => c.status === 'open' && relayOf(c.remoteAddr) === hub.node.peerId.toString()
      )?.id
    await until(() => link() !== undefined, 'a relayed link between a and b', 60_000)
    const first = link()!
    await until(
      () => a.attestation.attested(b.node.peerId.toString()) && b.attestation.attested(a.node.peerId.toString()),
      'a and b attested'
    )
    // The hub resets it after 3 s; the next one is another connection, attested on its own.
    await until(() => link() !== undefined && link() !== first, 'another relayed link', 60_000)
    await until(
      () => a.attestation.attested(b.node.peerId.toString()) && b.attestation.attested(a.node.peerId.toString()),
      'a and b attested again'
    )
    assert.ok(a.hubLinks!.counts.relayedDials + b.hubLinks!.counts.relayedDials >= 2, 'the link was dialled again')
    await crossed(b, a, 'after the renewal')
    // The owner revokes the hub: both devices hang up on it, every link through it ends, and it
    // is not used again (its links would have to be dialled through a peer they refuse).
    await fleet.revoke(hubDevice.state.deviceId, [a.node.getMultiaddrs()[0]!, b.node.getMultiaddrs()[0]!])
    await until(
      () =>
        link() === undefined &&
        a.node.getConnections(hub.node.peerId).length === 0 &&
        b.node.getConnections(hub.node.peerId).length === 0,
      'every link through the revoked hub to end',
      30_000
    )
    assert.deepEqual(a.hubLinks!.attestedHubs(), [])
    await assert.rejects(
      a.node.dial(hub.node.getMultiaddrs()[0]!.encapsulate(`/p2p-circuit/p2p/${b.node.peerId.toString()}`), {
        signal: AbortSignal.timeout(10_000)
      })
    )
    assert.equal(link(), undefined)
  })
})
