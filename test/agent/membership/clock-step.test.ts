import assert from 'node:assert/strict'
import { until } from '../../helpers/wait.js'
import type { Agent } from '../../../src/agent/index.js'
import { decodeEntry, parseCheckpoint } from '../../../src/ledger/index.js'
import { SimFleet, type SimDevice } from '../../../simnet/fleet.js'

const HOUR = 3_600_000

/**
 * The wall clock of a running agent steps back an hour (NTP correcting it, an operator, a resumed
 * VM). What the agent stamps follows the wall clock; what it keeps on intervals must not: kept on
 * the wall clock, the witness's "cosigned less than an interval ago" stays true for that hour, and
 * the writer's checkpoints go unwitnessed.
 */
describe('agent: a wall clock stepped back an hour does not stop cosigning (2 agents, swtpm)', function () {
  this.timeout(120_000)
  let fleet: SimFleet
  let devices: SimDevice[]
  let writer: Agent
  let witness: Agent
  const wall = { shift: 0, now: () => Date.now() + wall.shift }

  before(async () => {
    fleet = await SimFleet.create()
    devices = await fleet.addEnrolled(2)
    const options = { cosignIntervalMs: 200, syncIntervalMs: 500, batchMs: 50 }
    writer = await fleet.start(devices[0]!, options)
    witness = await fleet.start(devices[1]!, { ...options, clock: wall })
  })
  after(async () => {
    await fleet?.close()
  })

  async function sealOne(detail: string): Promise<number> {
    const id = devices[0]!.state.deviceId
    await writer.feed.ledger.append({
      type: 'alert.tamper',
      actor: { id: `agent/${id}`, role: 'agent' },
      attest: null,
      body: { subject: id, pcr: 7, detail }
    })
    await writer.feed.ledger.checkpoint()
    return writer.feed.ledger.sealedSize
  }

  /** Whether the writer's newest checkpoint is of `size` entries and carries the witness's cosignature. */
  async function cosignedAt(size: number): Promise<boolean> {
    const note = await writer.feed.ledger.latestCheckpoint()
    if (note === undefined) return false
    const held = parseCheckpoint(note)
    return held.body.size === size && held.signatures.some((line) => line.name === devices[1]!.state.deviceId)
  }

  it("the witness whose clock went back an hour cosigns the writer's next checkpoint", async () => {
    const witnessId = devices[1]!.state.deviceId
    await writer.node.dial(witness.node.getMultiaddrs()[0]!)
    await until(
      () =>
        writer.attestation.attested(witness.node.peerId.toString()) &&
        witness.attestation.attested(writer.node.peerId.toString()),
      'the two agents to attest each other',
      30_000
    )
    let size = await sealOne('before the step')
    await until(async () => await cosignedAt(size), 'the first cosignature', 30_000)

    wall.shift = -HOUR
    size = await sealOne('after the step')
    await until(async () => await cosignedAt(size), 'a cosignature of the checkpoint sealed after the step', 20_000)
    // What the witness records is stamped with its wall clock all the same, stepped back.
    const witnessedAt = Date.now()
    const seq = witness.feed.ledger.size
    await witness.feed.ledger.append({
      type: 'alert.tamper',
      actor: { id: `agent/${witnessId}`, role: 'agent' },
      attest: null,
      body: { subject: witnessId, pcr: 7, detail: 'stamped after the step' }
    })
    const stamped = decodeEntry((await witness.feed.ledger.getEntry(seq))!).entry.time
    assert.ok(Math.abs(stamped - (witnessedAt - HOUR)) < 60_000, `stamped ${stamped}, an hour before ${witnessedAt}`)
  })
})
