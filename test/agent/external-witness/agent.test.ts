/**
 * A running agent (swtpm, simnet) and a spec-following witness on 127.0.0.1: the owner lists the
 * witness in its feed, the agent takes it without a restart, submits its checkpoints, keeps the
 * cosignature and shows it in fleet status; removing the witness stops it counting.
 */
import assert from 'node:assert/strict'
import { agentStatus, EXTERNAL_WITNESS_ACTIONS, type Agent } from '../../../src/agent/index.js'
import { encodeCanonical } from '../../../src/codec/index.js'
import { formatOntologyActions, type AppendInput } from '../../../src/ledger/index.js'
import { startMetricsServer } from '../../../src/agent/metrics.js'
import { SimFleet } from '../../../simnet/fleet.js'
import { TestWitness } from '../../helpers/tlog-witness.js'
import { publishOwnerStatements } from '../../helpers/owner-statements.js'
import { until } from '../../helpers/wait.js'

describe('agent/external-witness: a running agent and an external witness', function () {
  this.timeout(180_000)
  let fleet: SimFleet
  let agent: Agent
  let deviceId: string
  let witness: TestWitness

  const publish = async (...statements: Array<Omit<AppendInput, 'actor' | 'attest'>>): Promise<void> =>
    await publishOwnerStatements(fleet, statements, [agent])

  before(async () => {
    fleet = await SimFleet.create()
    const [device] = await fleet.addEnrolled(1)
    agent = await fleet.start(device!)
    deviceId = device!.state.deviceId
    witness = await TestWitness.start()
    // The witness is configured with the device's checkpoint key for its origin, as a witness operator would.
    witness.trust(
      `fleet/${fleet.owner.state.fleetId}/${deviceId}`,
      deviceId,
      agent.membership.member(deviceId)!.feedKey
    )
  })
  after(async () => {
    await fleet?.close()
    await witness?.close()
  })

  it('takes a witness the owner lists without a restart, and its cosignature counts in status', async () => {
    await publish(
      {
        type: 'ontology.update',
        body: { version: 4, actions: encodeCanonical(formatOntologyActions({ ...EXTERNAL_WITNESS_ACTIONS })) }
      },
      { type: 'witness.external', body: { name: witness.name, url: witness.url, vkey: witness.vkey } }
    )
    await until(() => agent.membership.externalWitnesses.list().length === 1, 'the agent to take the witness')
    await agent.feed.ledger.append({
      type: 'alert.tamper',
      actor: { id: `agent/${deviceId}`, role: 'agent' },
      attest: null,
      body: { subject: deviceId, pcr: 7, detail: 'external witness test' }
    })
    await agent.feed.ledger.checkpoint()
    await until(async () => (await agent.externallyWitnessedBy()).length === 1, 'a cosignature by the witness')
    assert.ok(witness.requests.some((r) => r.status === 200))
    const status = (await agentStatus(agent, deviceId)) as {
      feed: { sealed: number; externallyWitnessedBy: string[] }
      externalWitnesses: Array<{ name: string; cosignedSize?: number; failures: number }>
    }
    assert.deepEqual(status.feed.externallyWitnessedBy, [witness.name])
    assert.equal(status.externalWitnesses[0]!.name, witness.name)
    assert.ok(status.externalWitnesses[0]!.cosignedSize! >= 1)
    const metrics = await startMetricsServer(agent, undefined, 0)
    try {
      const text = await (await fetch(`http://127.0.0.1:${metrics.port}/metrics`)).text()
      assert.match(text, /^fleet_own_checkpoint_cosigners\{kind="external"\} 1$/m)
      assert.match(
        text,
        /^fleet_external_witness_submissions_total\{witness="witness.test\/w1",outcome="cosigned"\} [1-9]/m
      )
    } finally {
      await metrics.close()
    }
  })

  it('stops counting a witness the owner removed', async () => {
    await publish({ type: 'witness.external_remove', body: { name: witness.name, reason: 'retired' } })
    await until(() => agent.membership.externalWitnesses.list().length === 0, 'the agent to drop the witness')
    assert.deepEqual(await agent.externallyWitnessedBy(), [])
    assert.deepEqual((await agentStatus(agent, deviceId)).externalWitnesses, [])
  })
})
