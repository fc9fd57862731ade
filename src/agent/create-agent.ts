/** The composition of an enrolled device's agent: its node, attestation service, own feed, and the Agent. */
import { RELAY_LIMITS, createFleetNode } from '../p2p/index.js'
import { cryptoRandom } from '../common/index.js'
import { Agent } from './agent.js'
import { AttestationService } from './attestation/index.js'
import { fleetServiceTag, type AgentComponents, type AgentInit } from './components.js'
import { deviceSigner } from './device/index.js'
import { openOwnFeed } from './feeds/index.js'
import { hubsAtStart, nodeRelay, relayGate } from './hubs/index.js'
import { Membership } from './membership/index.js'

/**
 * Assembles an enrolled device's agent from its components (the TPM, and optionally logger,
 * clock, randomness and how its own feed is served) and its init (state, enrolment, listen
 * addresses, intervals). The agent is not started: call start().
 */
export async function createAgent(components: AgentComponents, init: AgentInit): Promise<Agent> {
  let agent: Agent | undefined
  const membership = new Membership(init.enrolment, {
    p256: components.p256,
    onClone: (clone) => void agent?.recordClone(clone)
  })
  const random = components.random ?? cryptoRandom
  let attestation: AttestationService | undefined
  const hubs = await hubsAtStart(init.dir, init.enrolment.record.role, init.hubs)
  // An asker not attested within its deadline is refused its reservation then.
  const relay = relayGate(
    () => attestation,
    Math.min(RELAY_LIMITS.attestWaitMs, init.attestDeadlineMs ?? RELAY_LIMITS.attestWaitMs)
  )
  const node = await createFleetNode({
    privateKey: init.device.peerKey,
    admission: {
      allows: (peerId) =>
        (agent === undefined || !agent.isBlocked(peerId)) && (attestation?.admission.allows(peerId) ?? false)
    },
    listen: init.listen,
    networkKey: init.networkKey,
    relay: nodeRelay(hubs, relay.gate, init.relayLinkLimits),
    mdns: init.mdns ?? true,
    serviceTag: init.serviceTag ?? fleetServiceTag(init.enrolment.fleetId),
    // Discovery events come once per peer: listeners are attached before the node starts.
    start: false
  })
  const signer = deviceSigner(components.tpm, init.device)
  const feed = await openOwnFeed({
    dir: init.dir,
    tpm: components.tpm,
    signer,
    fleetId: init.enrolment.fleetId,
    feedId: init.state.deviceId,
    batchMs: init.batchMs,
    batchEntries: init.batchEntries,
    routineBatchMs: init.routineBatchMs,
    clock: components.clock,
    store: components.store,
    hasher: components.hasher
  })
  attestation = new AttestationService({
    node,
    ledger: feed.ledger,
    logger: components.logger,
    clock: components.clock,
    intervalMs: init.attestIntervalMs,
    deadlineMs: init.attestDeadlineMs,
    self: {
      tpm: components.tpm,
      state: init.state,
      enrolment: init.enrolment,
      eventLog: init.eventLog,
      random: random.bytes,
      policy: () => membership.policy
    },
    isExcluded: (deviceId) => membership.isRevoked(deviceId) || membership.isQuarantined(deviceId),
    onAttested: (peerId, signed, record) => {
      // A record not kept (a store that cannot be written) is held in memory; a failed write stops
      // the agent through its store anyway (fleet run), and the peer's next attestation sends it again.
      if (membership.addRecord(record, signed))
        void agent?.members
          .save(signed)
          .catch((err: unknown) =>
            components.logger?.warn({ peerId, err: (err as Error).message }, "a peer's member record could not be kept")
          )
      void agent?.pullFrom(peerId)
      void agent?.sites.notePeer(peerId)
    },
    onChange: init.onPeersChange
  })
  agent = new Agent({ node, attestation, feed, membership, signer, relayCounts: relay.counts, hubs }, components, init)
  return agent
}
