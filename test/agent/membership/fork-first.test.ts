import assert from 'node:assert/strict'
import { until as waitFor } from '../../helpers/wait.js'
import { type Agent, deviceSigner } from '../../../src/agent/index.js'
import { decodeEntry } from '../../../src/ledger/index.js'
import { SimFleet, type SimDevice } from '../../../simnet/fleet.js'
import { Equivocator } from '../../../simnet/hostile.js'

const until = async (condition: () => Promise<boolean> | boolean, what: string, ms = 30_000): Promise<number> =>
  await waitFor(condition, what, ms)

const OPTIONS = { cosignIntervalMs: 200, syncIntervalMs: 1_000, batchMs: 50 }

/**
 * A device shows one agent another history before that agent held the point where it forks, and
 * goes on with the honest one for the rest: the victim holds a shorter, forked history that no
 * batch of the honest one extends, and the others, holding more, are never told of the victim's
 * (announces go to peers not known to hold as much). Found in the chaos campaign (seed 15).
 */
describe('agent/equivocation shown first: a victim holding only the other history', function () {
  this.timeout(240_000)
  let fleet: SimFleet
  let devices: SimDevice[]
  let e: Agent
  let a: Agent
  let b: Agent
  const equivocator = new Equivocator()
  const peerId = (agent: Agent): string => agent.node.peerId.toString()

  before(async () => {
    fleet = await SimFleet.create()
    devices = await fleet.addEnrolled(3)
    e = await fleet.start(devices[0]!, { ...OPTIONS, ownFeedServer: equivocator.ownFeedServer })
    a = await fleet.start(devices[1]!, OPTIONS)
    b = await fleet.start(devices[2]!, OPTIONS)
  })
  after(async () => {
    await fleet?.close()
  })

  it('is quarantined everywhere: the victim shows its checkpoint to the peer whose batch it refused', async () => {
    const eId = devices[0]!.state.deviceId
    await e.node.dial(a.node.getMultiaddrs()[0]!)
    await until(() => a.attestation.attested(peerId(e)), 'a to attest e')
    await e.feed.ledger.append({
      type: 'alert.tamper',
      actor: { id: `agent/${eId}`, role: 'agent' },
      attest: null,
      body: { subject: eId, pcr: 7, detail: 'before-the-fork' }
    })
    // b has not met anyone yet: the fork is what it will be shown of e's feed.
    const forkSize = await equivocator.equivocate(e, deviceSigner(devices[0]!.tpm, devices[0]!.unlocked), [peerId(b)])
    for (let i = 0; i < 3; i++)
      await e.feed.ledger.append({
        type: 'alert.tamper',
        actor: { id: `agent/${eId}`, role: 'agent' },
        attest: null,
        body: { subject: eId, pcr: 7, detail: `after-${i}` }
      })
    await e.feed.ledger.checkpoint()
    await until(
      async () => ((await a.heads()).get(eId) ?? 0) >= e.feed.ledger.sealedSize,
      "a to hold e's honest history"
    )
    assert.ok(e.feed.ledger.sealedSize > forkSize)
    await b.node.dial(e.node.getMultiaddrs()[0]!)
    await until(async () => ((await b.heads()).get(eId) ?? 0) === forkSize, 'b to hold the other history')
    const held: string[] = []
    for await (const bytes of b.replicas.entries(eId)) held.push(String(decodeEntry(bytes).entry.body.detail ?? ''))
    assert.equal(held.at(-1), 'the-other-history')
    assert.equal(a.membership.isQuarantined(eId) || b.membership.isQuarantined(eId), false)
    // b meets a, which holds more of the honest history: b cannot extend its copy with a's batches.
    // b does not announce e's feed to a, as when it knows a holds more (its peer heads said so
    // before a partition healed, as in the chaos run): a never sees b's checkpoint unless shown.
    const gossip = (b.replicator as unknown as { gossip: { announce: (feed: string, ...rest: unknown[]) => void } })
      .gossip
    const announce = gossip.announce.bind(gossip)
    gossip.announce = (feed, ...rest) => {
      if (feed !== eId) announce(feed, ...rest)
    }
    await b.node.dial(a.node.getMultiaddrs()[0]!)
    await until(
      () => a.membership.isQuarantined(eId) && b.membership.isQuarantined(eId),
      'a and b to quarantine e',
      60_000
    )
  })
})
