import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import {
  HUB_ACTIONS,
  HUB_BOOK_FILE,
  HubList,
  missingHubActions,
  ownerListedHubs,
  relayOf,
  type Agent
} from '../../../src/agent/index.js'
import { encodeCanonical } from '../../../src/codec/index.js'
import { BASE_ONTOLOGY, formatOntologyActions, ontologyAfter, type Entry } from '../../../src/ledger/index.js'
import { RELAY_LIMITS } from '../../../src/p2p/index.js'
import { SimFleet, type SimDevice } from '../../../simnet/fleet.js'
import { haveSwtpm } from '../../helpers/devices.js'
import { publishOwnerStatements } from '../../helpers/owner-statements.js'
import { until } from '../../helpers/wait.js'

const OWNER = { id: 'owner/simnet', role: 'owner' as const }
const entry = (type: string, body: Record<string, unknown>): Entry =>
  ({ type, body, actor: OWNER, attest: null, time: 0 }) as unknown as Entry
const defineHubs = (version: number, actions = missingHubActions(BASE_ONTOLOGY)): Entry =>
  entry('ontology.update', { version, actions: encodeCanonical(formatOntologyActions(actions)) })
const device = (n: number): string => 'a'.repeat(51) + 'abcdefghijklmnopqrstuvwxyz234567'[n]!

describe('agent/hubs: the owner lists the hubs (fleet.hub)', function () {
  this.timeout(180_000)

  it('statements count only as the well-known actions define them; removed; at most RELAY_LIMITS.maxHubs', () => {
    const ontology = ontologyAfter(BASE_ONTOLOGY, defineHubs(BASE_ONTOLOGY.version + 1))
    const hubs = new HubList()
    assert.deepEqual(
      hubs.apply(entry('fleet.hub', { deviceId: device(0), address: '/ip4/192.0.2.1/tcp/7000' }), ontology),
      {
        deviceId: device(0),
        change: 'added'
      }
    )
    // Before the owner defined the actions, or where the owner defined them otherwise: not taken.
    assert.equal(
      hubs.apply(entry('fleet.hub', { deviceId: device(1), address: '/ip4/192.0.2.2/tcp/7000' }), BASE_ONTOLOGY),
      undefined
    )
    const otherwise = ontologyAfter(
      BASE_ONTOLOGY,
      defineHubs(BASE_ONTOLOGY.version + 1, {
        'fleet.hub': {
          roles: ['owner'],
          body: { deviceId: { kind: 'string', max: 64 }, address: { kind: 'string', max: 64 } }
        }
      })
    )
    assert.equal(
      hubs.apply(entry('fleet.hub', { deviceId: device(1), address: '/ip4/192.0.2.2/tcp/7000' }), otherwise),
      undefined
    )
    // The owner's own definition is in force (so the statement above was refused for its meaning).
    assert.ok(Object.hasOwn(otherwise.actions, 'fleet.hub'))
    assert.throws(() => missingHubActions(otherwise), { name: 'OntologyConflictError' })
    for (let n = 1; n < RELAY_LIMITS.maxHubs + 2; n++)
      hubs.apply(entry('fleet.hub', { deviceId: device(n), address: `/ip4/192.0.2.${n}/tcp/7000` }), ontology)
    assert.equal(hubs.list().length, RELAY_LIMITS.maxHubs)
    assert.deepEqual(hubs.apply(entry('fleet.hub_remove', { deviceId: device(0), reason: 'moved' }), ontology), {
      deviceId: device(0),
      change: 'removed'
    })
    assert.equal(
      hubs.list().some((h) => h.deviceId === device(0)),
      false
    )
    // The address takes no PeerId (the hub's is its enrolment record's), and is not relayed.
    const pattern = new RegExp((HUB_ACTIONS['fleet.hub']!.body.address as { pattern: string }).pattern)
    assert.match('/dns4/hub.example.org/tcp/7000', pattern)
    assert.doesNotMatch('/ip4/192.0.2.1/tcp/7000/p2p/12D3KooWx', pattern)
    assert.doesNotMatch('/ip4/192.0.2.1/tcp/7000/p2p-circuit', pattern)
  })

  it("a listed hub is reached at its address with its record's PeerId; one naming a PeerId of its own (/ipfs/ too) is not used", () => {
    const ontology = ontologyAfter(BASE_ONTOLOGY, defineHubs(BASE_ONTOLOGY.version + 1))
    const hubs = new HubList()
    const recordPeer = '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'
    const stranger = '12D3KooWRJrp9bxgBKdCTLkMLxUtMyTUCDEFLbGBtFdhhZ4j7ABa'
    hubs.apply(entry('fleet.hub', { deviceId: device(0), address: '/ip4/192.0.2.1/tcp/7000' }), ontology)
    hubs.apply(
      entry('fleet.hub', { deviceId: device(1), address: `/ip4/192.0.2.2/tcp/7000/ipfs/${stranger}` }),
      ontology
    )
    hubs.apply(entry('fleet.hub', { deviceId: device(2), address: '/ip4/192.0.2.3/tcp/7000' }), ontology)
    const members = {
      hubs,
      member: (deviceId: string) => (deviceId === device(2) ? undefined : { peerId: recordPeer }),
      isRevoked: () => false,
      isQuarantined: () => false
    }
    // device(1)'s address names another PeerId; device(2) is no member here.
    assert.deepEqual(
      ownerListedHubs(members, 'self').map((a) => a.toString()),
      [`/ip4/192.0.2.1/tcp/7000/p2p/${recordPeer}`]
    )
    assert.deepEqual(ownerListedHubs({ ...members, isRevoked: () => true }, 'self'), [])
  })

  describe('on swtpm: agents that cannot dial each other learn the hub from the owner and reach each other through it', () => {
    let fleet: SimFleet
    let hub: Agent
    let hubDevice: SimDevice
    let devices: SimDevice[]
    let agents: Agent[] = []

    before(async function () {
      if (!haveSwtpm()) this.skip()
      fleet = await SimFleet.create()
      hubDevice = await fleet.addDevice('good')
      await fleet.enrol(hubDevice, { role: 'hub' })
      devices = await fleet.addEnrolled(2)
      hub = await fleet.start(hubDevice)
      agents = [
        await fleet.start(devices[0]!, { hubReachIntervalMs: 250 }),
        await fleet.start(devices[1]!, { hubReachIntervalMs: 250 })
      ]
    })
    after(async () => {
      await fleet?.close()
    })

    it('the list reaches the agents, is booked, and after a restart each holds a reservation and reaches the other through the hub', async () => {
      const port = hub.node.getMultiaddrs()[0]!.toString().split('/')[4]
      const address = `/ip4/127.0.0.1/tcp/${port}`
      await publishOwnerStatements(
        fleet,
        [
          {
            type: 'ontology.update',
            body: {
              version: BASE_ONTOLOGY.version + 1,
              actions: encodeCanonical(formatOntologyActions(missingHubActions(BASE_ONTOLOGY)))
            }
          },
          { type: 'fleet.hub', body: { deviceId: hubDevice.state.deviceId, address } }
        ],
        [...agents, hub]
      )
      const booked = `${address}/p2p/${hub.node.peerId.toString()}`
      for (const [i, agent] of agents.entries()) {
        await until(
          async () =>
            (await readFile(path.join(devices[i]!.dir, HUB_BOOK_FILE), 'utf8').catch(() => '')).includes(booked),
          `${devices[i]!.name} to book the hub`
        )
        await agent.stop()
      }
      // Started again: the book says there is a hub, so each holds a reservation on it.
      agents = [
        await fleet.start(devices[0]!, { hubReachIntervalMs: 250 }),
        await fleet.start(devices[1]!, { hubReachIntervalMs: 250 })
      ]
      const [a, b] = agents as [Agent, Agent]
      const relayed = (from: Agent, to: Agent): boolean =>
        from.node
          .getConnections(to.node.peerId)
          .some((c) => relayOf(c.remoteAddr) === hub.node.peerId.toString() && c.status === 'open')
      await until(() => relayed(a, b) || relayed(b, a), 'a link between a and b through the hub', 60_000)
      await until(
        () => a.attestation.attested(b.node.peerId.toString()) && b.attestation.attested(a.node.peerId.toString()),
        'a and b attested each other through the hub'
      )
      assert.deepEqual(a.hubLinks?.attestedHubs(), [hub.node.peerId.toString()])
      // Taken off the list: the agents stop dialling it (a new round finds no hub).
      await publishOwnerStatements(
        fleet,
        [{ type: 'fleet.hub_remove', body: { deviceId: hubDevice.state.deviceId, reason: 'retired' } }],
        [hub]
      )
      await until(
        async () => !(await readFile(path.join(devices[0]!.dir, HUB_BOOK_FILE), 'utf8')).includes(booked),
        'the removal to reach a through the hub and be booked'
      )
      assert.deepEqual(a.hubLinks?.hubs(), [])
    })
  })
})
