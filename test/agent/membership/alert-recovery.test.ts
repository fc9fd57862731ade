import assert from 'node:assert/strict'
import { until as waitFor } from '../../helpers/wait.js'
import { disconnected } from '../../helpers/events.js'
import { type Agent, deviceSigner } from '../../../src/agent/index.js'
import { decodeEntry } from '../../../src/ledger/index.js'
import { SimFleet, type SimDevice } from '../../../simnet/fleet.js'
import { Equivocator } from '../../../simnet/hostile.js'

const until = async (condition: () => Promise<boolean> | boolean, what: string, ms = 30_000): Promise<number> =>
  await waitFor(condition, what, ms)

const OPTIONS = { cosignIntervalMs: 200, syncIntervalMs: 1_000, batchMs: 50 }

/** Whether an agent's replica of `feed` holds an alert.equivocation. */
async function holdsAlert(agent: Agent, feed: string): Promise<boolean> {
  for await (const bytes of agent.replicas.entries(feed))
    if (decodeEntry(bytes).entry.type === 'alert.equivocation') return true
  return false
}

describe("agent/peers' alerts acted on at least once, on swtpm and libp2p", function () {
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
    devices = await fleet.addEnrolled(4)
    e = await fleet.start(devices[0]!, { ...OPTIONS, ownFeedServer: equivocator.ownFeedServer })
    a = await fleet.start(devices[1]!, OPTIONS)
    b = await fleet.start(devices[2]!, OPTIONS)
    for (const [x, y] of [
      [e, a],
      [e, b],
      [a, b]
    ] as const)
      await x.node.dial(y.node.getMultiaddrs()[0]!)
    await until(
      () => [e, a, b].every((x) => [e, a, b].every((y) => x === y || x.attestation.attested(peerId(y)))),
      'an attested mesh of three'
    )
    // b is shown another history of e's feed: a and b quarantine e, and the alert is in a feed.
    await equivocator.equivocate(e, deviceSigner(devices[0]!.tpm, devices[0]!.unlocked), [peerId(b)], { epoch: 2 })
    const eId = devices[0]!.state.deviceId
    await until(() => a.membership.isQuarantined(eId) && b.membership.isQuarantined(eId), 'the quarantine at a and b')
  })
  after(async () => {
    await fleet?.close()
  })

  it("an agent killed between storing a peer's alert and acting on it quarantines the device on its next start", async () => {
    const eId = devices[0]!.state.deviceId
    const reporters = [devices[1]!.state.deviceId, devices[2]!.state.deviceId]
    // d joins late, from a only (never from e: it cannot see the fork itself). Its batches are
    // stored and their alerts not acted on, as when a kill comes right after a batch is stored.
    let d = await fleet.start(devices[3]!, OPTIONS)
    d.peerAlerts.afterBatch = async () => undefined
    await d.node.dial(a.node.getMultiaddrs()[0]!)
    await until(async () => {
      for (const feed of reporters) if (await holdsAlert(d, feed)) return true
      return false
    }, "the alert stored in d's replica")
    assert.equal(d.membership.isQuarantined(eId), false, 'the alert was stored, not acted on')
    await d.stop()
    // Restarted with no peer: what it stored before is acted on as it starts.
    d = await fleet.start(devices[3]!, OPTIONS)
    assert.equal(d.membership.isQuarantined(eId), true)
    assert.equal(d.peerAlerts.waiting, 0)
    // And it keeps the device out: e dials it and is hung up on, never attested.
    await e.node.dial(d.node.getMultiaddrs()[0]!).catch(() => undefined)
    await disconnected(d.node, e.node.peerId, 'd to hang up on the equivocator')
    assert.equal(d.attestation.attested(peerId(e)), false)
  })
})
