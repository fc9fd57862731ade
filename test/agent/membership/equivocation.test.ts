import assert from 'node:assert/strict'
import { until as waitFor } from '../../helpers/wait.js'
import { EventLog, disconnected } from '../../helpers/events.js'
import { type Agent, deviceSigner, witnessSet, type ReplicationEvent } from '../../../src/agent/index.js'
import {
  decodeEntry,
  decodeEvidence,
  evidenceId,
  parseCheckpoint,
  verifyCheckpoint,
  verifyEquivocationEvidence,
  type Entry
} from '../../../src/ledger/index.js'
import { SimFleet, type SimDevice } from '../../../simnet/fleet.js'
import { Equivocator } from '../../../simnet/hostile.js'
import { publishOwnerStatements } from '../../helpers/owner-statements.js'

const until = async (condition: () => Promise<boolean> | boolean, what: string, ms = 30_000): Promise<number> =>
  await waitFor(condition, what, ms)

/** Every entry an agent holds, its own and its replicas', decoded. */
async function held(runtime: Agent): Promise<Entry[]> {
  const out: Entry[] = []
  for (let seq = 0; seq < runtime.feed.ledger.size; seq++)
    out.push(decodeEntry((await runtime.feed.ledger.getEntry(seq))!).entry)
  for (const feed of (await runtime.replicas.feeds()).keys())
    for await (const bytes of runtime.replicas.entries(feed)) out.push(decodeEntry(bytes).entry)
  return out
}

// Each feed is cosigned by two of the other three devices: its witness set.
const OPTIONS = { cosignIntervalMs: 200, syncIntervalMs: 1_000, batchMs: 50, witnessesPerFeed: 2 }

describe('agent/witnessing and equivocation on swtpm and libp2p (4 agents)', function () {
  this.timeout(240_000)
  let fleet: SimFleet
  let devices: SimDevice[]
  let e: Agent
  let honest: Agent[]
  const equivocator = new Equivocator()
  /** What each device's replication did, by deviceId (the first agents started; a restarted one not). */
  const replication = new Map<string, EventLog<ReplicationEvent>>()

  const peerId = (runtime: Agent): string => runtime.node.peerId.toString()
  const eId = (): string => devices[0]!.state.deviceId

  before(async () => {
    fleet = await SimFleet.create()
    devices = await fleet.addEnrolled(4)
    e = await fleet.start(devices[0]!, { ...OPTIONS, ownFeedServer: equivocator.ownFeedServer })
    honest = []
    for (const device of devices.slice(1)) {
      const log = new EventLog<ReplicationEvent>()
      replication.set(device.state.deviceId, log)
      honest.push(await fleet.start(device, { ...OPTIONS, onReplication: log.record }))
    }
    const all = [e, ...honest]
    for (let i = 0; i < all.length; i++)
      for (let j = i + 1; j < all.length; j++) await all[i]!.node.dial(all[j]!.node.getMultiaddrs()[0]!)
    await until(
      () => all.every((a) => all.every((b) => a === b || a.attestation.attested(peerId(b)))),
      'a fully attested mesh'
    )
  })
  after(async () => {
    await fleet?.close()
  })

  it("the feed's witnesses cosign the checkpoints they verified; the writer and every replica keep the cosignatures", async () => {
    const from = new Map([...replication].map(([deviceId, log]) => [deviceId, log.mark]))
    await e.feed.ledger.append({
      type: 'alert.tamper',
      actor: { id: `agent/${eId()}`, role: 'agent' },
      attest: null,
      body: { subject: eId(), pcr: 7, detail: 'record-1' }
    })
    await e.feed.ledger.checkpoint()
    const size = e.feed.ledger.sealedSize
    await until(async () => {
      for (const r of honest) if (((await r.heads()).get(eId()) ?? 0) < size) return false
      return true
    }, "replication of e's feed")
    const witnesses = new Map(e.membership.list().map((m) => [m.deviceId, m.feedKey]))
    const key = e.membership.member(eId())!.feedKey
    const cosigners = (note: string | undefined): string[] =>
      note === undefined
        ? []
        : [...verifyCheckpoint(parseCheckpoint(note), { name: eId(), key }, witnesses).cosigners].sort()
    const chosen = witnessSet(
      eId(),
      devices.map((d) => d.state.deviceId),
      2
    ).sort()
    assert.equal(chosen.length, 2)
    assert.ok(!chosen.includes(eId()))
    // The writer's own stored checkpoint collects the cosignature of each device of the witness set.
    await until(
      async () => cosigners(await e.feed.ledger.latestCheckpoint()).length === 2,
      'two cosignatures at the writer'
    )
    assert.deepEqual(cosigners(await e.feed.ledger.latestCheckpoint()), chosen)
    // Each replica ends up with them too, and the third device (not a witness of this feed) never
    // cosigns: once it held the feed, it looked at it for witnessing and decided so.
    for (const r of honest)
      await until(
        async () => cosigners((await r.replicas.source(eId()).sealed())?.note).length === 2,
        'two cosignatures at a replica'
      )
    const third = devices
      .slice(1)
      .map((d) => d.state.deviceId)
      .find((d) => !chosen.includes(d))!
    const decided = (event: ReplicationEvent): boolean => event.type === 'cosign-decided' && event.feed === eId()
    const thirds = replication.get(third)!
    const [decision] = await thirds.next(decided, "the third's witnessing of e's feed", { from: from.get(third) })
    assert.deepEqual(decision, { type: 'cosign-decided', feed: eId(), cosigned: false })
    assert.deepEqual(cosigners(await e.feed.ledger.latestCheckpoint()), chosen)
    for (const r of honest) assert.deepEqual(cosigners((await r.replicas.source(eId()).sealed())?.note), chosen)
    // Witnessing settles: no agent keeps a cosignature due, also for feeds it stopped witnessing
    // when it learnt of more members (its witness sets changed).
    await until(() => [e, ...honest].every((a) => a.cosignsDue === 0), 'no cosignature due anywhere', 15_000)
  })

  it('a device that re-signs its feed under epoch 2 is quarantined as an equivocator by every agent, with an alert whose evidence verifies offline', async () => {
    const [a, b, c] = honest as [Agent, Agent, Agent]
    // Only b is shown the other history, signed as if it were a new epoch of the feed.
    await equivocator.equivocate(e, deviceSigner(devices[0]!.tpm, devices[0]!.unlocked), [peerId(b)], { epoch: 2 })
    await until(() => honest.every((r) => r.membership.isQuarantined(eId())), 'quarantine at every honest agent')
    const hungUp = async (r: Agent): Promise<void> => {
      await disconnected(r.node, e.node.peerId, 'every honest agent hung up on the equivocator')
    }
    await Promise.all(honest.map(hungUp))
    const key = a.membership.member(eId())!.feedKey
    for (const r of honest) {
      await until(
        async () => (await held(r)).some((entry) => entry.type === 'alert.equivocation'),
        'the alert at every agent'
      )
      for (const alert of (await held(r)).filter((entry) => entry.type === 'alert.equivocation')) {
        assert.equal(alert.body.feed, eId())
        assert.equal(
          verifyEquivocationEvidence(decodeEvidence(alert.body.evidence as Uint8Array), key).epoch,
          alert.body.epoch
        )
      }
      const status = r.attestation.list().find((p) => p.peerId === peerId(e))
      assert.equal(status?.trusted, false)
    }
    // The equivocator is refused when it comes back: kept out at the gate, or hung up on after its verdict.
    await e.node.dial(a.node.getMultiaddrs()[0]!).catch(() => undefined)
    await disconnected(e.node, a.node.peerId, 'a to refuse the equivocator')
    assert.equal(a.attestation.attested(peerId(e)), false)
    // The honest agents keep replicating among themselves.
    await a.feed.ledger.append({
      type: 'alert.tamper',
      actor: { id: `agent/${a.feed.ledger.feedId}`, role: 'agent' },
      attest: null,
      body: { subject: a.feed.ledger.feedId, pcr: 7, detail: 'record-2' }
    })
    await a.feed.ledger.checkpoint()
    const aFeed = devices[1]!.state.deviceId
    await until(
      async () =>
        ((await b.heads()).get(aFeed) ?? 0) >= a.feed.ledger.sealedSize &&
        ((await c.heads()).get(aFeed) ?? 0) >= a.feed.ledger.sealedSize,
      'replication among the honest'
    )
  })

  it('the quarantine survives a restart, and an owner statement clears it', async () => {
    // b restarts: the quarantine is read back (its evidence re-verified).
    await honest[1]!.stop()
    honest[1] = await fleet.start(devices[2]!, OPTIONS)
    assert.equal(honest[1].membership.isQuarantined(eId()), true)
    for (const r of honest.slice(0, 1).concat(honest.slice(2))) await r.node.dial(honest[1].node.getMultiaddrs()[0]!)
    await until(() => honest[0]!.attestation.attested(peerId(honest[1]!)), 'b back in the fleet')
    // The owner clears each piece of evidence the agents reported (by its id) and hands the statements to one agent.
    const reported = new Set<string>()
    for (const r of honest)
      for (const alert of (await held(r)).filter((entry) => entry.type === 'alert.equivocation'))
        reported.add(Buffer.from(evidenceId(decodeEvidence(alert.body.evidence as Uint8Array))).toString('hex'))
    assert.ok(reported.size >= 1)
    await publishOwnerStatements(
      fleet,
      [...reported].map((id) => ({
        type: 'device.clear_quarantine',
        body: { deviceId: eId(), evidence: new Uint8Array(Buffer.from(id, 'hex')), reason: 'investigated' }
      })),
      [honest[0]!]
    )
    await until(() => honest.every((r) => !r.membership.isQuarantined(eId())), 'the release at every agent')
    // The device may connect and attest again.
    await honest[0]!.node.dial(e.node.getMultiaddrs()[0]!)
    await until(() => honest[0]!.attestation.attested(peerId(e)), 'the released device attested')
  })

  it('a cleared quarantine does not make the device immune: a new fork quarantines it again', async () => {
    const [a, , c] = honest as [Agent, Agent, Agent]
    await c.node.dial(e.node.getMultiaddrs()[0]!)
    await until(
      () => c.attestation.attested(peerId(e)) && a.attestation.attested(peerId(e)),
      'the released device attested by a and c'
    )
    // This time a is shown the other history, in the feed's own epoch.
    await equivocator.equivocate(e, deviceSigner(devices[0]!.tpm, devices[0]!.unlocked), [peerId(a)])
    await until(() => honest.every((r) => r.membership.isQuarantined(eId())), 'quarantine again at every honest agent')
    const hungUp = async (r: Agent): Promise<void> => {
      await disconnected(r.node, e.node.peerId, 'every honest agent hung up on the equivocator again')
    }
    await Promise.all(honest.map(hungUp))
  })
})
