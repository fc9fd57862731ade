/**
 * The running agent (swtpm, simnet) with a webhook sink: a workload stop it records and the
 * owner's revocation of a peer, which reaches it by replication, both arrive at an HTTPS
 * receiver, each verified with jose against the fleet's JWKS as `fleet attest keys` publishes it
 * (the device's TPM-held DSK); `fleet status` (agentStatus) shows the sink.
 */
import assert from 'node:assert/strict'
import {
  agentStatus,
  enrolledSigningKeys,
  fleetJwks,
  ownerFeedId,
  type Agent,
  type SinkStatus
} from '../../../src/agent/index.js'
import { decodeEntry, type Entry } from '../../../src/ledger/index.js'
import { SimFleet, type SimDevice } from '../../../simnet/fleet.js'
import { haveSwtpm, tempDir } from '../../helpers/devices.js'
import { WebhookReceiver, mintTls } from '../../../simnet/webhook-receiver.js'
import { assertOrderedPerFeed } from '../../helpers/sink-checks.js'
import { SinkRecorder } from '../../helpers/sink-feed.js'

describe('agent with a webhook sink (swtpm)', function () {
  this.timeout(180_000)
  let fleet: SimFleet
  let devices: SimDevice[]
  let agent: Agent
  let receiver: WebhookReceiver
  const recorder = new SinkRecorder()

  before(async function () {
    if (!haveSwtpm()) this.skip()
    fleet = await SimFleet.create()
    devices = await fleet.addEnrolled(2)
    const owner = fleet.owner
    const entries: Entry[] = []
    for (let seq = 0; seq < owner.feed.ledger.size; seq++)
      entries.push(decodeEntry((await owner.feed.ledger.getEntry(seq))!).entry)
    // What `fleet attest keys` publishes: each enrolled device's DSK, kid = device id.
    const jwks = fleetJwks(enrolledSigningKeys(entries))
    const tls = mintTls(await tempDir('fleet-sink-agent-'))
    receiver = new WebhookReceiver(tls, () => jwks)
    await receiver.up()
    agent = await fleet.start(devices[0]!, {
      sinks: [{ kind: 'webhook', name: 'soc', url: receiver.url, caFile: tls.caFile }],
      sinkPollMs: 50,
      onSinks: recorder.onEvent
    })
  })
  after(async () => {
    await fleet?.close()
    await receiver?.down()
  })

  const received = async (match: (e: { type: string; feed: string }) => boolean, what: string): Promise<void> => {
    const deadline = Date.now() + 60_000
    while (!receiver.events.some(match)) {
      assert.ok(Date.now() < deadline, `no ${what} reached the webhook`)
      await receiver.nextPost()
    }
  }

  it('delivers a workload stop and an owner revocation, signed by the device TPM-held key', async () => {
    const self = devices[0]!.state.deviceId
    const { seq } = await agent.feed.ledger.append({
      type: 'workload.stop',
      actor: { id: `agent/${self}`, role: 'agent' },
      attest: null,
      body: { exe: '/usr/bin/job', exeDigest: new Uint8Array(32).fill(1), pid: 7, reason: 'the quorum fell short' }
    })
    await received((e) => e.type === 'workload.stop', 'workload stop')
    const stop = receiver.events.find((e) => e.type === 'workload.stop')!
    assert.equal(stop.id, `${self}/${seq}`)
    assert.equal((stop.body as { reason: string }).reason, 'the quorum fell short')

    const victim = devices[1]!.state.deviceId
    const ownerFeed = ownerFeedId(new Uint8Array(Buffer.from(fleet.owner.state.fleetId, 'hex')))
    const acknowledged = recorder.next((e) => e.type === 'delivered' && e.feed === ownerFeed && e.count > 0)
    await fleet.revoke(victim, [agent.node.getMultiaddrs()[0]!])
    await received((e) => e.type === 'device.revoke' && e.feed === ownerFeed, 'revocation')
    await acknowledged
    const revoke = receiver.events.find((e) => e.type === 'device.revoke')!
    assert.equal((revoke.body as { deviceId: string }).deviceId, victim)
    assertOrderedPerFeed(receiver.events)
    // Nothing that did not verify against the JWKS, and the enrolments were not sent (not events).
    assert.deepEqual(receiver.refused, [])
    assert.ok(!receiver.events.some((e) => e.type === 'device.enrol'))

    const status = (await agentStatus(agent, self)).sinks as SinkStatus[]
    assert.equal(status.length, 1)
    assert.equal(status[0]!.name, 'soc')
    assert.ok(status[0]!.delivered >= 2)
    assert.equal(status[0]!.failed, 0)
    assert.equal(status[0]!.backlog, 0)
  })

  it('shows each sink in the metrics: backlog, delivered and failures', async () => {
    const { startMetricsServer } = await import('../../../src/agent/metrics.js')
    const metrics = await startMetricsServer(agent, undefined, 0)
    try {
      const text = await (await fetch(`http://127.0.0.1:${metrics.port}/metrics`)).text()
      const delivered = (await agent.sinks.status())[0]!.delivered
      assert.match(text, /^fleet_sink_backlog_entries\{sink="soc"\} 0$/m)
      assert.match(text, new RegExp(`^fleet_sink_delivered_total\\{sink="soc"\\} ${delivered}$`, 'm'))
      assert.match(text, /^fleet_sink_failures_total\{sink="soc"\} 0$/m)
    } finally {
      await metrics.close()
    }
  })
})
