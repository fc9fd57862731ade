import assert from 'node:assert/strict'
import { gc } from '../helpers/gc.js'
import { until } from '../helpers/wait.js'
import type { Agent } from '../../src/agent/index.js'
import { SYNC_PROTOCOL_LIMITS } from '../../src/agent/index.js'
import { SimFleet, type SimDevice } from '../../simnet/fleet.js'
import { HostileServer, attacks } from '../../simnet/hostile.js'

const action = (resource: string): Parameters<Agent['feed']['ledger']['append']>[0] =>
  ({ type: 'operator.data_access', actor: { id: 'operator/alice', role: 'operator' }, attest: null, body: { resource, purpose: 'care' } })

/**
 * A target agent, an honest peer and a hostile peer (enrolled and attested, so it gets past the
 * gate) on swtpm and libp2p. Whatever the hostile peer does, the target keeps serving the honest
 * one and its store holds exactly what verified.
 */
describe('agent/hostile peers: an enrolled, attested peer that misbehaves', function () {
  this.timeout(180_000)
  let fleet: SimFleet
  let devices: SimDevice[]
  let target: Agent
  let honest: Agent
  let hostile: Agent
  const server = new HostileServer()
  let counter = 0

  const held = async (runtime: Agent, feed: string): Promise<number> => (await runtime.heads()).get(feed) ?? 0
  /** The honest peer and the target still replicate both ways; returns how long it took. */
  async function honestFlows (ms = 10_000): Promise<number> {
    const started = Date.now()
    for (const [from, to] of [[honest, target], [target, honest]] as const) {
      await from.feed.ledger.append(action(`honest-${counter++}`))
      await from.feed.ledger.checkpoint()
      const size = from.feed.ledger.sealedSize
      const feed = from === honest ? devices[1]!.state.deviceId : devices[0]!.state.deviceId
      await until(async () => await held(to, feed) >= size, 'honest replication', ms)
    }
    return Date.now() - started
  }

  before(async () => {
    fleet = await SimFleet.create()
    devices = await fleet.addEnrolled(3)
    const options = { syncIntervalMs: 1_000, batchMs: 50, cosignIntervalMs: 0 }
    target = await fleet.start(devices[0]!, options)
    honest = await fleet.start(devices[1]!, options)
    hostile = await fleet.start(devices[2]!, { ...options, ownFeedServer: server.ownFeedServer })
    server.attach(hostile)
    await honest.node.dial(target.node.getMultiaddrs()[0]!)
    await hostile.node.dial(target.node.getMultiaddrs()[0]!)
    await hostile.node.dial(honest.node.getMultiaddrs()[0]!)
    await until(() => target.attestation.attested(honest.node.peerId.toString()) && target.attestation.attested(hostile.node.peerId.toString()), 'attestation')
    await honestFlows()
  })
  after(async () => { await fleet?.close() })

  it('cuts off an oversized frame and half-sent frames (slow loris) while serving the honest peer', async () => {
    assert.equal(await attacks.oversizedFrame(hostile.node, target.node.peerId), true, 'the oversized frame was not cut off')
    const loris = attacks.slowLoris(hostile.node, target.node.peerId, 6, SYNC_PROTOCOL_LIMITS.stepTimeoutMs + 5_000)
    await honestFlows()
    const { opened, cutOff } = await loris
    assert.equal(cutOff, opened, `${opened - cutOff} of ${opened} stalled streams were left open`)
    await honestFlows()
  })

  it('a flood of announces leaves memory bounded and the honest peer served', async () => {
    // What stays reachable after full collections: a flood that leaves state behind shows here.
    // The resident set also holds the flood's garbage not yet collected and malloc's free lists
    // (it grew by 90–150 MiB while 2–6 MiB stayed reachable), so it only bounds gross growth.
    const retained = (): number => { gc(); gc(); const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers }
    const [kept, rss] = [retained(), process.memoryUsage().rss]
    const sent = await attacks.announceFlood(hostile.node, target.node.peerId, 3_000)
    assert.ok(sent > 1_000, `only ${sent} announces went out`)
    await honestFlows()
    const grown = (process.memoryUsage().rss - rss) / 1048576
    const stayed = (retained() - kept) / 1048576
    assert.ok(stayed < 16, `${stayed.toFixed(1)} MiB stayed reachable after ${sent} announces`)
    assert.ok(grown < 256, `RSS grew by ${grown.toFixed(0)} MiB`)
  })

  it('forged entries, forged checkpoints and replays store nothing; served honestly, the feed then arrives whole', async () => {
    const feed = devices[2]!.state.deviceId
    await until(async () => await held(target, feed) >= hostile.feed.ledger.sealedSize, 'the hostile feed so far')
    const before = await held(target, feed)
    for (const mode of ['replay', 'forged-entry', 'forged-checkpoint'] as const) {
      await server.setMode(mode)
      for (let i = 0; i < 5; i++) await hostile.feed.ledger.append(action(`${mode}-${i}`))
      await hostile.feed.ledger.checkpoint()
      await new Promise((resolve) => setTimeout(resolve, 1_500))
      assert.equal(await held(target, feed), before, `${mode}: something was stored`)
      await honestFlows()
    }
    await server.setMode('honest')
    await until(async () => await held(target, feed) >= hostile.feed.ledger.sealedSize, 'the hostile feed served honestly')
    // What the target holds is exactly what the writer wrote.
    let seq = 0
    for await (const bytes of target.replicas.entries(feed)) assert.deepEqual(Buffer.from(bytes), Buffer.from((await hostile.feed.ledger.getEntry(seq++))!))
    assert.equal(seq, hostile.feed.ledger.sealedSize)
  })

  it('a server that stalls does not hold up replication from the others', async () => {
    await server.setMode('stall')
    try {
      await hostile.feed.ledger.append(action('stalled'))
      await hostile.feed.ledger.checkpoint()
      // The target is now stuck pulling from the hostile peer; the honest peer's entries still come.
      await new Promise((resolve) => setTimeout(resolve, 300))
      const took = await honestFlows(SYNC_PROTOCOL_LIMITS.pullTurnMs + 4_000)
      assert.ok(took < server.stallMs, `honest replication took ${took} ms`)
    } finally {
      await server.setMode('honest')
    }
  })

  it('an equivocation alert whose evidence proves nothing does not quarantine the accused', async () => {
    const accused = devices[1]!.state.deviceId
    // The made-up evidence pairs two real checkpoints of the accused that the hostile agent holds.
    await until(async () => (await hostile.replicas.source(accused).checkpointsCovering(0)).length >= 2, 'two checkpoints of the accused at the hostile agent')
    await attacks.falseAccusation(hostile, accused)
    const feed = devices[2]!.state.deviceId
    await until(async () => await held(target, feed) >= hostile.feed.ledger.sealedSize, 'the alert replicated to the target')
    await new Promise((resolve) => setTimeout(resolve, 500))
    assert.equal(target.membership.isQuarantined(accused), false)
    assert.equal(target.attestation.attested(honest.node.peerId.toString()), true)
    await honestFlows()
  })
})
